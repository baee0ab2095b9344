"""Result rows, targets, and the alternating runner that fills them."""

from __future__ import annotations

import os
import statistics
import traceback
from dataclasses import dataclass
from typing import Callable

from . import env as benv
from .proc import CommandFailed, Result
from .tools import Ctx, NotAvailable


class Results:
    def __init__(self):
        self.rows: list[dict] = []
        self.targets: list[dict] = []
        self.notes: dict[str, list[str]] = {}

    # rows ---------------------------------------------------------------------------
    def add(self, workload: str, case: str, tool: str, variant: str = "warm", *,
            samples: list[Result] | None = None, value: float | None = None, unit: str = "s",
            status: str = "ok", note: str = "", extra: dict | None = None) -> dict:
        row = {"workload": workload, "case": case, "tool": tool, "variant": variant,
               "unit": unit, "status": status, "note": note}
        if samples:
            walls = [r.wall for r in samples]
            row.update({
                "median": statistics.median(walls), "min": min(walls), "max": max(walls),
                "n": len(walls), "samples": [round(w, 4) for w in walls],
                "peak_rss_mb": round(max(r.rss_mb for r in samples), 1),
                "rchar_median": (statistics.median([r.rchar for r in samples if r.rchar is not None])
                                 if any(r.rchar is not None for r in samples) else None),
            })
        elif value is not None:
            row.update({"median": value, "n": 1})
        if extra:
            row.update(extra)
        self.rows.append(row)
        return row

    def na(self, workload, case, tool, reason, variant="warm"):
        return self.add(workload, case, tool, variant, status="n/a", note=reason)

    def error(self, workload, case, tool, reason, variant="warm"):
        return self.add(workload, case, tool, variant, status="error", note=reason)

    def get(self, workload: str, case: str, tool: str, variant: str = "warm") -> dict | None:
        for row in self.rows:
            if (row["workload"], row["case"], row["tool"], row["variant"]) == (workload, case, tool, variant):
                return row
        return None

    def med(self, workload, case, tool, variant="warm") -> float | None:
        row = self.get(workload, case, tool, variant)
        if row and row["status"] == "ok" and row.get("median") is not None:
            return row["median"]
        return None

    def why(self, workload, case, tool, variant="warm") -> str:
        row = self.get(workload, case, tool, variant)
        if row is None:
            return f"{tool} {case}: not measured"
        return f"{tool} {case}: {row['status']}: {row['note']}" if row["status"] != "ok" else ""

    def note(self, workload: str, text: str) -> None:
        self.notes.setdefault(workload, []).append(text)

    # targets --------------------------------------------------------------------------
    def target(self, tid: str, issue: int, desc: str, value: float | None, limit: float,
               unit: str, *, reason: str = "", detail: str = "", higher_is_better: bool = False) -> None:
        if value is None:
            verdict = "n/a"
        elif higher_is_better:
            verdict = "PASS" if value >= limit else "FAIL"
        else:
            verdict = "PASS" if value <= limit else "FAIL"
        self.targets.append({"id": tid, "issue": issue, "target": desc, "value": value,
                             "limit": limit, "unit": unit, "result": verdict,
                             "reason": reason if value is None else "", "detail": detail,
                             "higher_is_better": higher_is_better})

    def ratio_target(self, tid, issue, desc, num: tuple, den: tuple | list, limit: float, *,
                     detail: str = "") -> None:
        """Target on median(num) / sum(median(d) for d in den)."""
        dens = den if isinstance(den, list) else [den]
        a = self.med(*num)
        bs = [self.med(*d) for d in dens]
        if a is None or any(b is None for b in bs):
            missing = [self.why(*x) for x in [num, *dens] if self.med(*x) is None]
            self.target(tid, issue, desc, None, limit, "x", reason="; ".join(m for m in missing if m))
            return
        self.target(tid, issue, desc, a / sum(bs), limit, "x", detail=detail or
                    f"{a:.3f} s vs {sum(bs):.3f} s")


@dataclass
class Contender:
    tool: str
    step: Callable  # (i, Meter) -> Result | dict[str, Result]
    prepare: Callable | None = None
    cleanup: Callable | None = None
    verify: Callable | None = None  # () -> str note ("" when fine)
    subs: tuple = ()                 # sub-case names the step returns, to name rows of a failure


class Meter:
    """Runs the timed command: page cache dropped first for cold runs, dirty pages flushed
    for warm ones so the writeback of untimed setup does not land in the timing."""

    def __init__(self, ctx: Ctx, cold: bool = False):
        self.ctx = ctx
        self.cold = cold

    def run(self, cmd, cwd=None, remote=None, **kw) -> Result:
        if self.cold:
            benv.drop_caches()
        else:
            os.sync()
        return self.ctx.run(cmd, cwd=cwd, remote=remote, **kw)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (NotAvailable, CommandFailed)):
        return str(exc)
    return f"{type(exc).__name__}: {exc} ({traceback.extract_tb(exc.__traceback__)[-1].lineno})"


def alternate(res: Results, ctx: Ctx, workload: str, case: str, contenders: list[Contender],
              n: int, *, cold: bool = False, variant: str | None = None) -> None:
    """Prepare every contender, then run them round-robin n times (rotating who goes first),
    and add one row per contender (per sub-case when a step returns a dict)."""
    variant = variant or ("cold" if cold else "warm")
    meter = Meter(ctx, cold=cold)
    live: list[Contender] = []
    failed: dict[str, tuple[str, str]] = {}
    samples: dict[str, dict[str, list[Result]]] = {}
    try:
        for c in contenders:
            try:
                if c.prepare:
                    c.prepare()
                live.append(c)
                samples[c.tool] = {}
            except NotAvailable as exc:
                failed[c.tool] = ("n/a", str(exc))
            except Exception as exc:  # noqa: BLE001 - one tool's failure is a row, not a crash
                failed[c.tool] = ("error", "setup: " + _describe(exc))
        for i in range(n):
            k = i % len(live) if live else 0
            for c in live[k:] + live[:k]:
                if c.tool in failed:
                    continue
                try:
                    out = c.step(i, meter)
                except NotAvailable as exc:
                    failed[c.tool] = ("n/a", str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001
                    failed[c.tool] = ("error", _describe(exc))
                    continue
                if isinstance(out, Result):
                    out = {"": out}
                for sub, r in out.items():
                    samples[c.tool].setdefault(sub, []).append(r)
        for c in live:
            if c.verify and c.tool not in failed:
                try:
                    msg = c.verify()
                except Exception as exc:  # noqa: BLE001
                    msg = "verification failed: " + _describe(exc)
                if msg:
                    failed[c.tool] = ("error", msg)
    finally:
        for c in live:
            if c.cleanup:
                try:
                    c.cleanup()
                except Exception:  # noqa: BLE001
                    pass
    for c in contenders:
        subs = samples.get(c.tool) or {}
        status, note = failed.get(c.tool, ("ok", ""))
        if not subs:
            for sub in c.subs or ("",):
                sub, _, var = sub.partition("@")
                res.add(workload, f"{case} {sub}".strip(), c.tool, var or variant,
                        status=status if status != "ok" else "error", note=note or "no sample")
            continue
        for sub, rs in subs.items():
            sub, _, var = sub.partition("@")  # "pull@cold": a sub-case measured with another cache state
            res.add(workload, f"{case} {sub}".strip(), c.tool, var or variant, samples=rs,
                    status=status, note=note)
