"""`python -m gitmodels` and the `gitmodels` command.

`gitmodels status` is what editors and shell prompts run all day: while nothing it depends on changed,
its last output is repeated from one file (gitmodels/workspace/snapshot.py) before the command line
framework, git or SQLite is even imported. Anything else goes to gitmodels.cli.
"""

import sys

_FAST = {("status",): "status", ("status", "--json"): "status --json"}


def run() -> None:
    command = _FAST.get(tuple(sys.argv[1:]))
    if command is not None:
        from gitmodels.workspace.snapshot import answer

        try:
            found = answer(command)
            if found is not None:
                out, err = (found[0].encode(sys.stdout.encoding or "utf-8"),
                            found[1].encode(sys.stderr.encoding or "utf-8"))
        except (OSError, ValueError, LookupError, KeyError, TypeError, IndexError):
            found = None  # anything unexpected: the full command answers
        if found is not None:
            try:
                if err:
                    sys.stderr.flush()
                    sys.stderr.buffer.write(err)
                    sys.stderr.flush()
                sys.stdout.buffer.write(out)
                sys.stdout.flush()
            except BrokenPipeError:
                sys.exit(141)
            sys.exit(found[2])
    from gitmodels.cli import run as full

    full()


if __name__ == "__main__":
    run()
