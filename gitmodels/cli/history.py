"""`gitmodels log / diff / show / get`: the model registry read from git history."""

from __future__ import annotations

import click

from gitmodels import history
from gitmodels.storage.hashing import prefixed
from gitmodels.cli.common import (emit_json, human_bytes, json_option, open_repo, progress_option, remote_option, table)

MAX_METRIC_COLUMNS = 6


def _num(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_num(v) for v in value)
    return str(value)


def _signed(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:+.6g}"
    return f"{value:+d}"


def _signed_bytes(n: int | None) -> str:
    if not n:
        return "±0 B" if n == 0 else ""
    return ("+" if n > 0 else "-") + human_bytes(abs(n))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command()
@click.argument("path", type=click.Path())
@click.option("-n", "--limit", type=int, metavar="N", help="Show at most N versions.")
@click.option("--rev", metavar="REV", help="Start from this revision instead of HEAD.")
@json_option
def log(path, limit, rev, as_json):
    """Every version of a model through git history, newest first, with its metrics.

    Follows the model across renames of its pointer and through merges.

    \b
    Examples:
      gitmodels log models/churn
      gitmodels log models/churn -n 5 --json
      gitmodels log models/churn --rev release
    """
    path, rev = history.parse_spec(path, rev)
    with open_repo() as repo:
        versions = history.log(repo, path, limit=limit, rev=rev)
        shallow = repo.git.is_shallow()
    if as_json:
        emit_json({"path": path, "rev": rev or "HEAD", "versions": [v.to_json() for v in versions]})
        return
    if not versions:
        click.echo(f"{path}: no versions in the history of {rev or 'HEAD'}")
        return
    metric_names: list[str] = []
    for v in versions:
        for name in v.metrics:
            if name not in metric_names:
                metric_names.append(name)
    shown = metric_names[:MAX_METRIC_COLUMNS]
    show_path = len({v.path for v in versions}) > 1
    rows = []
    for v in versions:
        change = v.change if not v.renamed_from else f"{v.change} (from {v.renamed_from})"
        row = [v.commit[:8], v.date[:16].replace("T", " "), _short(v.author, 16)]
        if show_path:
            row.append(v.path)
        row += [change, human_bytes(v.size) if v.size is not None else "?", (v.oid or "unreadable")[:12]]
        row += [_num(v.metrics.get(m)) if m in v.metrics else "" for m in shown]
        row.append(_short(v.summary, 50))
        rows.append(row)
    headers = ["commit", "date", "author"] + (["path"] if show_path else []) + ["change", "size", "oid"] + shown \
        + ["summary"]
    click.echo(table(rows, headers))
    for v in versions:
        if v.error:
            click.echo(f"warning: {v.commit[:8]}: {v.error}", err=True)
    if len(metric_names) > len(shown):
        click.echo(f"({len(metric_names) - len(shown)} more metric(s): see --json)")
    if shallow and versions[-1].change == "shallow":
        click.echo("history ends here: this is a shallow clone (`git fetch --unshallow` shows the rest)")


@click.command()
@click.argument("revs", nargs=-1, metavar="[REV [REV]]")
@click.option("-p", "--path", "paths", multiple=True, metavar="PATH", help="Only these models (repeatable).")
@json_option
def diff(revs, paths, as_json):
    """Models added, removed and changed between two revisions.

    With no REV: HEAD against the workspace pointers. With one: REV against
    the workspace. With two: the first against the second.

    \b
    Examples:
      gitmodels diff
      gitmodels diff v1.0 main
      gitmodels diff HEAD~3 --json
    """
    if len(revs) > 2:
        raise click.UsageError("diff takes at most two revisions")
    with open_repo() as repo:
        result = history.diff(repo, revs[0] if revs else None, revs[1] if len(revs) > 1 else None,
                              paths=paths or None)
    if as_json:
        emit_json(result.to_json())
        return
    old = f"{result.old} ({result.old_commit[:8]})"
    new = result.new if result.new_commit is None else f"{result.new} ({result.new_commit[:8]})"
    for err in result.errors:
        click.echo(f"warning: {err['path']} at {err['side']}: {err['error']}", err=True)
    if not result.changes:
        click.echo(f"no model changes between {old} and {new}")
        return
    click.echo(f"models: {old} -> {new}")
    letters = {"added": "A", "removed": "D", "modified": "M", "renamed": "R", "metadata": "m"}
    for ch in result.changes:
        if ch.change == "added":
            detail = f"{ch.kind}, {human_bytes(ch.new_size)}, {ch.new_oid[:12]}"
        elif ch.change == "removed":
            detail = f"{ch.kind}, {human_bytes(ch.old_size)}, {ch.old_oid[:12]}"
        else:
            detail = f"{ch.old_oid[:12]} -> {ch.new_oid[:12]}" if ch.old_oid != ch.new_oid else f"{ch.new_oid[:12]}"
            if ch.old_size != ch.new_size:
                detail += f", {human_bytes(ch.old_size)} -> {human_bytes(ch.new_size)} ({_signed_bytes(ch.size_delta)})"
            else:
                detail += f", {human_bytes(ch.new_size)}"
        name = f"{ch.old_path} -> {ch.path}" if ch.old_path else ch.path
        click.echo(f"{letters[ch.change]} {name}  [{ch.change}] {detail}")
        for m in ch.metrics:
            if ch.change == "added":
                click.echo(f"    metrics.{m['name']}  {_num(m['new'])}")
            else:
                d = _signed(m["delta"])
                click.echo(f"    metrics.{m['name']}  {_num(m['old'])} -> {_num(m['new'])}" + (f"  ({d})" if d else ""))
        for p in ch.params:
            click.echo(f"    params.{p['name']}  {_num(p['old'])} -> {_num(p['new'])}")
        if ch.meta:
            click.echo(f"    also changed: {', '.join('[' + t + ']' for t in ch.meta)}")
    counts = {k: v for k, v in result.counts().items() if v}
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))


