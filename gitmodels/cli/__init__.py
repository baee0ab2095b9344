"""The `gitmodels` command line: a thin layer over gitmodels.repo.Repo.

Commands live one per module and are imported only when invoked, so
`gitmodels --version` and the hooks start fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from ..errors import GitModelsError

COMMANDS = {
    "init": "init", "install": "hooks_cmd:install", "uninstall": "hooks_cmd:uninstall", "hook": "hooks_cmd:hook",
    "add": "add", "status": "status", "checkout": "checkout",
    "push": "transfer:push", "fetch": "transfer:fetch", "pull": "transfer:pull",
    "ls": "ls", "remote": "remote", "show": "history:show", "log": "history:log", "diff": "history:diff",
    "get": "history:get", "gc": "housekeeping:gc", "fsck": "housekeeping:fsck", "stats": "housekeeping:stats",
    "trust": "trust",
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
    click.echo(f"gitmodels: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)


def main(argv=None) -> int:
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
