"""`gitmodels import / update / alias / registry`: models across repositories and their named versions."""

from __future__ import annotations

import click

from gitmodels import history
from gitmodels.storage.hashing import prefixed
from gitmodels.cli.common import emit_json, human_bytes, json_option, open_repo, table


def _change_lines(ch) -> list[str]:
    from gitmodels.cli.history import _num, _signed

    lines = []
    if ch is None:
        return lines
    if ch.old_oid != ch.new_oid:
        lines.append(f"    oid  {ch.old_oid[:12]} -> {ch.new_oid[:12]}")
    for m in ch.metrics:
        d = _signed(m["delta"])
        lines.append(f"    metrics.{m['name']}  {_num(m['old'])} -> {_num(m['new'])}" + (f"  ({d})" if d else ""))
    for p in ch.params:
        lines.append(f"    params.{p['name']}  {_num(p['old'])} -> {_num(p['new'])}")
    return lines


@click.command("import")
@click.argument("url", metavar="GIT_URL")
@click.argument("spec", metavar="PATH[@REV]")
@click.option("-o", "--out", metavar="DEST", type=click.Path(),
              help="Where the model goes in this repository: DEST itself, or DEST/<name> when DEST is an existing "
                   "directory (default: ./<name>).")
@click.option("--rev", metavar="REV", help="The revision to follow (same as PATH@REV): a branch, tag, alias or commit.")
@click.option("-f", "--force", is_flag=True, help="Replace a model already at DEST.")
@json_option
def import_(url, spec, out, rev, force, as_json):
    """Bring a model from another git repository into this one, remembering where it came from.

    The pointer records the source URL, path, the revision followed and the
    commit; the bytes come from the source's model remote into this cache,
    verified. Commit the pointer; `git push` copies the bytes to this
    repository's model remote (docs/registry.md).

    \b
    Examples:
      gitmodels import git@github.com:acme/training.git models/churn@prod
      gitmodels import ../training models/churn@v1.0 -o models/
    """
    from gitmodels.registry import imports

    path, rev = history.parse_spec(spec, rev)
    with open_repo() as repo:
        result = imports.import_model(repo, url, path, rev, out, force=force)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(f"imported {result.url}#{result.source_path}@{result.rev} ({result.commit[:8]}) as {result.path} "
               f"({result.kind}, {human_bytes(result.size)}, {result.oid[:12]})")
    click.echo(f"  commit the pointer: git commit -m 'import {result.source_path}' "
               f"{result.path}.gitmodel")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--frozen", is_flag=True,
              help="Stay at the recorded commits; only bring missing bytes from the sources.")
@click.option("-f", "--force", is_flag=True, help="Overwrite workspace copies modified since the import.")
@json_option
def update(paths, frozen, force, as_json):
    """Move imported models to the newest commit of the revision they follow (branch, tag or alias).

    \b
    Examples:
      gitmodels update
      gitmodels update models/churn --json
    """
    from gitmodels.registry import imports

    with open_repo() as repo:
        results = imports.update(repo, list(paths) or None, frozen=frozen, force=force)
    if as_json:
        emit_json({"models": [r.to_json() for r in results]})
        return
    if not results:
        click.echo("no imported models")
        return
    for r in results:
        if not r.updated:
            click.echo(f"{r.path}: up to date with {r.source_path}@{r.rev} ({r.commit[:8]})")
            continue
        click.echo(f"{r.path}: {r.source_path}@{r.rev} {(r.old_commit or '')[:8]} -> {r.commit[:8]}")
        for line in _change_lines(r.change):
            click.echo(line)
    if any(r.updated for r in results):
        click.echo("commit the updated pointer(s) with git commit")


@click.group()
def alias():
    """Named versions of a model (prod, staging), kept as annotated git tags.

    \b
    Examples:
      gitmodels alias set models/churn prod v1.2 -m "approved by risk"
      gitmodels alias list
      gitmodels alias log models/churn
      git push --follow-tags      # aliases travel as tags
    """


