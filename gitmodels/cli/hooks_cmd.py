"""`gitmodels install`, `uninstall`, and the hidden `gitmodels hook NAME` that the hook scripts run."""

from __future__ import annotations

import os
import sys

import click

from gitmodels.errors import GitModelsError, HookFailed, UsageError

# Under the pre-commit framework, git's hook arguments arrive as environment variables instead.
_PRE_COMMIT_ARGS = {
    "post-checkout": ("PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF", "PRE_COMMIT_CHECKOUT_TYPE"),
    "post-merge": ("PRE_COMMIT_IS_SQUASH_MERGE",),
    "post-rewrite": ("PRE_COMMIT_REWRITE_COMMAND",),
    "pre-push": ("PRE_COMMIT_REMOTE_NAME", "PRE_COMMIT_REMOTE_URL"),
}


def _say(lines, prefix: str = "gitmodels: ") -> None:
    from gitmodels.credentials import mask_text

    for line in lines:
        click.echo(f"{prefix}{mask_text(line)}", err=True)


@click.command()
@click.option("--no-checkout", is_flag=True, help="Do not restore the models missing from the working tree now.")
@click.option("--global", "global_", is_flag=True,
              help="Once per machine: every later `git clone` gets the hooks and its models (your global git config).")
def install(no_checkout, global_):
    """Install the git hooks that keep models in step with commits. Safe to run again.

    A hook that is already there (yours, pre-commit's, git-lfs') is kept and
    runs first. Models missing from the working tree (a fresh clone) are
    restored, unless --no-checkout. With --global, git puts the hooks in every
    repository it clones or creates from now on (through init.templateDir, or
    your global core.hooksPath if you have one), so a plain `git clone` of a
    repository with models restores them.

    \b
    Examples:
      gitmodels install
      git clone URL repo && cd repo && gitmodels install
      gitmodels install --global
    """
    from gitmodels.hooks import events, install as setup
    from gitmodels.cli.common import open_repo

    if global_:
        done = setup.install_global()
        for line in done:
            click.echo(f"  {line}")
        click.echo("hooks installed for every new clone" if done else "hooks already installed for every new "
                   "clone (nothing to change)")
        click.echo("clones made before keep their own hooks: run `gitmodels install` in each")
        return
    with open_repo(check_hooks=False) as repo:
        done = setup.install(repo)
        report = None if no_checkout else events.sync_workspace(repo, missing_only=True)
    for line in done:
        click.echo(f"  {line}")
    click.echo("hooks installed" if done else "hooks already installed (nothing to change)")
    if report is not None:
        _say(report.info)
        _say(report.warnings, "gitmodels: warning: ")


@click.command()
@click.option("--global", "global_", is_flag=True, help="Undo `gitmodels install --global`.")
def uninstall(global_):
    """Remove the gitmodels git hooks, putting back the hooks they ran first.

    \b
    Examples:
      gitmodels uninstall
      gitmodels uninstall --global
    """
    from gitmodels.hooks import install as setup
    from gitmodels.cli.common import open_repo

    if global_:
        done = setup.uninstall_global()
    else:
        with open_repo(check_hooks=False) as repo:
            done = setup.uninstall(repo)
    for line in done:
        click.echo(f"  {line}")
    click.echo("hooks removed" if done else "no gitmodels hooks were installed")


@click.command(hidden=True, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name, args):
    """Run hook NAME with git's arguments (the installed hook scripts call this)."""
    from gitmodels import hooks
    from gitmodels.hooks import install as setup

    os.environ["GITMODELS_HOOK"] = "1"  # no progress bars
    if name not in setup.HOOK_NAMES:
        raise UsageError(f"unknown hook {name!r}", f"one of: {', '.join(setup.HOOK_NAMES)}")
    if hooks.skipped():
        return
    args = list(args) or [os.environ.get(var, "") for var in _PRE_COMMIT_ARGS.get(name, ())]
    lines = _stdin_lines(name, args)
    if name.startswith("post-"):
        _run_post(name, args, lines)
    else:
        _run_pre(name, args, lines)


