import click

from gitmodels.workspace.status import STATES
from gitmodels.workspace.report import sparse_summary
from gitmodels.cli.common import emit_json, human_bytes, json_option, open_repo, table


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
        checked = repo.config.remote(remote_name)[0] if check_remote else None
        if repo.sparse_skipped:
            click.echo(sparse_summary(repo.sparse_skipped), err=True)
    if as_json:
        emit_json({**({"remote": checked} if check_remote else {}),
                   "models": [s.to_json(remote_checked=check_remote) for s in results]})
        return
    if not results and repo.sparse_skipped:
        click.echo("no models in this sparse checkout (`git sparse-checkout add PATH` brings one in)")
        return
    if not results:
        click.echo("no models tracked (add one with `gitmodels add PATH`)")
        return
    rows = []
    for s in results:
        label = STATES[s.state] if s.state != "bad-pointer" else f"{STATES[s.state]}: {s.error}"
        if s.pushed is False:
            label += "; not pushed"
        rows.append([s.path, human_bytes(s.size) if s.size is not None else "-", label])
    click.echo(table(rows, ["model", "size", "state"]))
    if any(s.state != "up-to-date" or s.pushed is False for s in results):
        raise SystemExit(0)
