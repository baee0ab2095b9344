"""results.json and results.md."""

from __future__ import annotations

import json
import os

from .data import GiB, MiB
from .results import Results

DESCRIPTIONS = {
    "startup": "Start-up: `--version`, and `status` in a repo with one small tracked model.",
    "hooks": "Hook overhead: `git checkout` between branches of a repo with 100 tracked models that change "
             "no model, and that change one 10 MiB model (the workspace model is verified after every switch); "
             "`git push` of a code-only commit. Each tool's repo is timed with its hooks (Git LFS: hooks and "
             "filters, as `git lfs install` sets them) and with `core.hooksPath=/dev/null`; with a model change "
             "and hooks off, gitmodels and DVC run their own `checkout` after `git checkout`. The hook overhead "
             "row is the difference of the two medians.",
    "add": "Add / track one large model (from a fresh repo each run), against the limits "
           "`hashlib.sha256`, `sha256sum` and `cp` over the same file.",
    "status": "`status` with 1000 tracked models, nothing changed, after one warm-up run. "
              "`read MiB` is the bytes the process read (rchar, page-cache hits included): "
              "about the size of all models means it re-hashed them.",
    "transfer": "Push one large model to an empty remote, then pull it into a fresh clone (empty cache). "
                "Directory remote, moto S3, Azurite (Azure Blob) and an OpenSSH sshd on loopback "
                "(--remotes); Git LFS and git-annex only against the directory remote. Git LFS pushes to a "
                "bare repo over file:// (its standalone transfer agent) and has no S3 backend.",
    "switch": "Switch the workspace between two cached versions of a large model: "
              "`git checkout REV && <tool> checkout` (Git LFS: `git checkout`, smudge filter), vs `cp`.",
    "small": "Push and pull of many small models (500 of 100 KB; 100 in --quick), each tracked separately, "
             "to an empty remote and into a fresh clone.",
    "dedup": "Bytes the remote holds after pushing two versions of a large model (one region rewritten; "
             "a region inserted), bytes the second push sent and a pull of v2 with v1 cached received "
             "(S3 only: counted by a TCP proxy in front of moto), and a PyTorch state_dict whose last layer "
             "was retrained.",
    "rss": "Peak resident set size (wait4 ru_maxrss of the command and every process it waited for) of "
           "the largest operations: S3 push/pull of the biggest model, and a summary of the add, "
           "transfer and switch rows.",
    "logdiff": "`gitmodels log` of one model through 1000 commits and `gitmodels diff` of two revisions "
               "with 1000 models (history written with git fast-import), with `git log` and `dvc diff` beside.",
    "torchsave": "`gitmodels.save` of a PyTorch model vs `torch.save` of its state_dict alone, "
                 "in one process, alternating.",
}


