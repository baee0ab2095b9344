"""`gitmodels whereis`: which places (the cache, each remote) hold every byte of a model."""

from __future__ import annotations

import click

from gitmodels.cli.common import emit_json, human_bytes, json_option, open_repo, table


@click.command()
@click.argument("specs", nargs=-1, metavar="[PATH[@REV]]...")
@click.option("--rev", metavar="REV", help="Look at the models of this revision (default: the workspace).")
@click.option("-r", "--remote", "remotes", multiple=True, metavar="NAME",
              help="Ask only this remote (repeatable; default: every configured remote).")
@json_option
def whereis(specs, rev, remotes, as_json):
    """Show which places hold each model: the local cache and every remote.

    A place is "present" when it can serve every byte of the model (for
    chunked storage: the recipe and every pack it reads), "partial" when
    only some bytes are there (an interrupted chunked push, a directory
    missing some files), "missing", or "unreachable" when the remote could
    not be asked. Without PATH, every model of the workspace (or of --rev).

    \b
    Examples:
      gitmodels whereis
      gitmodels whereis models/churn.joblib@v1.0
      gitmodels whereis models/encoder --json
    """
    from gitmodels import history
    from gitmodels.housekeeping.whereis import whereis as whereis_fn

    groups: dict[str | None, list[str]] = {}
    for spec in specs:
        path, spec_rev = history.parse_spec(spec, rev)
        groups.setdefault(spec_rev, []).append(path)
    with open_repo() as repo:
        results = []
        if not specs:
            results.append(whereis_fn(repo, None, rev, remotes or None))
        for group_rev, paths in groups.items():
            commit = history.resolve_for(repo, repo.artifact_relpath(paths[0]), group_rev) if group_rev else None
            results.append(whereis_fn(repo, paths, commit, remotes or None))
    places = results[0].places
    models = [m for r in results for m in r.models]
    if as_json:
        emit_json({"rev": rev if not specs else (results[0].rev if len(results) == 1 else None),
                   "places": [p.to_json() for p in places], "models": [m.to_json() for m in models]})
        return
    for p in places:
        if p.error:
            click.echo(f"gitmodels: warning: remote {p.name} could not be asked: {p.error}", err=True)
    if not models:
        click.echo("no models tracked")
        return
    names = [p.name for p in places]
    click.echo(table([[m.path, human_bytes(m.size), *(m.places[n] for n in names), str(m.copies)]
                     for m in models], ["model", "size", *names, "copies"]))
    alone = [m.path for m in models if m.copies == 1 and m.places.get("local") == "present"]
    if alone:
        click.echo(f"{len(alone)} model(s) only in the local cache: `gitmodels push` to keep a second copy")
