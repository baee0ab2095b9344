"""Git hooks: installing the scripts of the top-level `hooks/` folder, and what each does once git runs it.

An installed hook is a few lines of POSIX shell (docs/hooks.md). It runs any
hook that was there before, asks git itself whether a pointer (`*.gitmodel`)
is involved, and only then starts Python: `gitmodels hook NAME ...` lands in
the entry points below.

- pre_push / pre_commit raise HookRefused, which stops git;
- post_checkout / post_merge / post_rewrite never raise for a model problem:
  they return a HookReport whose warnings the CLI prints, and git goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import pointer as pointer_mod
from .errors import BadPointer, GitModelsError, HookFailed, NoRemote, ObjectMissing, RemoteError, UsageError
from .gitrepo import ZERO_SHA, global_config, set_global_config
from .pointer import Pointer

if TYPE_CHECKING:
    from .repo import CheckoutResult, Repo

HOOK_NAMES = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite")
MARKER = "# gitmodels-hook "          # starts the second line of every script we install
CHAINED_SUFFIX = ".pre-gitmodels"      # a hook that was there before ours, which ours runs first
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MODEL_EXTENSIONS = (".pt", ".pth", ".bin", ".safetensors", ".onnx", ".h5", ".hdf5", ".keras", ".joblib",
                    ".pkl", ".pickle", ".cbm", ".ubj", ".ckpt", ".gguf", ".npz", ".npy", ".pb", ".tflite",
                    ".mlmodel", ".model", ".xgb", ".lgb", ".params")
MAX_LISTED = 10                        # problems listed one per line before "and N more"
# Committed hook-manager configurations that may run `gitmodels hook NAME` from the manager's own script.
MANAGER_FILES = (".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml", "lefthook.yaml", ".lefthook.yaml")


class HookRefused(HookFailed):
    """A hook that stops git: one summary line, a hint, and the problems one per line."""

    def __init__(self, message: str, hint: str, details: Iterable[str] = ()):
        super().__init__(message, hint)
        self.details = list(details)


@dataclasses.dataclass
class HookReport:
    info: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def skipped() -> bool:
    """GITMODELS_SKIP set to anything but '' or '0' turns every hook into a no-op."""
    return os.environ.get("GITMODELS_SKIP", "") not in ("", "0")


# -- install / uninstall ------------------------------------------------------------------

def templates_dir() -> Path:
    """The hook scripts: `gitmodels/hook_templates/` in a wheel, the top-level `hooks/` in a checkout."""
    package = Path(__file__).parent
    for candidate in (package / "hook_templates", package.parent / "hooks"):
        if _is_ours(_read(str(candidate / "pre-push"))):
            return candidate
    raise GitModelsError("the hook scripts are missing from this gitmodels installation",
                         "reinstall gitmodels: pip install --force-reinstall gitmodels")


def render(name: str, python: str | None = None, package: str | None = None) -> str:
    """The script for hook `name`, with the interpreter and package that run gitmodels filled in."""
    text = _template(name)
    return (text.replace("@PYTHON@", _sh_single_quoted(python or sys.executable))
                .replace("@PACKAGE@", _sh_single_quoted(package or str(Path(__file__).parent))))


@functools.lru_cache(maxsize=None)
def _template(name: str) -> str:
    """Read once per process: every command compares the installed scripts with them."""
    return (templates_dir() / name).read_text(encoding="utf-8")


def _sh_single_quoted(value: str) -> str:
    """`value` for use between single quotes in sh."""
    return value.replace("'", "'\\''")


def hooks_dir(repo: "Repo") -> str:
    """Where git looks for hooks: core.hooksPath if set, else the common dir's hooks (shared by worktrees)."""
    out = repo.git.git("rev-parse", "--git-path", "hooks").stdout.decode("utf-8", "surrogateescape").strip()
    return os.path.normpath(os.path.join(repo.root, os.path.expanduser(out)))


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
    from . import fileio

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
    folder = hooks_dir(repo)
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
    folder = hooks_dir(repo)
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
        folder = hooks_dir(repo)  # git's word, before warning: a config file we did not read may set it
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


