"""Installing and removing the hook scripts, per clone and once per machine, and checking they are current."""

from __future__ import annotations

import functools
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gitmodels.errors import GitModelsError, UsageError
from gitmodels.git.repo import global_config
from gitmodels.git.repo import set_global_config
from gitmodels.hooks import skipped

if TYPE_CHECKING:
    from gitmodels.repo import Repo

HOOK_NAMES = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite", "post-index-change")
MARKER = "# gitmodels-hook "          # starts the second line of every script we install
CHAINED_SUFFIX = ".pre-gitmodels"      # a hook that was there before ours, which ours runs first
# Committed hook-manager configurations that may run `gitmodels hook NAME` from the manager's own script.
MANAGER_FILES = (".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml", "lefthook.yaml", ".lefthook.yaml")



# -- install / uninstall ------------------------------------------------------------------

def templates_dir() -> Path:
    """The hook scripts: `gitmodels/hook_templates/` in a wheel, the top-level `hooks/` in a checkout."""
    package = Path(__file__).parent.parent
    for candidate in (package / "hook_templates", package.parent / "hooks"):
        if _is_ours(_read(str(candidate / "pre-push"))):
            return candidate
    raise GitModelsError("the hook scripts are missing from this gitmodels installation",
                         "reinstall gitmodels: pip install --force-reinstall gitmodels")


def render(name: str, python: str | None = None, package: str | None = None) -> str:
    """The script for hook `name`, with the interpreter and package that run gitmodels filled in."""
    text = _template(name)
    return (text.replace("@PYTHON@", _sh_single_quoted(python or sys.executable))
                .replace("@PACKAGE@", _sh_single_quoted(package or str(Path(__file__).parent.parent))))


@functools.lru_cache(maxsize=None)
def _template(name: str) -> str:
    """Read once per process: every command compares the installed scripts with them."""
    return (templates_dir() / name).read_text(encoding="utf-8")


def _sh_single_quoted(value: str) -> str:
    """`value` for use between single quotes in sh."""
    return value.replace("'", "'\\''")


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _is_ours(text: str | None) -> bool:
    if not text:
        return False
    lines = text.splitlines()
    return len(lines) > 1 and lines[1].startswith(MARKER)


def _is_executable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXUSR)
    except OSError:
        return False


def _write_script(path: str, text: str) -> None:
    from gitmodels.storage import fileio

    with fileio.atomic_path(path, fsync=False, mode=0o755) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def _ours_elsewhere(folder: str, name: str) -> str | None:
    """Our script under another name in `folder`, where a hook manager moved it (pre-commit: NAME.legacy)."""
    try:
        entries = sorted(os.listdir(folder))
    except FileNotFoundError:
        return None
    for entry in entries:
        if entry.startswith(name + ".") and entry not in (name + CHAINED_SUFFIX, name + ".sample"):
            path = os.path.join(folder, entry)
            if os.path.isfile(path) and _is_ours(_read(path)):
                return path
    return None


def install(repo: "Repo", python: str | None = None) -> list[str]:
    """Install every hook into git's hooks directory; returns what changed (nothing on a second run).

    A hook already there that is not ours is kept as NAME.pre-gitmodels and run
    first by ours. `python` is the interpreter the hooks start (default: this one).
    """
    folder = repo.git.hooks_dir()
    done = install_into(folder, _shown(repo, folder), python)
    if os.path.exists(_hooks_off_marker(repo)):
        os.remove(_hooks_off_marker(repo))
    if done and _inside(folder, repo.root) and not _inside(folder, repo.git.common_dir):
        done.append(f"note: core.hooksPath points inside the working tree ({_shown(repo, folder)}); the installed "
                    "scripts name this machine's Python, so do not commit them")
    return done