def _stdin_lines(name: str, args: list[str]) -> list[str]:
    if name not in ("pre-push", "post-rewrite"):
        return []
    lines = []
    if not sys.stdin.isatty():
        lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if name == "pre-push" and not lines and os.environ.get("PRE_COMMIT_TO_REF"):
        # The pre-commit framework reads git's lines itself and passes one ref range.
        lines = [" ".join((os.environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD", os.environ["PRE_COMMIT_TO_REF"],
                           os.environ.get("PRE_COMMIT_REMOTE_BRANCH") or "HEAD",
                           os.environ.get("PRE_COMMIT_FROM_REF") or "0" * 40))]
    return lines


def _arg(args: list[str], i: int, default: str = "") -> str:
    return args[i] if len(args) > i and args[i] else default


def _run_post(name: str, args: list[str], lines: list[str]) -> None:
    """post-* hooks never fail git: every problem becomes a warning."""
    from gitmodels.hooks import events, worktree_sync
    from gitmodels.workspace import synced
    from gitmodels.repo import Repo

    try:
        with Repo(".") as repo:
            if name == "post-index-change":
                report = worktree_sync.post_index_change(repo, _arg(args, 0, "1"), _arg(args, 1, "0"))
            elif name == "post-checkout":
                report = events.post_checkout(repo, _arg(args, 0), _arg(args, 1), _arg(args, 2, "1"))
            elif name == "post-merge":
                report = events.post_merge(repo, _arg(args, 0, "0"))
            else:
                report = events.post_rewrite(repo, _arg(args, 0, "rebase"), lines)
            if name != "post-index-change":
                synced.remember(repo)  # the models now match the index: post-index-change need not look
    except (GitModelsError, OSError) as exc:
        if os.environ.get("GITMODELS_DEBUG"):
            raise
        hint = getattr(exc, "hint", "")
        _say([f"{name}: models were not updated: {exc}" + (f" ({hint})" if hint else "")
              + "; run `gitmodels pull` to finish"], "gitmodels: warning: ")
        return
    except Exception as exc:  # noqa: BLE001 - a bug must not break the user's checkout
        if os.environ.get("GITMODELS_DEBUG"):
            raise
        _say([f"{name}: internal error ({type(exc).__name__}: {exc}); models were not updated; run "
              "`gitmodels pull` to finish, and GITMODELS_DEBUG=1 to see the traceback"], "gitmodels: warning: ")
        return
    _say(report.info)
    _say(report.warnings, "gitmodels: warning: ")


def _run_pre(name: str, args: list[str], lines: list[str]) -> None:
    """pre-push / pre-commit: a problem raises, so the CLI exits non-zero and git stops."""
    from gitmodels import hooks
    from gitmodels.repo import Repo

    skip = "GITMODELS_SKIP=1 git push" if name == "pre-push" else "GITMODELS_SKIP=1 git commit"
    try:
        with Repo(".") as repo:
            if name == "pre-push":
                from gitmodels.hooks import events

                remote = _arg(args, 0, "origin")
                report = events.pre_push(repo, remote, _arg(args, 1, remote), lines)
            else:  # each commit starts Python: only the modules a commit needs (not the checkout's)
                from gitmodels.hooks import commit_policy

                report = commit_policy.pre_commit(repo)
    except hooks.HookRefused as exc:
        _say(exc.details, "  ")
        raise
    except HookFailed:
        raise
    except GitModelsError as exc:
        raise HookFailed(f"{name}: {exc.message}; git was stopped",
                         "; ".join(filter(None, (exc.hint, f"to go on without gitmodels: {skip}")))) from None
    except Exception as exc:  # noqa: BLE001 - stop git with one line rather than a traceback
        if os.environ.get("GITMODELS_DEBUG"):
            raise
        raise HookFailed(f"{name}: internal error ({type(exc).__name__}: {exc}); git was stopped",
                         f"GITMODELS_DEBUG=1 shows the traceback; to go on without gitmodels: {skip}") from None
    _say(report.info)
    _say(report.warnings, "gitmodels: warning: ")