def _render_table(name: str, value: dict, lines: list[str]) -> None:
    scalars = [(k, v) for k, v in value.items() if not isinstance(v, dict)]
    if scalars:
        lines.append(f"[{name}]")
        width = max(len(str(k)) for k, _ in scalars)
        for k, v in scalars:
            lines.append(f"  {str(k).ljust(width)}  {_num(v)}")
    for k, v in value.items():
        if isinstance(v, dict):
            _render_table(f"{name}.{k}", v, lines)


@click.command()
@click.argument("spec", metavar="PATH[@REV]", type=click.Path())
@click.option("--rev", metavar="REV", help="The revision (same as PATH@REV; PATH is then taken whole, '@' and all).")
@json_option
def show(spec, rev, as_json):
    """A model's metadata at a revision, read from git (without @REV: the workspace pointer).

    \b
    Examples:
      gitmodels show models/churn
      gitmodels show models/churn@v1.0 --json
      gitmodels show models/churn@HEAD~2
    """
    path, rev = history.parse_spec(spec, rev)
    with open_repo() as repo:
        info = history.show(repo, path, rev)
    if as_json:
        emit_json({**info, "oid": prefixed(info["oid"])})
        return
    where = f"{rev} ({info['commit'][:8]})" if rev else "workspace"
    kind = info["kind"] + (f", {info['files']} files" if info.get("files") is not None else "")
    lines = [f"{info['path']} @ {where}",
             f"  oid       sha256:{info['oid']}",
             f"  size      {human_bytes(info['size'])} ({info['size']} bytes)",
             f"  kind      {kind}",
             f"  in cache  {'yes' if info['in_cache'] else 'no (gitmodels fetch, or get)'}"]
    core = {"path", "pointer_path", "rev", "commit", "in_cache", "version", "oid", "size", "kind", "files"}
    for name, value in info.items():
        if name in core:
            continue
        if isinstance(value, dict):
            _render_table(name, value, lines)
        else:
            lines.append(f"{name} = {_num(value)}")
    click.echo("\n".join(lines))


@click.command()
@click.argument("args", metavar="[GIT_URL] PATH[@REV]", nargs=-1, required=True)
@click.option("-o", "--out", "out", metavar="OUT", required=True, type=click.Path(),
              help="Where to write the model: OUT itself, or OUT/<name> when OUT is an existing directory "
                   "(or ends with '/'), as cp -r does.")
@click.option("--rev", metavar="REV",
              help="The revision (same as PATH@REV, default HEAD; PATH is then taken whole, '@' and all).")
@click.option("-f", "--force", is_flag=True, help="Replace the destination if it exists.")
@remote_option
@progress_option
@json_option
def get(args, out, rev, force, remote, progress, as_json):
    """Write a model as it was at a revision, without checking that revision out.

    The bytes come from the cache, or from the remote into the cache; each
    file is verified against the hash in the committed pointer. With a
    GIT_URL first, the model of that other repository (docs/registry.md).

    \b
    Examples:
      gitmodels get models/churn.joblib@v1.0 -o /tmp/churn-v1.joblib
      gitmodels get weights.safetensors@HEAD~3 -o build/     # build/weights.safetensors
      gitmodels get git@github.com:acme/training.git models/churn@prod -o /srv/churn
    """
    if len(args) > 2:
        raise click.UsageError("get takes PATH[@REV], or GIT_URL PATH[@REV]")
    path, rev = history.parse_spec(args[-1], rev)
    if len(args) == 2:
        result = _get_from_source(args[0], path, rev, out, force)
    else:
        with open_repo() as repo:
            result = history.get(repo, path, rev, out, force=force, remote=remote, progress=progress)
    if as_json:
        emit_json(result.to_json())
        return
    files = f", {result.files} files" if result.files is not None else ""
    fetched = f"; fetched {result.fetched} object(s)" if result.fetched else ""
    click.echo(f"wrote {result.dest} ({result.kind}{files}, {human_bytes(result.size)}) "
               f"from {rev or 'HEAD'} ({result.commit[:8]}){fetched}")


def _get_from_source(url: str, path: str, rev: str | None, out: str, force: bool):
    """The other repository's model, through this repository's cache (or the user cache outside a repository)."""
    from gitmodels.errors import NotARepository
    from gitmodels.registry import imports

    try:
        repo = open_repo()
    except NotARepository:
        return imports.get(url, path, rev, out, force=force)
    with repo:
        return imports.get(url, path, rev, out, force=force, consumer=repo)


__all__ = ["log", "diff", "show", "get", "table"]