def install_into(folder: str, shown: str, python: str | None = None) -> list[str]:
    """Put our scripts in `folder` (a repository's hooks, a template's, a global core.hooksPath), chaining."""
    os.makedirs(folder, exist_ok=True)
    done: list[str] = []
    for name in HOOK_NAMES:
        text = render(name, python)
        path = os.path.join(folder, name)
        chained = path + CHAINED_SUFFIX
        current = _read(path) if not os.path.islink(path) else None
        if _is_ours(current):
            if current != text or not _is_executable(path):
                _write_script(path, text)
                done.append(f"updated the {name} hook ({shown}/{name})")
            continue
        if not os.path.lexists(path):
            _write_script(path, text)
            if os.path.lexists(chained):
                done.append(f"installed the {name} hook ({shown}/{name}); it runs {name}{CHAINED_SUFFIX} first")
            else:
                done.append(f"installed the {name} hook ({shown}/{name})")
            continue
        # Somebody else's hook is there.
        moved = _ours_elsewhere(folder, name)
        if moved is not None:
            # A hook manager (pre-commit's NAME.legacy) already runs ours: keep it current, add nothing.
            if _read(moved) != text:
                _write_script(moved, text)
                done.append(f"updated the {name} hook ({shown}/{os.path.basename(moved)}, run by {name})")
            continue
        if current is not None and not os.path.islink(chained) and _read(chained) == current:
            # A hook manager rewrote its script over ours (husky's `prepare` on every npm install): the one
            # we chain is the same file, so ours goes back on top of it.
            _write_script(path, text)
            done.append(f"installed the {name} hook ({shown}/{name}); it runs {name}{CHAINED_SUFFIX} first")
            continue
        if os.path.lexists(chained):
            done.append(f"left the {name} hook alone: {shown}/{name} is not gitmodels' and "
                        f"{name}{CHAINED_SUFFIX} already exists; merge them by hand, then run `gitmodels install`")
            continue
        os.rename(path, chained)
        _write_script(path, text)
        done.append(f"installed the {name} hook ({shown}/{name}); the hook that was there runs first, "
                    f"kept as {name}{CHAINED_SUFFIX}")
    return done


def uninstall(repo: "Repo") -> list[str]:
    """Remove our hooks and put back the hooks they were chained to; returns what changed."""
    folder = repo.git.hooks_dir()
    return uninstall_from(folder, _shown(repo, folder))


def uninstall_from(folder: str, shown: str) -> list[str]:
    done: list[str] = []
    for name in HOOK_NAMES:
        path = os.path.join(folder, name)
        chained = path + CHAINED_SUFFIX
        ours = path if (not os.path.islink(path) and _is_ours(_read(path))) else _ours_elsewhere(folder, name)
        if ours is not None:
            where = os.path.basename(ours)
            if os.path.lexists(chained):
                os.replace(chained, ours)
                done.append(f"removed the {name} hook ({shown}/{where}); restored the hook that was there before")
            else:
                os.unlink(ours)
                done.append(f"removed the {name} hook ({shown}/{where})")
        elif os.path.lexists(chained) and not os.path.lexists(path):
            os.rename(chained, path)
            done.append(f"restored the {name} hook that was there before ({shown}/{name})")
    return done


def _shown(repo: "Repo", folder: str) -> str:
    return os.path.relpath(folder, repo.root) if _inside(folder, repo.root) or \
        _inside(folder, repo.git.common_dir) else folder


def _inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# -- once per machine: every later clone gets the hooks ------------------------------------