# -- pre-push -----------------------------------------------------------------------------

def pre_push(repo: "Repo", remote_name: str, remote_url: str, lines: Iterable[str]) -> HookReport:
    """Upload the objects of every pointer that the pushed commits introduce; refuse the push if one fails.

    lines: git's `<local ref> <local sha> <remote ref> <remote sha>`. For a
    branch the remote already has, the commits are remote_sha..local_sha; for a
    new branch, those not reachable from refs/remotes/<remote_name>/*.
    """
    report = HookReport()
    if skipped() or not repo.config.get("hooks", "auto_push", True):
        return report
    found = pushed_pointers(repo, remote_name, lines, report)
    if not repo.config.get("imports", "copy_objects", True):  # imported models stay on their source's remote
        found = {k: v for k, v in found.items() if "import" not in v[0].meta}
    if not found:
        return report
    try:
        model_remote, _ = repo.config.remote(None)
        result = repo.push(pointers=[ptr for ptr, _ in found.values()])
    except GitModelsError as exc:
        hint = exc.hint or ""
        raise HookRefused(f"pre-push: cannot upload the models of the pushed commits: {exc.message}; "
                          "the push was stopped",
                          _push_hint(hint)) from None
    if result.failed:
        owners = _owners(repo, found)
        details = []
        for oid, why in result.failed:
            model = owners.get(oid, "")
            details.append(f"{model}: {why}" if model else str(why))
        hint = getattr(result.failed[0][1], "hint", "") or ""
        raise HookRefused(f"pre-push: {len(result.failed)} model object(s) could not be uploaded to model remote "
                          f"{model_remote!r} (first: {details[0]}); the push was stopped",
                          _push_hint(hint), details[1:MAX_LISTED])
    if result.moved:
        from .progress import human_bytes

        report.info.append(f"uploaded {result.moved} object(s), {human_bytes(result.bytes_total)}, "
                           f"to model remote {model_remote!r}")
    return report


def _push_hint(extra: str) -> str:
    parts = [extra] if extra else []
    parts.append("fix it and push again (the upload resumes); to push without the models: GITMODELS_SKIP=1 git push")
    return "; ".join(parts)