def fmt_value(v, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if abs(v) < 1 else f"{v:.2f} s"
    if unit == "bytes":
        return f"{v / GiB:.3f} GiB" if v >= GiB else f"{v / MiB:.2f} MiB"
    if unit == "MB":
        return f"{v:.0f} MB"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "MiB" or unit.startswith("MiB"):
        return f"{v:.1f} {unit}"
    return f"{v:.3g} {unit}"


def _ref(res: Results, row: dict) -> dict | None:
    same = [r for r in res.rows if (r["workload"], r["case"], r["variant"]) ==
            (row["workload"], row["case"], row["variant"]) and r["status"] == "ok"
            and r.get("median") is not None]
    for r in same:
        if r["tool"] in ("gitmodels", "gitmodels.save"):
            return r
    for r in same:
        if r["tool"].startswith("gitmodels"):
            return r
    return None


def write(res: Results, meta: dict, out: str) -> tuple[str, str]:
    os.makedirs(out, exist_ok=True)
    jpath = os.path.join(out, "results.json")
    with open(jpath, "w") as f:
        json.dump({"meta": meta, "targets": res.targets, "rows": res.rows, "notes": res.notes}, f, indent=1)
    mpath = os.path.join(out, "results.md")
    with open(mpath, "w") as f:
        f.write(markdown(res, meta))
    return jpath, mpath


def markdown(res: Results, meta: dict) -> str:
    m = meta["machine"]
    v = m["versions"]
    L = [f"# gitmodels benchmark results ({'quick' if meta['quick'] else 'full'} run)", ""]
    L.append(f"- date: {m['date']}; wall time of the run: {meta.get('elapsed_s', 0):.0f} s")
    L.append(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, {m['filesystem']} "
             f"filesystem, {m['os']}, Python {m['python']}")
    L.append(f"- versions: {v['gitmodels']}; DVC {v['dvc']}; {v['git']}; {v['git-lfs']}; "
             f"moto {v['moto']}" + "".join(f"; {k} {v[k]}" for k in ("dvc plugins", "azurite", "OpenSSH")
                                           if k in v))
    L.append(f"- cold-cache runs: {meta['drop_caches']}")
    L.append(f"- workloads: {', '.join(meta['workloads'])}; tools: {', '.join(meta['tools'])}"
             + (f"; remotes: {', '.join(meta['remotes'])}" if meta.get("remotes") else ""))
    L.append("- times are medians of the runs shown; ratios are from this one run. "
             "`gitmodels ÷ tool` < 1 means gitmodels is faster / smaller.")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | issue | measured | limit | result | detail |")
    L.append("|---|---|---|---|---|---|")
    for t in res.targets:
        meas = fmt_value(t["value"], t["unit"]) if t["value"] is not None else "n/a"
        lim = ("≥ " if t["higher_is_better"] else "≤ ") + fmt_value(t["limit"], t["unit"])
        detail = t["detail"] or t["reason"]
        L.append(f"| {t['target']} | #{t['issue']} | {meas} | {lim} | **{t['result']}** | {_esc(detail)} |")
    L.append("")
    L.append("## Summary (medians; details per workload below)")
    L.append("")
    L.extend(summary(res, meta["workloads"]))
    L.append("")
    for w in meta["workloads"]:
        rows = [r for r in res.rows if r["workload"] == w]
        L.append(f"## {w}")
        L.append("")
        L.append(DESCRIPTIONS.get(w, ""))
        L.append("")
        if not rows:
            L.append("(nothing measured)")
            L.append("")
            continue
        has_read = any("read_mib" in r for r in rows)
        head = "| case | cache | tool | median | min – max | runs | peak RSS | gitmodels ÷ tool |"
        sep = "|---|---|---|---|---|---|---|---|"
        if has_read:
            head += " read MiB |"
            sep += "---|"
        L.append(head + " note |")
        L.append(sep + "---|")
        for r in rows:
            if r["status"] != "ok":
                med = f"{r['status']}"
                L.append(f"| {_esc(r['case'])} | {r['variant']} | {r['tool']} | {med} | | | | |"
                         + (" |" if has_read else "") + f" {_esc(r['note'])} |")
                continue
            med = fmt_value(r.get("median"), r["unit"])
            rng = (f"{fmt_value(r['min'], r['unit'])} – {fmt_value(r['max'], r['unit'])}"
                   if "min" in r else "")
            rss = f"{r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") is not None else ""
            ref = _ref(res, r)
            ratio = ""
            if ref is not None and r.get("median") and ref is not r and r["median"] > 0:
                ratio = f"{ref['median'] / r['median']:.2f}"
            elif ref is r:
                ratio = "1.00"
            line = f"| {_esc(r['case'])} | {r['variant']} | {r['tool']} | {med} | {rng} | {r.get('n', '')} | {rss} | {ratio} |"
            if has_read:
                line += f" {r.get('read_mib', '')} |"
            L.append(line + f" {_esc(r['note'])} |")
        for n in res.notes.get(w, []):
            L.append("")
            L.append(f"- {n}")
        L.append("")
    return "\n".join(L) + "\n"


def _esc(text: str) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def summary(res: Results, workloads: list[str]) -> list[str]:
    """One pivot table per workload: a line per case and cache state, a column per tool."""
    L: list[str] = []
    for w in workloads:
        rows = [r for r in res.rows if r["workload"] == w]
        if not rows:
            continue
        tools: list[str] = []
        for r in rows:
            if r["tool"] not in tools:
                tools.append(r["tool"])
        cases: list[tuple[str, str]] = []
        for r in rows:
            if (r["case"], r["variant"]) not in cases:
                cases.append((r["case"], r["variant"]))
        L.append(f"**{w}**")
        L.append("")
        L.append("| case | " + " | ".join(tools) + " |")
        L.append("|---|" + "---|" * len(tools))
        for case, var in cases:
            cells = []
            for t in tools:
                r = res.get(w, case, t, var)
                if r is None:
                    cells.append("")
                elif r["status"] != "ok":
                    cells.append(r["status"])
                else:
                    cells.append(fmt_value(r.get("median"), r["unit"]))
            label = case + (" (cold)" if var == "cold" else "")
            L.append(f"| {_esc(label)} | " + " | ".join(cells) + " |")
        L.append("")
    return L


def docs_section(data: dict) -> str:
    """The 'Latest results' section of docs/benchmarks.md, from a results.json."""
    res = Results()
    res.rows, res.targets, res.notes = data["rows"], data["targets"], data.get("notes", {})
    md = markdown(res, data["meta"])
    head, _, rest = md.partition("\n## Targets\n")
    targets, _, rest = rest.partition("\n## Summary")
    summ = rest.split("\n## ", 1)[0]
    header_lines = [ln for ln in head.splitlines()[1:] if ln.strip()]
    return ("\n".join(header_lines) + "\n\n### Targets\n" + targets.rstrip() +
            "\n\n### Medians" + summ.split("\n", 1)[1].rstrip() + "\n")


if __name__ == "__main__":
    import sys
    with open(sys.argv[1]) as f:
        print(docs_section(json.load(f)))
