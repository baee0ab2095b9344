"""Man pages made from the click help: `git models --help` is `man git-models` (git hands a subcommand's
--help to man), so the wheel ships gitmodels.1 and git-models.1 (pyproject: shared-data -> share/man/man1).

The pages are committed in man/man1/ and a test checks they match the help; after changing a command's
help, regenerate them with `python -m gitmodels.cli.manpage`.
"""

from __future__ import annotations

import inspect
import os
import re
import sys

import click

from gitmodels import __version__
from gitmodels.cli import COMMANDS, cli

PAGES = {"gitmodels": "gitmodels", "git-models": "git models"}  # man page name -> how it is typed
MAN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "man", "man1")


def render(page: str) -> str:
    """The roff source of `page` (a key of PAGES): the group's help, its options, then every command."""
    prog = PAGES[page]
    ctx = click.Context(cli, info_name=prog, **cli.context_settings)
    summary = (cli.help or "").strip().splitlines()[0].rstrip(".")
    out = [f'.TH {_q(page.upper())} 1 "" {_q("gitmodels " + __version__)} "gitmodels manual"',
           ".SH NAME", f"{_esc(page)} \\- {_esc(summary[0].lower() + summary[1:])}",
           ".SH SYNOPSIS", f".B {_esc(prog)}", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
           ".SH DESCRIPTION"]
    out += [".PP", f"\\fBgit models\\fR \\fICOMMAND\\fR is the same as \\fBgitmodels\\fR \\fICOMMAND\\fR; "
            f"\\fB{_esc(prog)}\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR prints the help of one command."]
    out += _paragraphs(cli.help or "", skip_first=True)
    out += [".SH OPTIONS"] + _options(cli, ctx)
    out.append(".SH COMMANDS")
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        if command is not None and not command.hidden:
            out += _command(command, click.Context(command, info_name=name, parent=ctx), f"{prog} {name}")
    out += [".SH SEE ALSO", "\\fBgit\\fR(1), \\fBgithooks\\fR(5);",
            "the docs/ folder of the gitmodels sources: formats, config, remotes, hooks, history, storage.", ""]
    return "\n".join(out)


def _command(command: click.Command, ctx: click.Context, typed: str) -> list[str]:
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [f".SS {_q(typed + ' ' + usage)}"]
    out += _paragraphs(command.help or command.short_help or "")
    out += _options(command, ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _command(sub, click.Context(sub, info_name=name, parent=ctx), f"{typed} {name}")
    return out


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record:
            out += [".TP", f"\\fB{_esc(record[0])}\\fR", _esc(record[1]) or "\\&"]
    return out


def _paragraphs(text: str, skip_first: bool = False) -> list[str]:
    """Click's help text as roff: blank lines part paragraphs; a paragraph led by \\b keeps its lines."""
    out = []
    blocks = re.split(r"\n\s*\n", inspect.cleandoc(text).strip()) if text.strip() else []
    for i, block in enumerate(blocks):
        if skip_first and i == 0:
            continue
        if block.startswith("\b"):
            out += [".PP", ".nf"] + ["\\&" + _esc(line) for line in block.splitlines()[1:]] + [".fi"]
        else:
            out += [".PP", _esc(" ".join(line.strip() for line in block.splitlines()))]
    return out


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _q(text: str) -> str:
    return '"' + _esc(text).replace('"', '\\(dq') + '"'


def main(argv: list[str] | None = None) -> int:
    target = (argv if argv is not None else sys.argv[1:])[:1] or [MAN_DIR]
    os.makedirs(target[0], exist_ok=True)
    for page in PAGES:
        path = os.path.join(target[0], f"{page}.1")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(render(page))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
