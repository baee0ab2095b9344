"""Restore outcomes are types (workspace/restore.py), and their words live in one place (workspace/report.py)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import gitmodels
from gitmodels.errors import (
    CorruptObject,
    GitModelsError,
    NoRemote,
    ObjectMissing,
    RemoteUnreachable,
    UnsavedChanges,
)
from gitmodels.remotes.base import KeyNotFound
from gitmodels.sync.queue import TransferResult
from gitmodels.workspace import report
from gitmodels.workspace.restore import (
    CheckoutResult,
    ModelOutcome,
    Outcome,
    not_restored,
)
from tests.gitutil import git

OID = "ab" * 32
OTHER = "cd" * 32
STOPPED = ObjectMissing("m.bin: model abababababab is not in the cache nor on the remotes tried (origin)")


def _fetched(*failed) -> TransferResult:
    return TransferResult(failed=list(failed))


# -- classification -------------------------------------------------------------------------

def test_cached_model_with_unsaved_changes_is_kept_modified():
    exc = UnsavedChanges("m.bin was modified and not saved with `gitmodels add`; not overwriting it")
    got = not_restored("m.bin", OID, exc, cached=True, fetch=True, fetched=_fetched())
    assert got == ModelOutcome("m.bin", Outcome.KEPT_MODIFIED, OID, exc)


def test_cached_model_that_cannot_be_placed_failed_whatever_the_fetch_said():
    exc = CorruptObject("corrupt object in the cache: /x")
    got = not_restored("m.bin", OID, exc, cached=True, fetch=True, fetched=_fetched(("", RemoteUnreachable("down"))))
    assert got.outcome is Outcome.FAILED and got.error is exc


def test_uncached_model_with_fetch_off_is_not_fetched():
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=False, fetched=_fetched())
    assert got.outcome is Outcome.NOT_FETCHED


@pytest.mark.parametrize("missing", [ObjectMissing("object abababababab is not on remote /r"),
                                     KeyNotFound("ab/ab is not on remote /r")])
def test_object_the_remote_lacks_is_missing_everywhere(missing):
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=True, fetched=_fetched((OID, missing)))
    assert got.outcome is Outcome.MISSING_EVERYWHERE and got.error is missing


def test_the_objects_own_failure_wins_over_another_ones():
    down = RemoteUnreachable("connection refused")
    gone = ObjectMissing("object cdcdcdcdcdcd is not on remote /r")
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=True, fetched=_fetched((OTHER, gone), (OID, down)))
    assert got.outcome is Outcome.REMOTE_UNREACHABLE and got.error is down


@pytest.mark.parametrize("whole", [NoRemote("no model remote configured"), RemoteUnreachable("timed out")])
def test_a_fetch_that_failed_as_a_whole_is_remote_unreachable(whole):
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=True, fetched=_fetched(("", whole)))
    assert got.outcome is Outcome.REMOTE_UNREACHABLE and got.error is whole


def test_a_message_that_reads_like_missing_does_not_decide():
    """The type decides: a remote error whose text says "is not on remote" is still an unreachable remote."""
    odd = RemoteUnreachable("proxy said: object is not on remote (upstream timeout)")
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=True, fetched=_fetched((OID, odd)))
    assert got.outcome is Outcome.REMOTE_UNREACHABLE


def test_uncached_after_a_quiet_fetch_is_not_cached():
    got = not_restored("m.bin", OID, STOPPED, cached=False, fetch=True, fetched=_fetched())
    assert got == ModelOutcome("m.bin", Outcome.NOT_CACHED, OID, STOPPED)


def test_checkout_result_sorts_paths_by_outcome():
    result = CheckoutResult([ModelOutcome("a", Outcome.RESTORED), ModelOutcome("b", Outcome.UNCHANGED),
                             ModelOutcome("c", Outcome.KEPT_MODIFIED, OID, UnsavedChanges("c")),
                             ModelOutcome("d", Outcome.RESTORED)])
    assert result.restored == ["a", "d"] and result.unchanged == ["b"]
    assert [p.path for p in result.problems] == ["c"]


# -- messages ---------------------------------------------------------------------------------

def _line(outcome: Outcome, error: GitModelsError | None = None) -> str:
    return report.problem_line(ModelOutcome("models/m.bin", outcome, OID, error))


def test_each_problem_says_what_to_run():
    assert _line(Outcome.KEPT_MODIFIED, UnsavedChanges("models/m.bin was modified")) == (
        "models/m.bin was modified (keep your version: `gitmodels add models/m.bin`; take the committed one: "
        "`gitmodels checkout --force models/m.bin`)")
    assert _line(Outcome.FAILED, CorruptObject("corrupt object in the cache: /x")) == (
        "corrupt object in the cache: /x; fix it, then run `gitmodels checkout models/m.bin`")
    assert _line(Outcome.BAD_POINTER, GitModelsError("models/m.bin.gitmodel: not a pointer")) == (
        "models/m.bin.gitmodel: not a pointer; fix it, then run `gitmodels checkout`")
    assert _line(Outcome.NOT_FETCHED, STOPPED) == (
        "models/m.bin not restored: model sha256:abababababab is not in the local cache and "
        "hooks.fetch_on_checkout is off; run `gitmodels pull`")
    assert _line(Outcome.MISSING_EVERYWHERE, ObjectMissing("gone")) == (
        "models/m.bin not restored: model sha256:abababababab is neither in the cache nor on the model remote; "
        "`gitmodels push` it from the clone that has it, then `gitmodels pull`")
    assert _line(Outcome.REMOTE_UNREACHABLE, RemoteUnreachable("connection refused")) == (
        "models/m.bin not restored: could not fetch it (connection refused); run `gitmodels pull` once the "
        "model remote is reachable")
    assert _line(Outcome.NOT_CACHED, ObjectMissing("not here")) == (
        "models/m.bin not restored: not here; run `gitmodels pull`")


@pytest.mark.parametrize("outcome", [Outcome.RESTORED, Outcome.UNCHANGED])
def test_a_done_model_has_no_warning(outcome):
    with pytest.raises(ValueError):
        _line(outcome)


def test_every_problem_outcome_has_words():
    for outcome in Outcome:
        if outcome not in (Outcome.RESTORED, Outcome.UNCHANGED):
            assert _line(outcome, GitModelsError("why")).strip()


def test_restored_line_names_five_then_counts():
    assert report.restored_line(CheckoutResult([ModelOutcome("x", Outcome.UNCHANGED)])) is None
    result = CheckoutResult([ModelOutcome(f"m{i}", Outcome.RESTORED) for i in range(7)])
    assert report.restored_line(result) == "restored 7 model(s): m0, m1, m2, m3, m4 and 2 more"


def test_problem_lines_past_the_limit_end_with_a_count():
    result = CheckoutResult([ModelOutcome(f"m{i}", Outcome.NOT_CACHED, OID, ObjectMissing("x")) for i in range(12)])
    lines = report.problem_lines(result, 10)
    assert len(lines) == 10 and lines[0] == "m0 not restored: x; run `gitmodels pull`"
    assert lines[-1] == "... and 3 more model(s) not restored; run `gitmodels pull`"
    assert len(report.problem_lines(result, 12)) == 12


def test_bad_pointer_line_carries_the_hint():
    exc = GitModelsError("a.gitmodel: bad oid", "restore it from git")
    assert report.bad_pointer_line("a.gitmodel", exc) == \
        "a.gitmodel: bad oid; its model was not restored (restore it from git)"


# -- a real checkout gives typed outcomes ---------------------------------------------------------

def _repo_with_model(repo_path: Path):
    from gitmodels.repo import Repo

    (repo_path / "m.bin").write_bytes(b"model v1" * 100)
    r = Repo(str(repo_path))
    r.add([str(repo_path / "m.bin")], progress=False)
    return r


def _by_path(result: CheckoutResult) -> dict[str, Outcome]:
    return {o.path: o.outcome for o in result.outcomes}


def test_checkout_outcomes_in_a_real_repository(repo):
    with _repo_with_model(repo) as r:
        assert _by_path(r.checkout(strict=False)) == {"m.bin": Outcome.UNCHANGED}
        os.unlink(repo / "m.bin")
        assert _by_path(r.checkout(strict=False)) == {"m.bin": Outcome.RESTORED}
        os.chmod(repo / "m.bin", 0o644)
        (repo / "m.bin").write_bytes(b"my own edit")
        result = r.checkout(strict=False)
        assert _by_path(result) == {"m.bin": Outcome.KEPT_MODIFIED}
        assert isinstance(result.problems[0].error, UnsavedChanges)
        assert (repo / "m.bin").read_bytes() == b"my own edit"


def test_checkout_of_a_model_neither_cached_nor_pushed(repo):
    with _repo_with_model(repo) as r:
        ptr = r.pointers()["m.bin"]
        os.unlink(repo / "m.bin")
        os.chmod(r.store.path(ptr.oid), 0o644)
        os.unlink(r.store.path(ptr.oid))
        assert _by_path(r.checkout(strict=False, fetch=False)) == {"m.bin": Outcome.NOT_FETCHED}
        result = r.checkout(strict=False)
        assert _by_path(result) == {"m.bin": Outcome.MISSING_EVERYWHERE}
        assert isinstance(result.problems[0].error, ObjectMissing)


def test_checkout_with_no_model_remote_is_remote_unreachable(tmp_path):
    from gitmodels.repo import Repo

    work = tmp_path / "no-remote"
    work.mkdir()
    git(work, "init", "-q")
    with Repo(str(work)) as r:
        r.init()
    with _repo_with_model(work) as r:
        ptr = r.pointers()["m.bin"]
        os.unlink(work / "m.bin")
        os.chmod(r.store.path(ptr.oid), 0o644)
        os.unlink(r.store.path(ptr.oid))
        result = r.checkout(strict=False)
        assert _by_path(result) == {"m.bin": Outcome.REMOTE_UNREACHABLE}
        assert isinstance(result.problems[0].error, NoRemote)
        assert report.problem_line(result.problems[0]).startswith("m.bin not restored: could not fetch it (")


def test_checkout_records_unreadable_pointers_as_bad_pointer(repo):
    with _repo_with_model(repo) as r:
        (repo / "m.bin.gitmodel").write_text("not a pointer\n")
        result = r.checkout(strict=False)
        assert _by_path(result) == {"m.bin": Outcome.BAD_POINTER}
        assert report.problem_line(result.problems[0]).endswith("; fix it, then run `gitmodels checkout`")


# -- who may run git, who may import whom --------------------------------------------------------

PACKAGE = Path(gitmodels.__file__).parent
OWNED = ["repo.py", "api.py", "cli/init.py", "registry/aliases.py", *[f"hooks/{p.name}" for p in
         (PACKAGE / "hooks").glob("*.py")], *[f"workspace/{p.name}" for p in (PACKAGE / "workspace").glob("*.py")]]


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("rel", OWNED)
def test_only_git_package_runs_git(rel):
    tree = ast.parse((PACKAGE / rel).read_text())
    imported = _imports(tree)
    assert not [m for m in imported if m == "subprocess" or m.startswith("dulwich")]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("_run", "repo")
             and isinstance(n.value, ast.Attribute) and n.value.attr == "git"]
    assert not calls, f"{rel} reaches into GitRepo ({', '.join(c.attr for c in calls)})"


def test_repo_py_never_imports_hooks_or_cli_and_stays_short():
    text = (PACKAGE / "repo.py").read_text()
    imported = _imports(ast.parse(text))
    assert not [m for m in imported if m.startswith(("gitmodels.hooks", "gitmodels.cli"))]
    assert len(text.splitlines()) < 600


def test_init_without_hooks_installs_none(repo):
    """Repo.init prepares config only; `gitmodels init` (cli/init.py) is what installs the hooks."""
    from gitmodels.repo import Repo

    fresh = repo.parent / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    with Repo(str(fresh)) as r:
        r.init()
        assert not (Path(r.git.hooks_dir()) / "post-checkout").exists()