def own_template_dir() -> str:
    """The git template folder `install --global` creates when the user has none of their own."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "gitmodels", "git-template")


def install_global(python: str | None = None) -> list[str]:
    """Make git put our hooks in every repository it creates or clones from now on; returns what changed.

    git copies `init.templateDir`'s hooks/ into each new repository before the
    clone's checkout, so post-checkout restores the models at clone time. A
    global core.hooksPath already overrides every repository's hooks/ (the
    reason we never set one: it would silence husky's and pre-commit's
    per-repository hooks); when the user has one, our scripts go there.
    """
    hooks_path = global_config("core.hooksPath", path=True)
    if hooks_path:
        folder = _global_folder(hooks_path, "core.hooksPath")
        return install_into(folder, folder, python)
    template = global_config("init.templateDir", path=True)
    folder = os.path.join(_global_folder(template, "init.templateDir") if template else own_template_dir(), "hooks")
    done = install_into(folder, folder, python)
    if not template:
        template = own_template_dir()
        set_global_config("init.templateDir", template)
        done.append(f"set init.templateDir = {template} in your global git config")
    return done


def uninstall_global() -> list[str]:
    """Undo install_global: remove our scripts, put back the hooks they chained to, and the setting we made."""
    done: list[str] = []
    hooks_path = global_config("core.hooksPath", path=True)
    if hooks_path and os.path.isabs(hooks_path):
        done.extend(uninstall_from(hooks_path, hooks_path))
    template = global_config("init.templateDir", path=True)
    if template and os.path.isabs(template):
        folder = os.path.join(template, "hooks")
        done.extend(uninstall_from(folder, folder))
        if os.path.realpath(template) == os.path.realpath(own_template_dir()):
            if not _remove_own_template(template):
                done.append(f"kept init.templateDir = {template}: it holds files gitmodels did not put there")
            else:
                set_global_config("init.templateDir", None)
                done.append(f"removed init.templateDir = {template} from your global git config")
    return done


def _global_folder(value: str, key: str) -> str:
    if not os.path.isabs(value):
        raise UsageError(f"your global {key} ({value}) is a relative path, so no one folder serves every "
                         "repository", f"make it absolute (`git config --global {key} /abs/path`), or run "
                         "`gitmodels install` in each clone")
    return value


def _remove_own_template(template: str) -> bool:
    """Remove the template folder install_global made; False when it holds files someone else put there."""
    for folder in (os.path.join(template, "hooks"), template):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    try:
        os.rmdir(os.path.dirname(template))  # ~/.config/gitmodels, when nothing else lives there
    except OSError:
        pass
    return True


# -- is this clone's set-up current? ------------------------------------------------------

HOOKS_OFF = "hooks-off"  # in the clone's local gitmodels folder: `init --no-hooks` chose to run without hooks


def _hooks_off_marker(repo: "Repo") -> str:
    return os.path.join(os.path.dirname(repo.config.local_path), HOOKS_OFF)


def opt_out(repo: "Repo") -> None:
    """Remember (in this clone only) that its user chose no hooks: commands then do not warn about them."""
    path = _hooks_off_marker(repo)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("`gitmodels init --no-hooks` was run here; `gitmodels install` removes this file\n")


def hooks_warning(repo: "Repo") -> str | None:
    """One line when git will not keep this clone's models in step (hooks missing, from another
    gitmodels, or naming a Python that is gone) and it has pointers; None otherwise.

    Cheap on the happy path: a few small file reads, no git process.
    """
    if skipped() or os.path.exists(_hooks_off_marker(repo)):
        return None
    try:
        quick = repo.git.default_hooks_dir()
        problem = _hooks_problem(quick, repo.root) if quick is not None else None
        if (quick is not None and problem is None) or not repo.pointer_paths():
            return None
        folder = repo.git.hooks_dir()  # git's word, before warning: a config file we did not read may set it
        if folder != quick:
            problem = _hooks_problem(folder, repo.root)
        if problem is None:
            return None
    except (GitModelsError, OSError):  # a warning must never be what breaks a command
        return None
    what, fix = problem
    return f"{what}, so `git switch` and `git pull` leave the models as they are: {fix}"


def _hooks_problem(folder: str, root: str) -> tuple[str, str] | None:
    """(what is wrong, the fix) with the hooks in `folder`, or None when they are ours and current."""
    missing: list[str] = []
    stale: list[str] = []
    for name in HOOK_NAMES:
        path = os.path.join(folder, name)
        text = _read(path)
        if not _is_ours(text):
            if text is not None and _manager_runs_us(name, text, root):
                continue
            path = _ours_elsewhere(folder, name) or ""
            text = _read(path) if path else None
            if text is None:
                missing.append(name)
                continue
        why = _outdated(name, text, path)
        if why:
            stale.append(f"{name} {why}")
    fix = "run `gitmodels install`"
    if len(missing) == len(HOOK_NAMES):
        return ("the gitmodels git hooks are not installed in this clone",
                f"{fix} (`gitmodels install --global`: in every later clone too)")
    if missing:
        return f"gitmodels git hooks missing in this clone: {', '.join(missing)}", fix
    if stale:
        return f"the gitmodels git hooks of this clone are out of date ({stale[0]})", fix
    return None


def _manager_runs_us(name: str, text: str, root: str) -> bool:
    """A foreign hook that runs gitmodels: it calls `gitmodels hook NAME` itself, or it is a hook manager's
    (pre-commit, lefthook, husky's `.husky/NAME`) whose committed configuration does."""
    if "gitmodels" in text:
        return True
    files = (*MANAGER_FILES, os.path.join(".husky", name))
    return any("gitmodels" in (_read(os.path.join(root, f)) or "") for f in files)


def _outdated(name: str, text: str, path: str) -> str | None:
    python, package = _sh_value(text, "py"), _sh_value(text, "pkg")
    if python is None or package is None or text != render(name, python, package):
        return "comes from another gitmodels version"
    if not (os.access(python, os.X_OK) and os.path.isfile(os.path.join(package, "__init__.py"))):
        return f"names a Python that is gone ({python})"
    if not _is_executable(path):
        return "is not executable"
    return None


def _sh_value(text: str, var: str) -> str | None:
    """The value of a `var='...'` line of one of our scripts (the inverse of _sh_single_quoted)."""
    prefix = f"{var}='"
    for line in text.splitlines()[:12]:
        if line.startswith(prefix) and line.endswith("'"):
            return line[len(prefix):-1].replace("'\\''", "'")
    return None


