"""The `gitmodels` command line: a thin layer over gitmodels.repo.Repo.

Commands live one per module and are imported only when invoked, so
`gitmodels --version` and the hooks start fast.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import warnings

import click

from gitmodels import __version__
from gitmodels.errors import GitModelsError, GitModelsWarning

COMMANDS = {
    "init": "init", "install": "hooks_cmd:install", "uninstall": "hooks_cmd:uninstall", "hook": "hooks_cmd:hook",
    "add": "add", "status": "status", "checkout": "checkout", "mv": "move:mv", "rm": "move:rm",
    "push": "transfer:push", "fetch": "transfer:fetch", "pull": "transfer:pull",
    "ls": "ls", "remote": "remote", "show": "history:show", "log": "history:log", "diff": "history:diff",
    "get": "history:get", "gc": "housekeeping:gc", "fsck": "housekeeping:fsck", "stats": "housekeeping:stats",
    "whereis": "whereis",
    "trust": "trust", "import": "registry:import_", "update": "registry:update", "alias": "registry:alias",
    "registry": "registry:registry",
    "ui": "ui", "report": "ui:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(f"gitmodels.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gitmodels.cli.{module}":
                return None
            raise
        return getattr(mod, attr or name, None)

    def resolve_command(self, ctx, args):
        """A mistyped command gets a "did you mean", as click already gives a mistyped option."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            typed = str(args[0]) if args else ""
            close = did_you_mean(typed, COMMANDS) if typed not in COMMANDS and not typed.startswith("-") else []
            if close:
                exc.message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
            raise


def did_you_mean(typed: str, names) -> list[str]:
    """The closest names to `typed`, ranked as git ranks its own commands (a swap is the likeliest typo)."""
    close = difflib.get_close_matches(typed, names, n=5, cutoff=0.6)
    if not close:
        return []
    scores = {name: _typo_distance(typed, name) for name in close}
    best = min(scores.values())
    return sorted(name for name, score in scores.items() if score == best)


def _typo_distance(typed: str, name: str) -> int:
    """Damerau-Levenshtein with git's weights (help.c): swap 0, substitution 2, insertion 1, deletion 3."""
    prev2: list[int] = []
    prev = list(range(len(name) + 1))  # inserting name[:j]
    for i in range(1, len(typed) + 1):
        row = [i * 3] + [0] * len(name)
        for j in range(1, len(name) + 1):
            row[j] = min(prev[j - 1] + (0 if typed[i - 1] == name[j - 1] else 2), prev[j] + 3, row[j - 1] + 1)
            if i > 1 and j > 1 and typed[i - 1] == name[j - 2] and typed[i - 2] == name[j - 1]:
                row[j] = min(row[j], prev2[j - 2])
        prev2, prev = prev, row
    return prev[-1]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gitmodels")
@click.option("--debug", is_flag=True, envvar="GITMODELS_DEBUG", help="Show tracebacks on errors.")
@click.option("-C", "directory", metavar="PATH", help="Run as if started in PATH.")
@click.pass_context
def cli(ctx, debug, directory):
    """Version machine-learning models next to the code that made them.

    \b
    Examples:
      gitmodels init --remote /mnt/team-models
      gitmodels add models/churn.joblib models/encoder/
      git commit -m "train v1" && git push     # the hook pushes the models
      gitmodels status
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if directory:
        os.chdir(directory)


def fail(exc: GitModelsError) -> None:
    from gitmodels.credentials import mask_text

    click.echo(f"gitmodels: {mask_text(exc.message)}", err=True)
    if exc.hint:
        click.echo(f"  hint: {mask_text(exc.hint)}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    """The library's own warnings as one `gitmodels: warning: ...` line; any other warning as Python shows it."""
    if isinstance(category, type) and issubclass(category, GitModelsWarning):
        click.echo(f"gitmodels: warning: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv=None) -> int:
    # The library says each of its warnings once (it keeps count); filters must not hide them.
    warnings.filterwarnings("always", category=GitModelsWarning)
    warnings.showwarning = _show_warning
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("GITMODELS_DEBUG"))
    try:
        cli.main(args=argv, prog_name="gitmodels", standalone_mode=False)
        return 0
    except GitModelsError as exc:
        if debug:
            raise
        fail(exc)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("gitmodels: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("gitmodels: interrupted; run the same command again to finish", err=True)
        return 130
    except BrokenPipeError:
        return 141
    except OSError as exc:
        if debug:
            raise
        click.echo(f"gitmodels: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", err=True)
        click.echo("  hint: re-run with --debug for details", err=True)
        return 1


def run() -> None:  # console-script entry point
    sys.exit(main())