def pushed_pointers(repo: "Repo", remote_name: str, lines: Iterable[str],
                    report: HookReport | None = None) -> dict[tuple[str, str], tuple[Pointer, str]]:
    """(oid, kind) -> (Pointer, where) for every pointer version the pushed commits introduce."""
    out: dict[tuple[str, str], tuple[Pointer, str]] = {}
    seen_blobs: set[str] = set()
    seen_commits: set[bytes] = set()
    tracking: list[str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        _lref, lsha, _rref, rsha = parts[-4:]
        if lsha == ZERO_SHA:  # a deleted ref pushes nothing
            continue
        if rsha != ZERO_SHA and _has_commit(repo, rsha):
            exclude = [rsha]
        else:
            if tracking is None:
                tracking = repo.git.remote_tracking(remote_name)
            exclude = tracking
        for commit in repo.git.walk([lsha], exclude):
            if commit.id in seen_commits:
                continue
            seen_commits.add(commit.id)
            sha = commit.id.decode()
            for parent in (commit.parents or [None]):
                changes = repo.git.changed_pointers(parent.decode() if parent else None, sha)
                for ppath, (_old, new) in sorted(changes.items()):
                    if new is None or new in seen_blobs:
                        continue
                    seen_blobs.add(new)
                    try:
                        ptr = pointer_mod.parse(repo.git.blob(new), ppath)
                    except BadPointer as exc:
                        if report is not None:
                            report.warnings.append(f"commit {sha[:10]}: {exc.message}; nothing uploaded for it")
                        continue
                    out.setdefault((ptr.oid, ptr.kind), (ptr, pointer_mod.artifact_path_for(ppath)))
    return out


def _has_commit(repo: "Repo", sha: str) -> bool:
    try:
        return sha.encode() in repo.git.repo.object_store
    except Exception:  # noqa: BLE001 - a malformed sha is simply unknown
        return False


def _owners(repo: "Repo", found: dict[tuple[str, str], tuple[Pointer, str]]) -> dict[str, str]:
    """oid -> model path, for the objects a push moves (a directory's files included)."""
    from .transfer import manifest_entries

    owners: dict[str, str] = {}
    for (oid, _kind), (ptr, art) in found.items():
        owners.setdefault(oid, art)
        if ptr.is_dir and repo.store.has(oid):
            try:
                for entry in manifest_entries(repo.store, oid):
                    owners.setdefault(entry.oid, f"{art}/{entry.path}")
            except GitModelsError:
                pass
    return owners


# -- post-checkout / post-merge / post-rewrite --------------------------------------------

def post_checkout(repo: "Repo", old: str, new: str, branch_flag: str) -> HookReport:
    """Branch checkout (flag 1; a clone has old = null sha): restore the models whose pointers changed.
    File checkout (flag 0): make every model match the pointer in the working tree."""
    if skipped():
        return HookReport()
    if branch_flag != "1":
        return sync_workspace(repo)
    if not new or new == ZERO_SHA:
        return HookReport()
    return _apply_changes(repo, repo.git.changed_pointers(None if old in ("", ZERO_SHA) else old, new))


def post_merge(repo: "Repo", squash: str = "0") -> HookReport:
    """After a merge (pull included): restore the models whose pointers differ between ORIG_HEAD and HEAD."""
    if skipped():
        return HookReport()
    head = repo.git.head()
    orig = _rev_parse(repo, "ORIG_HEAD")
    if squash == "1" or head is None or orig is None:
        return sync_workspace(repo)  # a squash merge moves no commit: compare the working tree
    return _apply_changes(repo, repo.git.changed_pointers(orig, head))


def post_rewrite(repo: "Repo", kind: str, lines: Iterable[str] = ()) -> HookReport:
    """After a rebase: make every model match HEAD's pointers; drop those HEAD no longer has.
    An amend changes no file in the working tree, so it has nothing to do."""
    if skipped() or kind == "amend":
        return HookReport()
    report = HookReport()
    head = repo.git.head()
    orig = _rev_parse(repo, "ORIG_HEAD")
    if head is not None and orig is not None:
        gone = {p: c for p, c in repo.git.changed_pointers(orig, head).items() if c[1] is None}
        _remove_dropped(repo, gone, report)
    _merge(report, sync_workspace(repo))
    return report


def sync_workspace(repo: "Repo", missing_only: bool = False) -> HookReport:
    """Make the artifacts match the pointers in the working tree (the stat cache makes this cheap).

    missing_only: restore only artifacts absent from the working tree (`gitmodels install` in a clone).
    """
    report = HookReport()
    errors: list = []
    pointers = repo.pointers(None, None, errors)
    for ppath, exc in errors:
        report.warnings.append(_bad_pointer_warning(ppath, exc))
    if missing_only:
        pointers = {a: p for a, p in pointers.items() if not os.path.lexists(repo.abspath(a))}
    if pointers:
        _restore(repo, pointers, report)
    return report


def _apply_changes(repo: "Repo", changes: dict[str, tuple[str | None, str | None]]) -> HookReport:
    """Restore the artifacts of changed or added pointers and remove those of deleted ones."""
    report = HookReport()
    if not changes:
        return report
    _remove_dropped(repo, {p: c for p, c in changes.items() if c[1] is None}, report)
    wanted: dict[str, Pointer] = {}
    for ppath, (_old, new) in sorted(changes.items()):
        if new is None:
            continue
        art = pointer_mod.artifact_path_for(ppath)
        try:
            # The pointer as checked out (it is the commit's, unless `checkout -m` merged local changes).
            wanted[art] = pointer_mod.read(repo.abspath(ppath), ppath)
        except FileNotFoundError:
            continue  # not in this working tree (sparse checkout)
        except BadPointer as exc:
            report.warnings.append(_bad_pointer_warning(ppath, exc))
    if wanted:
        _restore(repo, wanted, report)
    return report


def _restore(repo: "Repo", pointers: dict[str, Pointer], report: HookReport) -> None:
    fetch = bool(repo.config.get("hooks", "fetch_on_checkout", True))
    result = repo.checkout(rev_pointers=pointers, strict=False, fetch=fetch)
    _report_checkout(repo, pointers, result, fetch, report)


def _report_checkout(repo: "Repo", pointers: dict[str, Pointer], result: "CheckoutResult", fetch: bool,
                     report: HookReport) -> None:
    if result.restored:
        names = ", ".join(result.restored[:5]) + (f" and {len(result.restored) - 5} more"
                                                  if len(result.restored) > 5 else "")
        report.info.append(f"restored {len(result.restored)} model(s): {names}")
    failures = {oid: exc for oid, exc in result.fetched.failed if oid}
    fetch_error = next((exc for oid, exc in result.fetched.failed if not oid), None)
    problems = []
    for art, why in result.skipped:
        ptr = pointers.get(art)
        if ptr is not None and repo.in_cache(ptr):
            if "not saved" in why:
                problems.append(f"{why} (keep your version: `gitmodels add {art}`; take the committed one: "
                                f"`gitmodels checkout --force {art}`)")
            else:
                problems.append(f"{why}; fix it, then run `gitmodels checkout {art}`")
            continue
        if ptr is None:
            problems.append(f"{why}; fix it, then run `gitmodels checkout`")
            continue
        failure = failures.get(ptr.oid) or fetch_error or next(iter(failures.values()), None)
        if not fetch:
            problems.append(f"{art} not restored: model sha256:{ptr.oid[:12]} is not in the local cache and "
                            "hooks.fetch_on_checkout is off; run `gitmodels pull`")
        elif isinstance(failure, ObjectMissing) or "is not on remote" in str(failure or ""):
            problems.append(f"{art} not restored: model sha256:{ptr.oid[:12]} is neither in the cache nor on the "
                            "model remote; `gitmodels push` it from the clone that has it, then `gitmodels pull`")
        elif failure is not None:
            problems.append(f"{art} not restored: could not fetch it ({failure}); run `gitmodels pull` once the "
                            "model remote is reachable")
        else:
            problems.append(f"{art} not restored: {why}; run `gitmodels pull`")
    if len(problems) > MAX_LISTED:
        rest = len(problems) - MAX_LISTED + 1
        problems = problems[:MAX_LISTED - 1] + [f"... and {rest} more model(s) not restored; run `gitmodels pull`"]
    report.warnings.extend(problems)


def _remove_dropped(repo: "Repo", gone: dict[str, tuple[str | None, str | None]], report: HookReport) -> None:
    """Delete the artifacts of pointers the new commit no longer has, when their bytes are safe in the cache.

    An artifact that differs from its old pointer and is not in the cache is
    the user's unsaved work: it stays, with a warning.
    """
    if not gone:
        return
    tracked = None
    with repo.lock():
        for ppath, (old, _new) in sorted(gone.items()):
            art = pointer_mod.artifact_path_for(ppath)
            absolute = repo.abspath(art)
            if not old or not os.path.lexists(absolute) or os.path.lexists(repo.abspath(ppath)):
                continue
            if tracked is None:
                tracked = repo.git.index_entries()
            if art in tracked or any(p.startswith(art + "/") for p in tracked):
                continue  # git tracks that path itself now: it is not ours to remove
            try:
                old_ptr = pointer_mod.parse(repo.git.blob(old), ppath)
                scanned = repo.workspace.scan(absolute)
            except (GitModelsError, OSError):
                continue
            if scanned.oid != old_ptr.oid or not repo.workspace.recoverable(scanned):
                report.warnings.append(f"{art} is no longer tracked in this commit but has changes that are not in "
                                       f"the model store; left in place (keep it: `gitmodels add {art}`)")
                continue
            if os.path.isdir(absolute) and not os.path.islink(absolute):
                shutil.rmtree(absolute)
            else:
                os.unlink(absolute)
            report.info.append(f"removed {art} (not in this commit; its bytes stay in the cache)")
        repo.state.flush()


def _bad_pointer_warning(ppath: str, exc: GitModelsError) -> str:
    hint = getattr(exc, "hint", "")
    return f"{exc}; its model was not restored" + (f" ({hint})" if hint else "")


def _merge(into: HookReport, other: HookReport) -> None:
    into.info.extend(other.info)
    into.warnings.extend(other.warnings)


def _rev_parse(repo: "Repo", rev: str) -> str | None:
    proc = repo.git.git("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)
    out = proc.stdout.decode().strip()
    return out if proc.returncode == 0 and out else None


# -- pre-commit ---------------------------------------------------------------------------

def pre_commit(repo: "Repo") -> HookReport:
    """Refuse a commit that stages a stale pointer, a pointer whose model is not stored, or a big file in git."""
    report = HookReport()
    if skipped():
        return report
    against = EMPTY_TREE if repo.git.head() is None else "HEAD"
    # The git CLI honours GIT_INDEX_FILE: `git commit -a` and `git commit PATH` use a temporary index.
    out = repo.git.git("diff-index", "--cached", "-z", "--no-renames", "--diff-filter=AMT", against).stdout
    fields = out.split(b"\0")
    staged: list[tuple[str, str, str]] = []  # (mode, blob sha, path)
    for meta, raw_path in zip(fields[0::2], fields[1::2]):
        parts = meta.decode().lstrip(":").split()
        if len(parts) >= 5:
            staged.append((parts[1], parts[3], raw_path.decode("utf-8", "surrogateescape")))
    problems: list[str] = []
    pointers = [(sha, path) for mode, sha, path in staged
                if path.endswith(pointer_mod.SUFFIX) and mode in ("100644", "100755")]
    others = [(sha, path) for mode, sha, path in staged
              if not path.endswith(pointer_mod.SUFFIX) and mode in ("100644", "100755")]
    problems.extend(_check_staged_pointers(repo, pointers, report))
    problems.extend(_check_big_files(repo, others))
    problems.extend(_check_staged_config(repo, others))
    if problems:
        raise HookRefused(f"commit refused: {len(problems)} problem(s) with models, listed above",
                          "fix each as shown, then commit again; to commit anyway: GITMODELS_SKIP=1 git commit ...",
                          problems)
    return report


def _check_staged_pointers(repo: "Repo", staged: list[tuple[str, str]], report: HookReport) -> list[str]:
    problems: list[str] = []
    not_cached: dict[str, str] = {}  # oid -> message
    merging = _merge_in_progress(repo)
    head = repo.git.head() if merging else None
    behind: dict[str, Pointer] = {}  # artifacts a merge left at HEAD's version: restored, not refused
    for sha, ppath in staged:
        art = pointer_mod.artifact_path_for(ppath)
        try:
            ptr = pointer_mod.parse(repo.git.blob(sha), ppath)
        except BadPointer as exc:
            problems.append(f"{exc.message}: {exc.hint}" if exc.hint else exc.message)
            continue
        absolute = repo.abspath(art)
        current = None
        if os.path.lexists(absolute):
            current = repo.workspace.quick_state(absolute)
            if current is None:
                try:
                    current = repo.workspace.scan(absolute).oid
                except GitModelsError as exc:
                    problems.append(f"{art}: {exc.message}")
                    continue
        if current is not None and current != ptr.oid:
            if merging and current == _pointer_oid_at(repo, head, ppath):
                behind[art] = ptr  # merged in from the other side; git ran no hook for it yet
            else:
                problems.append(_stale_message(repo, ppath, art, ptr, current))
                continue
        elif current is None and merging:
            behind[art] = ptr
        if not repo.in_cache(ptr):
            not_cached[ptr.oid] = (f"{ppath}: its model sha256:{ptr.oid[:12]} is not in the local cache; "
                                   + (f"store it: `gitmodels add {art}`" if current == ptr.oid
                                      else f"fetch it: `gitmodels fetch {art}`, or unstage the pointer: "
                                           f"`git restore --staged {ppath}`"))
    repo.state.flush()
    if not_cached:
        for oid in sorted(_not_on_remote(repo, set(not_cached))):
            problems.append(not_cached[oid])
    if behind and not problems:
        _restore(repo, behind, report)
    return problems


def _merge_in_progress(repo: "Repo") -> bool:
    """A merge, cherry-pick, revert or rebase stopped for conflicts, which the user is now committing."""
    names = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
    return any(os.path.exists(os.path.join(repo.git.git_dir, n)) for n in names)


def _pointer_oid_at(repo: "Repo", commit: str | None, ppath: str) -> str | None:
    if not commit:
        return None
    try:
        data = repo.git.file_at(commit, ppath)
        return pointer_mod.parse(data, ppath).oid if data is not None else None
    except GitModelsError:
        return None


def _stale_message(repo: "Repo", ppath: str, art: str, ptr: Pointer, current: str) -> str:
    head = (f"{ppath} is stale: {art} changed after `gitmodels add` (staged sha256:{ptr.oid[:12]}, "
            f"on disk sha256:{current[:12]})")
    try:
        in_tree = pointer_mod.read(repo.abspath(ppath), ppath)
    except (OSError, GitModelsError):
        in_tree = None
    if in_tree is not None and in_tree.oid == current and current != ptr.oid:
        return f"{head}; the pointer in the working tree is current: `git add {ppath}`"
    return (f"{head}; record the new model: `gitmodels add {art}`, or go back to the staged one: "
            f"`gitmodels checkout --force {art}`")


def _not_on_remote(repo: "Repo", oids: set[str]) -> set[str]:
    """The objects among `oids` that the default model remote is not known (or found) to hold."""
    try:
        _name, transfer = repo.open_transfer(None)
        with transfer.backend:
            return transfer.remote_missing(oids)
    except (RemoteError, NoRemote, GitModelsError, OSError):
        return oids


def _check_staged_config(repo: "Repo", staged: list[tuple[str, str]]) -> list[str]:
    """A credential in a staged shared config (a hand edit gitmodels did not write) stops the commit."""
    from . import config as config_mod
    from .credentials import secret_settings

    problems = []
    for sha, path in staged:
        if path not in (config_mod.SHARED_FILE, "pyproject.toml"):
            continue
        try:
            doc = config_mod.tomllib.loads(repo.git.blob(sha).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue  # not TOML: Config reports that itself
        if path == "pyproject.toml":
            doc = doc.get("tool", {}).get("gitmodels", {})
        keys = [key for key, _ in secret_settings(doc if isinstance(doc, dict) else {})]
        if keys:
            problems.append(f"{path}: holds a credential ({', '.join(keys)}), which would be committed; move it to "
                            "the local config (gitmodels remote add NAME URL --local -s KEY=VALUE)")
    return problems


def _check_big_files(repo: "Repo", staged: list[tuple[str, str]]) -> list[str]:
    problems: list[str] = []
    artifacts = {pointer_mod.artifact_path_for(p) for p in repo.pointer_paths()}
    threshold = repo.config.get_int("hooks", "large_file_threshold")

    def artifact_of(path: str) -> str | None:
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            candidate = "/".join(parts[:i])
            if candidate in artifacts:
                return candidate
        return None

    sizes = _blob_sizes(repo, [sha for sha, _ in staged]) if staged and threshold > 0 else {}
    from .progress import human_bytes

    for sha, path in staged:
        art = artifact_of(path) if artifacts else None
        if art is not None:
            problems.append(f"{path} is part of the model {art}, whose bytes belong in the model store, not in git: "
                            f"`git rm -r --cached {art}` (its pointer {art}{pointer_mod.SUFFIX} stays)")
            continue
        size = sizes.get(sha, 0)
        if threshold > 0 and size > threshold:
            looks = os.path.splitext(path)[1].lower() in MODEL_EXTENSIONS
            what = "looks like a model file" if looks else "is a large file"
            problems.append(f"{path} ({human_bytes(size)}) {what} committed to git directly (over "
                            f"hooks.large_file_threshold, {human_bytes(threshold)}): track it with gitmodels: "
                            f"`git rm --cached {path} && gitmodels add {path}`")
    return problems


def _blob_sizes(repo: "Repo", shas: list[str]) -> dict[str, int]:
    shas = sorted(set(shas))
    proc = repo.git.git("cat-file", "--batch-check=%(objectname) %(objectsize)", check=False,
                        input=("\n".join(shas) + "\n").encode())
    sizes = {}
    for line in proc.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes
