import click

from .common import emit_json, human_bytes, json_option, open_repo, table

LABELS = {
    "ok": "up to date",
    "stale": "stale (run `gitmodels checkout`)",
    "modified": "modified (run `gitmodels add` to save, `gitmodels checkout --force` to discard)",
    "missing": "missing from workspace (run `gitmodels checkout`)",
    "not-in-cache": "not in cache (run `gitmodels fetch`)",
    "bad-pointer": "unreadable pointer",
}


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--remote", "check_remote", is_flag=True, help="Also check which models the remote still lacks.")
@click.option("-r", "remote_name", metavar="NAME", help="The remote --remote checks (default: the default remote).")
@json_option
def status(paths, check_remote, remote_name, as_json):
    """Show, per model, whether the workspace matches its pointer.

    \b
    Examples:
      gitmodels status
      gitmodels status --remote --json
    """
    with open_repo() as repo:
        results = repo.status(paths or None, remote=(remote_name or True) if check_remote else None)
    if as_json:
        emit_json([s.to_json() for s in results])
        return
    if not results:
        click.echo("no models tracked (add one with `gitmodels add PATH`)")
        return
    rows = []
    for s in results:
        label = LABELS[s.state] if s.state != "bad-pointer" else f"unreadable pointer: {s.error}"
        if s.pushed is False:
            label += "; not pushed"
        rows.append([s.path, human_bytes(s.size) if s.size is not None else "-", label])
    click.echo(table(rows, ["model", "size", "state"]))
    if any(s.state != "ok" or s.pushed is False for s in results):
        raise SystemExit(0)
