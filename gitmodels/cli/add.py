import click

from gitmodels.cli.common import human_bytes, open_repo, progress_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--no-stage", is_flag=True, help="Write pointers but do not `git add` them.")
@progress_option
def add(paths, no_stage, progress):
    """Track model files or directories: hash them into the cache, write and stage their pointers.

    \b
    Examples:
      gitmodels add models/churn.joblib
      gitmodels add models/encoder/ weights.safetensors
    """
    with open_repo() as repo:
        results = repo.add(paths, progress=progress, stage=not no_stage)
    for r in results:
        verb = "added" if r.changed else "unchanged"
        click.echo(f"{verb:9} {r.path}  ({r.kind}, {human_bytes(r.size)}, sha256:{r.oid[:12]}) -> {r.pointer_path}")
