import click

from gitmodels.credentials import mask_text
from gitmodels.errors import GitModelsError
from gitmodels.workspace.report import sparse_summary
from gitmodels.cli.common import human_bytes, jobs_option, open_repo, progress_option, remote_option

scope = [
    click.option("--rev", metavar="REV", help="Objects of this git revision instead of the checkout."),
    click.option("--all", "all_refs", is_flag=True, help="Objects of every branch and tag."),
]


def with_scope(fn):
    for option in reversed(scope):
        fn = option(fn)
    return fn


def report(verb: str, result) -> None:
    if result.failed:
        if len(result.failed) == 1:
            raise result.failed[0][1]
        for _oid, exc in result.failed[:10]:
            click.echo(f"  {mask_text(exc)}", err=True)
        raise GitModelsError(f"{verb} failed for {len(result.failed)} object(s)",
                             "fix the cause above and run the same command again; it resumes")
    saved = ""
    if result.bytes_sent < result.bytes_total:
        pct = 100.0 * (1 - result.bytes_sent / result.bytes_total) if result.bytes_total else 0
        moved, where = ("sent", "already on the remote") if verb == "pushed" else ("downloaded", "already local")
        saved = f", {human_bytes(result.bytes_sent)} {moved} ({pct:.1f}% {where})"
    click.echo(f"{verb}: {result.moved} object(s), {human_bytes(result.bytes_total)}{saved}; "
               f"{result.objects - result.moved} already in place")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@with_scope
@remote_option
@jobs_option
@progress_option
def push(paths, rev, all_refs, remote, jobs, progress):
    """Upload the models of the checkout (or --rev / --all) to the model remote.

    \b
    Examples:
      gitmodels push
      gitmodels push --all -r s3
    """
    with open_repo() as repo:
        result = repo.push(rev, all_refs, remote, paths or None, jobs, progress)
    report("pushed", result)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@with_scope
@remote_option
@jobs_option
@progress_option
def fetch(paths, rev, all_refs, remote, jobs, progress):
    """Download into the cache the models of the checkout (or --rev / --all), without touching the workspace."""
    with open_repo() as repo:
        result = repo.fetch(rev, all_refs, remote, paths or None, jobs, progress)
    report("fetched", result)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-f", "--force", is_flag=True, help="Overwrite artifacts with unsaved changes.")
@remote_option
@jobs_option
@progress_option
def pull(paths, force, remote, jobs, progress):
    """Fetch the checkout's models and put them in the workspace.

    \b
    Examples:
      git clone URL && cd repo && gitmodels pull
    """
    with open_repo() as repo:
        result = repo.pull(remote, paths or None, jobs, progress, force)
        if repo.sparse_skipped:
            click.echo(sparse_summary(repo.sparse_skipped), err=True)
    report("fetched", result.fetched)
    click.echo(f"{len(result.restored)} restored, {len(result.unchanged)} already up to date")
