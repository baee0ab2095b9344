import click

from gitmodels.storage.hashing import prefixed
from gitmodels.cli.common import emit_json, human_bytes, json_option, open_repo, table


@click.command()
@click.option("--rev", metavar="REV", help="List the models of this revision.")
@json_option
def ls(rev, as_json):
    """List tracked models with size, framework and where their bytes are."""
    with open_repo() as repo:
        rows = []
        for art, ptr in sorted(repo.pointers(rev).items()):
            model = ptr.meta.get("model", {}) if isinstance(ptr.meta.get("model"), dict) else {}
            rows.append({"path": art, "oid": ptr.oid, "size": ptr.size, "kind": ptr.kind, "files": ptr.files,
                         "framework": model.get("framework"), "in_cache": repo.in_cache(ptr)})
    if as_json:
        emit_json({"rev": rev, "models": [{**r, "oid": prefixed(r["oid"])} for r in rows]})
        return
    click.echo(table([[r["path"], r["kind"], human_bytes(r["size"]), r["framework"] or "-",
                       "cache" if r["in_cache"] else "remote only", r["oid"][:12]] for r in rows],
                     ["model", "kind", "size", "framework", "bytes", "oid"]) or "no models tracked")
