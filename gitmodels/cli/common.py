"""Options and output helpers shared by the commands."""

from __future__ import annotations

import json

import click

from gitmodels.progress import human_bytes
from gitmodels.repo import Repo


_warned = False


def open_repo(check_hooks: bool = True) -> Repo:
    """The repository of the current directory; says once per command when its hooks will not follow git."""
    global _warned
    repo = Repo(".")
    if check_hooks and not _warned:
        from gitmodels.hooks.install import hooks_warning

        _warned = True
        warning = hooks_warning(repo)
        if warning:
            click.echo(f"gitmodels: warning: {warning}", err=True)
    return repo


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
remote_option = click.option("-r", "--remote", metavar="NAME", help="Model remote to use (default: the default remote).")
jobs_option = click.option("-j", "--jobs", type=int, metavar="N", help="Objects moved in parallel.")
progress_option = click.option("--progress/--no-progress", default=None,
                               help="Force the progress bar on or off (default: on a terminal only).")


# The shape of every `--json` document (docs/json.md). Adding a key keeps it; renaming or removing one, or
# changing what a value means, raises it.
JSON_FORMAT_VERSION = 1


def emit_json(doc: dict) -> None:
    """Print one command's JSON document: an object that starts with its format version."""
    click.echo(json_text(doc))


def json_text(doc: dict) -> str:
    return json.dumps({"format_version": JSON_FORMAT_VERSION, **doc}, indent=2, sort_keys=False, default=str)


def table(rows: list[list[str]], headers: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


__all__ = ["open_repo", "json_option", "remote_option", "jobs_option", "progress_option", "emit_json", "json_text", "table",
           "human_bytes"]
