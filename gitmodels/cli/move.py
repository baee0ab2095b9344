"""`gitmodels mv` and `gitmodels rm`: a model's bytes, pointer and ignore rule in one step (gitmodels.workspace.moves)."""

import click

from gitmodels.cli.common import emit_json, json_option, open_repo


@click.command()
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@json_option
def mv(src, dst, as_json):
    """Move or rename a tracked model: its file or folder, its pointer and its .gitignore rule.

    The pointer move and the rewritten .gitignore files are staged, as `git mv`
    stages a rename; commit them. DST may be an existing folder. After a plain
    `git mv` of a pointer, the commit's pre-commit hook (or `gitmodels checkout`)
    moves the model the same way.

    \b
    Examples:
      gitmodels mv models/churn.joblib models/churn-v1.joblib
      gitmodels mv models/encoder archive/
    """
    from gitmodels.workspace import moves

    with open_repo() as repo:
        result = moves.move(repo, src, dst)
    if as_json:
        emit_json(result.to_json())
        return
    what = "" if result.artifact_moved else " (its bytes were not in the working tree: `gitmodels checkout` puts them)"
    click.echo(f"moved     {result.src} -> {result.dst}{what}")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--keep", is_flag=True, help="Leave the model's bytes in the working tree (no longer ignored).")
@click.option("-f", "--force", is_flag=True,
              help="Delete bytes the cache does not hold, and a pointer with unstaged changes.")
@json_option
def rm(paths, keep, force, as_json):
    """Stop tracking models: remove the pointer (staged, as `git rm`), the .gitignore rule and the bytes.

    The bytes are deleted only when the cache holds them (any commit that names
    them can still restore them), unless --force. Also removes a model that
    `gitmodels status` lists as orphaned: its pointer was removed with `git rm`
    and its bytes stayed behind.

    \b
    Examples:
      gitmodels rm models/old.joblib
      gitmodels rm --keep models/encoder
    """
    from gitmodels.workspace import moves

    results = []
    with open_repo() as repo:
        for path in paths:
            results.append(moves.remove(repo, path, keep=keep, force=force))
    if as_json:
        emit_json({"removed": [r.to_json() for r in results]})
        return
    for r in results:
        kept = "" if r.deleted else " (its bytes stay in the working tree)" if keep else ""
        click.echo(f"removed   {r.path}{kept}")
