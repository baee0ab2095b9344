"""pre-commit: what a commit may record (staged pointers, the committed config, big files left out of gitmodels)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gitmodels.storage import pointer as pointer_mod
from gitmodels.errors import BadPointer, GitModelsError, NoRemote, RemoteError
from gitmodels.storage.pointer import Pointer
from gitmodels.hooks import HookRefused, HookReport
from gitmodels.workspace import status as status_mod

if TYPE_CHECKING:
    from gitmodels.repo import Repo

MODEL_EXTENSIONS = (".pt", ".pth", ".bin", ".safetensors", ".onnx", ".h5", ".hdf5", ".keras", ".joblib",
                    ".pkl", ".pickle", ".cbm", ".ubj", ".ckpt", ".gguf", ".npz", ".npy", ".pb", ".tflite",
                    ".mlmodel", ".model", ".xgb", ".lgb", ".params")


# -- pre-commit ---------------------------------------------------------------------------

def pre_commit(repo: "Repo") -> HookReport:
    """Refuse a commit that stages a stale pointer, a pointer whose model is not stored, or a big file in git."""
    report = HookReport()
    staged = repo.git.staged_changes()  # (mode, blob sha, path), from the index `git commit` is using
    problems: list[str] = []
    pointers = [(sha, path) for mode, sha, path in staged
                if path.endswith(pointer_mod.SUFFIX) and mode in ("100644", "100755")]
    others = [(sha, path) for mode, sha, path in staged
              if not path.endswith(pointer_mod.SUFFIX) and mode in ("100644", "100755")]
    _follow_moves(repo, pointers, report)
    problems.extend(_check_staged_pointers(repo, pointers, report))
    problems.extend(_check_unsaved_models(repo, {path for _, path in pointers}, report))
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
    merging = repo.git.operation_in_progress()
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
        added = status_mod.big_dir(ptr) and _added_as(repo, absolute, ptr)
        if added:
            current = ptr.oid  # what `gitmodels add` stored: committed without a walk; later edits show in status
        elif os.path.lexists(absolute):
            known = status_mod.known_artifact(repo, absolute)  # a directory: one lstat per file, no read
            current = known[0].oid if known is not None else None
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
        if not (added and repo.store.has(ptr.oid)) and not repo.in_cache(ptr):
            not_cached[ptr.oid] = (f"{ppath}: its model sha256:{ptr.oid[:12]} is not in the local cache; "
                                   + (f"store it: `gitmodels add {art}`" if current == ptr.oid
                                      else f"fetch it: `gitmodels fetch {art}`, or unstage the pointer: "
                                           f"`git restore --staged {ppath}`"))
    repo.state.flush()
    if not_cached:
        for oid in sorted(_not_on_remote(repo, set(not_cached))):
            problems.append(not_cached[oid])
    if behind and not problems:
        from gitmodels.hooks.events import _restore  # only after a merge: its imports cost every commit

        _restore(repo, behind, report)
    return problems


def _added_as(repo: "Repo", absolute: str, ptr: Pointer) -> bool:
    """Is the staged pointer of this big directory the manifest its last scan (the add) recorded?

    Then the commit trusts it without a stat of its files or of their cached copies (a 100,000-file
    model would cost a walk of each on every commit): it records exactly the bytes the add stored in
    the cache, and an edit made since the add is kept in the workspace and shown by `gitmodels status`
    (docs/hooks.md)."""
    recorded = repo.state.recorded_dir(absolute)
    return recorded is not None and recorded[0] == ptr.oid


def _follow_moves(repo: "Repo", pointers: list[tuple[str, str]], report: HookReport) -> None:
    """`git mv` of a pointer: the model's bytes and ignore rule move with it (gitmodels.workspace.moves)."""
    from gitmodels.workspace import moves

    try:
        followed = moves.follow_staged(repo, pointers)
    except (GitModelsError, OSError) as exc:  # the commit is still checked below; say what did not follow
        report.warnings.append(f"a moved model did not follow its pointer: {getattr(exc, 'message', exc)}")
        return
    report.info.extend(followed.info)
    report.warnings.extend(followed.warnings)


UNSAVED_MODES = ("warn", "refuse")


def _check_unsaved_models(repo: "Repo", staged: set[str], report: HookReport) -> list[str]:
    """Models whose bytes changed since their pointer and were never `gitmodels add`ed: the commit would
    record the old model. A warning each (hooks.unsaved_models = "warn"), or problems that stop it ("refuse").

    The same rule as `gitmodels status` "modified", through the stat cache: bytes the cache holds (an
    earlier version gitmodels wrote or stored) are stale, not changed. Staged pointers were checked above.
    """
    from gitmodels.errors import BadConfig

    mode = repo.config.get("hooks", "unsaved_models")
    if mode not in UNSAVED_MODES:
        raise BadConfig(f"hooks.unsaved_models must be \"warn\" or \"refuse\", not {mode!r}",
                        "fix it in gitmodels.toml or .git/gitmodels/config.toml")
    stamp = _ModelsChecked(repo)
    if staged:  # the staged models were checked above: look only at the others (a big directory costs a walk)
        others = [pointer_mod.artifact_path_for(p) for p in repo.pointer_paths() if p not in staged]
        found = repo.status(paths=others) if others else []
    else:
        found = repo.status()
    lines = [f"{st.path} changed since its pointer: run `gitmodels add {st.path}` to record it"
             for st in found if st.state == "modified" and st.pointer_path not in staged]
    stamp.done(all_saved=not lines)
    if mode == "refuse":
        return lines
    report.warnings.extend(lines)
    return []


MODELS_CHECKED = "gitmodels-models-checked"  # in the worktree's git dir; hooks/pre-commit compares ctimes with it


class _ModelsChecked:
    """The mark that every model was saved when the last check started: until a file of one is written
    again (its ctime, which no tool sets back, is later than the mark's mtime), the pre-commit script
    need not start Python for this check.

    The check's start is taken from the file system's own clock (a file written just before it), one
    nanosecond earlier, so a model written in the same clock tick as the check still counts as written.
    """

    def __init__(self, repo: "Repo"):
        self.path = os.path.join(repo.git.git_dir, MODELS_CHECKED)
        self.probe: int | None = None
        try:
            with open(self.path + ".new", "w") as f:
                f.write("every model was saved when `gitmodels hook pre-commit` last checked\n")
            self.probe = os.stat(self.path + ".new").st_mtime_ns
        except OSError:
            pass  # only an optimisation: every commit then checks

    def done(self, all_saved: bool) -> None:
        try:
            if all_saved and self.probe is not None:
                os.utime(self.path + ".new", ns=(self.probe - 1, self.probe - 1))
                os.replace(self.path + ".new", self.path)
                return
            for path in (self.path + ".new", self.path):
                if os.path.exists(path):
                    os.unlink(path)
        except OSError:
            pass


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
    from gitmodels import config as config_mod
    from gitmodels.credentials import secret_settings

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

    sizes = repo.git.blob_sizes(sha for sha, _ in staged) if threshold > 0 else {}
    from gitmodels.progress import human_bytes

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

