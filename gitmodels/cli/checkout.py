import click

from gitmodels.workspace.report import sparse_summary
from gitmodels.cli.common import open_repo, progress_option, remote_option


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-f", "--force", is_flag=True, help="Overwrite artifacts with unsaved changes.")
@click.option("--no-fetch", is_flag=True, help="Use the cache only; do not download.")
@remote_option
@progress_option
def checkout(paths, force, no_fetch, remote, progress):
    """Make workspace models match their pointers, from the cache, fetching what is missing.

    \b
    Examples:
      git checkout v1.0 && gitmodels checkout
      gitmodels checkout --force models/churn
    """
    with open_repo() as repo:
        result = repo.checkout(paths or None, force=force, fetch=not no_fetch, remote=remote, progress=progress)
        if repo.sparse_skipped:
            click.echo(sparse_summary(repo.sparse_skipped), err=True)
    for old, new in result.moved:
        click.echo(f"moved     {old} -> {new} (its pointer was moved)")
    for path in result.restored:
        click.echo(f"restored  {path}")
    click.echo(f"{len(result.restored)} restored, {len(result.unchanged)} already up to date")