@alias.command("set")
@click.argument("path", type=click.Path())
@click.argument("name")
@click.argument("rev", required=False)
@click.option("-m", "--message", metavar="MSG", help="Why (kept in the tag).")
@json_option
def alias_set(path, name, rev, message, as_json):
    """Point alias NAME of the model at PATH at its version in REV (default HEAD)."""
    from gitmodels.registry import aliases

    with open_repo() as repo:
        change = aliases.set_alias(repo, path, name, rev, message)
    if as_json:
        emit_json(change.to_json())
        return
    if change.event is None:
        click.echo(f"{change.path}: {name} already points at {change.commit[:8]}")
        return
    was = f" (was {change.previous[:8]})" if change.previous else ""
    click.echo(f"{change.path}: {name} -> {change.commit[:8]}{was}; tag {change.event.tag}")
    click.echo("  share it: git push --follow-tags (or git push origin 'refs/tags/alias/*')")


@alias.command("remove")
@click.argument("path", type=click.Path())
@click.argument("name")
@click.option("-m", "--message", metavar="MSG", help="Why (kept in the tag).")
@json_option
def alias_remove(path, name, message, as_json):
    """Unset alias NAME of a model (its history keeps the removal)."""
    from gitmodels.registry import aliases

    with open_repo() as repo:
        change = aliases.remove_alias(repo, path, name, message)
    if as_json:
        emit_json(change.to_json())
        return
    click.echo(f"{change.path}: removed {name} (was {change.commit[:8]}); tag {change.event.tag}")


@alias.command("list")
@click.argument("paths", nargs=-1, type=click.Path())
@json_option
def alias_list(paths, as_json):
    """Every alias set now, with the version it names."""
    from gitmodels.registry import aliases

    with open_repo() as repo:
        arts = [repo.artifact_relpath(p) for p in paths]
        found = aliases.with_versions(repo)
    found = {p: v for p, v in found.items() if not arts or p in arts}
    if as_json:
        emit_json({"models": {p: {n: {**a, "oid": prefixed(a["oid"])} for n, a in names.items()}
                              for p, names in found.items()}})
        return
    rows = [[p, n, a["commit"][:8], (a["oid"] or "?")[:12], a["date"][:16].replace("T", " "), a["tagger"]]
            for p, names in found.items() for n, a in names.items()]
    click.echo(table(rows, ["model", "alias", "commit", "oid", "since", "by"]) or "no aliases")


@alias.command("log")
@click.argument("path", type=click.Path())
@click.option("-a", "--alias", "name", metavar="NAME", help="Only this alias.")
@json_option
def alias_log(path, name, as_json):
    """Who moved which alias of a model from which version to which, when, and why; newest first."""
    from gitmodels.registry import aliases

    with open_repo() as repo:
        events = aliases.log(repo, path, name)
        art = repo.artifact_relpath(path)
    if as_json:
        emit_json({"path": art, "events": [e.to_json() for e in events]})
        return
    if not events:
        click.echo(f"{art}: no aliases")
        return
    rows = []
    for e in events:
        move = f"{(e.previous or '-')[:8]} -> {e.commit[:8]}" if e.action == "set" else f"{e.commit[:8]} -> -"
        rows.append([e.date[:16].replace("T", " "), e.name, e.action, move, f"{e.tagger} <{e.email}>",
                     e.message.splitlines()[0] if e.message else ""])
    click.echo(table(rows, ["date", "alias", "action", "version", "by", "message"]))


@click.command()
@click.option("--rev", metavar="REV", help="Read the models of this revision (default HEAD).")
@json_option
def registry(rev, as_json):
    """Every model with its latest version, aliases and latest metrics, read from git alone.

    \b
    Examples:
      gitmodels registry
      gitmodels registry --json
    """
    from gitmodels.registry import views

    with open_repo() as repo:
        entries = views.registry(repo, rev)
    if as_json:
        emit_json({"rev": rev or "HEAD", "models": [e.to_json() for e in entries]})
        return
    from gitmodels.cli.history import _num

    rows = []
    for e in entries:
        metrics = ", ".join(f"{k}={_num(v)}" for k, v in list(e.metrics.items())[:3])
        names = ", ".join(f"{n}={a['commit'][:8]}" for n, a in e.aliases.items())
        rows.append([e.path, (e.commit or "?")[:8], (e.date or "")[:10], (e.oid or "unreadable")[:12],
                     human_bytes(e.size) if e.size is not None else "?", names or "-", metrics or "-"])
    click.echo(table(rows, ["model", "latest", "date", "oid", "size", "aliases", "metrics"]) or "no models")


__all__ = ["import_", "update", "alias", "registry"]
