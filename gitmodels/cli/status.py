import warnings

import click

from gitmodels.errors import GitModelsWarning
from gitmodels.workspace.status import STATES, remember_output
from gitmodels.workspace.report import sparse_summary
from gitmodels.cli.common import human_bytes, json_option, json_text, open_repo, table


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--remote", "check_remote", is_flag=True, help="Also check which models the remote still lacks.")
@click.option("-r", "remote_name", metavar="NAME", help="The remote --remote checks (default: the default remote).")
@json_option
def status(paths, check_remote, remote_name, as_json):
    """Show, per model, whether the workspace matches its pointer.

    \b
    Examples:
      gitmodels status
      gitmodels status --remote --json
    """
    err: list[str] = []
    with open_repo(check_hooks=False) as repo, warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=GitModelsWarning)
        hooks_warning, hook_files = _hooks_warning(repo)
        if hooks_warning:
            err.append(f"gitmodels: warning: {hooks_warning}")
        results = repo.status(paths or None, remote=(remote_name or True) if check_remote else None)
        checked = repo.config.remote(remote_name)[0] if check_remote else None
        if repo.sparse_skipped:
            err.append(sparse_summary(repo.sparse_skipped))
        out = _render(results, as_json, check_remote, checked, repo.sparse_skipped)
        if not paths and not check_remote and not caught and hook_files is not None:
            # Repeated by the command line's fast path (gitmodels/__main__.py) while nothing changes.
            remember_output(repo, "status --json" if as_json else "status", out,
                            "".join(line + "\n" for line in err), 0, hook_files)
    for line in err:
        click.echo(line, err=True)
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    click.echo(out, nl=False)


def _hooks_warning(repo) -> tuple[str | None, list[str] | None]:
    """open_repo's warning about the hooks, and the files it looked at (None: it asked git)."""
    from gitmodels.hooks.install import HOOK_NAMES, _hooks_off_marker, hooks_warning

    folder = repo.git.default_hooks_dir()
    files = None if folder is None else [_hooks_off_marker(repo), *(f"{folder}/{n}" for n in HOOK_NAMES)]
    return hooks_warning(repo), files


def _render(results, as_json: bool, check_remote: bool, checked, sparse_skipped: int) -> str:
    if as_json:
        return json_text({**({"remote": checked} if check_remote else {}),
                          "models": [s.to_json(remote_checked=check_remote) for s in results]}) + "\n"
    if not results and sparse_skipped:
        return "no models in this sparse checkout (`git sparse-checkout add PATH` brings one in)\n"
    if not results:
        return "no models tracked (add one with `gitmodels add PATH`)\n"
    rows = []
    for s in results:
        label = STATES[s.state] if s.state != "bad-pointer" else f"{STATES[s.state]}: {s.error}"
        if s.pushed is False:
            label += "; not pushed"
        rows.append([s.path, human_bytes(s.size) if s.size is not None else "-", label])
    return table(rows, ["model", "size", "state"]) + "\n"
