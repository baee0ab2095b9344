"""Every git command leaves the model matching its pointer (issue #24): the commands that run none of
post-checkout, post-merge and post-rewrite, caught by the post-index-change hook; and sparse checkouts.

Real git CLI, a bare server, a directory model remote, `gitmodels install` done (as in test_hooks_scenarios).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.gitutil import World, commit_all, git, gitmodels, model_bytes

V1, V2, V3, V4 = (model_bytes(f"wf{i}") for i in range(1, 5))
MODEL = "models/m.bin"


def pointer_oid(repo: Path, rel: str = MODEL) -> str:
    for line in (repo / f"{rel}.gitmodel").read_text().splitlines():
        if "sha256:" in line:
            return line.split("sha256:")[1].strip().strip('"')
    raise AssertionError(f"no oid in {rel}.gitmodel")


def assert_in_step(repo: Path, expected: bytes, rel: str = MODEL) -> None:
    """The bytes on disk are the pointer's version, and status neither calls them modified nor says `add`."""
    data = (repo / rel).read_bytes()
    assert data == expected, f"{rel} holds {hashlib.sha256(data).hexdigest()[:12]}, wanted the pointer's bytes"
    assert pointer_oid(repo, rel) == hashlib.sha256(expected).hexdigest()
    status = gitmodels(repo, "status", check=False)
    assert "gitmodels add" not in status.output, status.output
    models = json.loads(gitmodels(repo, "status", "--json", check=False).stdout)["models"]
    assert [m["state"] for m in models if m["path"] == rel] == ["up-to-date"], models


@pytest.fixture
def alice(world: World) -> Path:
    """A clone with src/ code and models/m.bin committed at v1 then v2 (pushed), hooks installed."""
    path = world.first_clone("alice")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('hi')\n")
    world.add_model(path, MODEL, V1)
    commit_all(path, "model v1")
    world.add_model(path, MODEL, V2)
    commit_all(path, "model v2")
    git(path, "push", "-q", "origin", "main")
    assert (path / ".git" / "hooks" / "post-index-change").exists()
    return path


def test_reset_hard_restores_the_older_model(alice):
    git(alice, "reset", "-q", "--hard", "HEAD~1")
    assert_in_step(alice, V1)
    git(alice, "reset", "-q", "--hard", "ORIG_HEAD")
    assert_in_step(alice, V2)


def test_revert_restores_the_reverted_model(alice):
    git(alice, "revert", "--no-edit", "HEAD")
    assert_in_step(alice, V1)


def test_cherry_pick_brings_the_picked_model(world, alice):
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, MODEL, V3)
    commit_all(alice, "model v3")
    picked = git(alice, "rev-parse", "HEAD").stdout.strip()
    git(alice, "switch", "-q", "main")
    assert_in_step(alice, V2)
    git(alice, "cherry-pick", picked)
    assert_in_step(alice, V3)


def test_stash_and_stash_pop(world, alice):
    world.add_model(alice, MODEL, V3)  # saved in the cache, pointer staged, not committed
    git(alice, "stash", "-q")
    assert_in_step(alice, V2)
    git(alice, "stash", "pop", "-q")
    assert_in_step(alice, V3)


def test_merge_abort_after_checkout_theirs(world, alice):
    git(alice, "switch", "-q", "-c", "other")
    world.add_model(alice, MODEL, V4)
    commit_all(alice, "model v4")
    git(alice, "switch", "-q", "main")
    world.add_model(alice, MODEL, V3)
    commit_all(alice, "model v3")
    assert git(alice, "merge", "other", check=False).returncode != 0  # both changed the pointer
    git(alice, "checkout", "--theirs", f"{MODEL}.gitmodel")
    assert_in_step(alice, V4)
    git(alice, "merge", "--abort")
    assert_in_step(alice, V3)


def test_rebase_interactive_stopped_at_edit(world, alice):
    world.add_model(alice, MODEL, V3)
    commit_all(alice, "model v3")
    (alice / "src" / "app.py").write_text("print('bye')\n")
    commit_all(alice, "code")
    env = {"GIT_SEQUENCE_EDITOR": "sed -i -e 's/^pick/edit/'"}
    git(alice, "rebase", "-i", "HEAD~2", extra_env=env)  # stops at the v3 commit
    assert git(alice, "log", "-1", "--format=%s").stdout.strip() == "model v3"
    assert_in_step(alice, V3)
    git(alice, "reset", "-q", "--hard", "HEAD~1")  # drop it while stopped
    assert_in_step(alice, V2)
    git(alice, "rebase", "--continue")
    git(alice, "rebase", "--abort")
    assert_in_step(alice, V3)


def test_sparse_checkout_skips_then_restores(world, alice):
    git(alice, "sparse-checkout", "set", "src")
    assert not (alice / f"{MODEL}.gitmodel").exists()
    assert not (alice / MODEL).exists()  # its bytes are in the cache: removed with its pointer
    for args in (("status",), ("pull",), ("checkout",)):
        out = gitmodels(alice, *args)  # exits 0: nothing to restore, no hint naming a failing command
        assert "1 model outside the sparse checkout was skipped" in out.stderr, out.output
        assert "git checkout --" not in out.output
        assert "gitmodels add" not in out.output  # the model is not missing from the repository
    assert "no models in this sparse checkout" in gitmodels(alice, "status").stdout
    git(alice, "sparse-checkout", "add", "models")
    assert_in_step(alice, V2)
    git(alice, "sparse-checkout", "set", "src")
    assert not (alice / MODEL).exists()
    git(alice, "sparse-checkout", "disable")
    assert_in_step(alice, V2)


def test_first_sparse_checkout_of_a_clone_that_has_a_record_is_followed(alice):
    """The first `git sparse-checkout set` runs post-index-change while `.git/info/sparse-checkout` is still
    a lock file: the hook must compare then too, or it keeps the record of the full checkout and the
    later `disable` looks like nothing changed."""
    git(alice, "checkout", "-q", "HEAD~1")
    git(alice, "checkout", "-q", "-")  # post-checkout writes the record of what the working tree matches
    assert_in_step(alice, V2)
    assert not (alice / ".git" / "info" / "sparse-checkout").exists()
    git(alice, "sparse-checkout", "set", "src")
    assert not (alice / MODEL).exists()
    git(alice, "sparse-checkout", "disable")
    assert_in_step(alice, V2)


def test_unsaved_model_is_kept_through_reset_hard(alice):
    (alice / MODEL).write_bytes(b"retrained, never added")
    out = git(alice, "reset", "--hard", "HEAD~1")
    assert (alice / MODEL).read_bytes() == b"retrained, never added"
    assert f"gitmodels add {MODEL}" in out.stderr and f"gitmodels checkout --force {MODEL}" in out.stderr


def test_nothing_changed_starts_no_python(alice):
    """`git status`, `git add`, `git commit` of code and a reset that moves no pointer: the hook
    returns from the shell (the record is rewritten each time its Python runs)."""
    record = alice / ".git" / "gitmodels" / "synced"
    git(alice, "reset", "-q", "--hard")  # `gitmodels add` dropped the record: this run writes it
    before = record.stat().st_mtime_ns
    (alice / "src" / "app.py").write_text("print(2)\n")
    git(alice, "status")
    git(alice, "add", "src/app.py")
    git(alice, "commit", "-q", "-m", "code")
    git(alice, "reset", "-q", "--hard", "HEAD~1")
    assert record.stat().st_mtime_ns == before
    git(alice, "reset", "-q", "--hard", "HEAD~1")  # this one moves the pointer
    assert record.stat().st_mtime_ns != before
    assert_in_step(alice, V1)
