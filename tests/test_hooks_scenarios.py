"""End to end: the real git CLI, a bare git server, a directory model remote, the installed hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitutil import World, commit_all, git, gitmodels, model_bytes, remote_has, rev

V1, V2, V3 = model_bytes("v1"), model_bytes("v2"), model_bytes("v3")
DIR_V1 = {"config.json": b'{"layers": 2}', "weights/part-0.bin": model_bytes("d0"), "weights/part-1.bin":
          model_bytes("d1")}
DIR_V2 = {"config.json": b'{"layers": 3}', "weights/part-0.bin": model_bytes("d0"), "weights/part-2.bin":
          model_bytes("d2")}


def oid(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def tree_of(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def ls_remote(repo: Path, ref: str = "main") -> str | None:
    out = git(repo, "ls-remote", "origin", ref).stdout.split()
    return out[0] if out else None


@pytest.fixture
def alice(world: World) -> Path:
    """A clone with model.bin (v1) and the directory model enc/ (v1) committed and pushed, tagged v1."""
    path = world.first_clone("alice")
    world.add_model(path, "model.bin", V1)
    world.add_model(path, "enc", DIR_V1)
    commit_all(path, "models v1")
    git(path, "tag", "v1")
    git(path, "push", "-q", "origin", "main", "v1")
    return path


def test_push_uploads_and_a_clone_gets_the_models(world, alice):
    assert remote_has(world.models, oid(V1))
    for content in DIR_V1.values():
        assert remote_has(world.models, oid(content))
    assert ls_remote(alice) == rev(alice)

    bob = world.clone("bob", install=False)
    assert not (bob / "model.bin").exists()
    out = gitmodels(bob, "install")
    assert "restored 2 model(s)" in out.stderr
    assert (bob / "model.bin").read_bytes() == V1
    assert tree_of(bob / "enc") == DIR_V1


def test_clone_with_hooks_already_in_place_gets_the_models(world, alice, tmp_path):
    """With a shared core.hooksPath the clone's own checkout runs post-checkout (old = null sha)."""
    shared = tmp_path / "shared-hooks"
    git(alice, "config", "core.hooksPath", str(shared))
    gitmodels(alice, "install")
    out = git(tmp_path, "-c", f"core.hooksPath={shared}", "clone", str(world.server), str(tmp_path / "carol"))
    assert "restored 2 model(s)" in out.stderr
    assert (tmp_path / "carol" / "model.bin").read_bytes() == V1


def test_switch_branches_back_and_forth(world, alice):
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, "model.bin", V2)
    world.add_model(alice, "enc", DIR_V2)
    commit_all(alice, "models v2")
    git(alice, "switch", "-q", "-c", "bare", "main")
    git(alice, "rm", "-q", "model.bin.gitmodel")
    commit_all(alice, "drop model.bin")

    for _ in range(2):
        git(alice, "switch", "-q", "main")
        assert (alice / "model.bin").read_bytes() == V1 and tree_of(alice / "enc") == DIR_V1
        git(alice, "switch", "-q", "exp")
        assert (alice / "model.bin").read_bytes() == V2 and tree_of(alice / "enc") == DIR_V2
        git(alice, "switch", "-q", "bare")  # no pointer: the hook removes it (its bytes stay in the cache)
        assert not (alice / "model.bin").exists() and tree_of(alice / "enc") == DIR_V1
    out = gitmodels(alice, "status", "--json")
    assert '"modified"' not in out.stdout and '"missing"' not in out.stdout


def test_merge_and_rebase_and_amend(world, alice):
    git(alice, "switch", "-q", "-c", "feature")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "model v2")
    git(alice, "switch", "-q", "main")
    world.add_model(alice, "enc", DIR_V2)
    commit_all(alice, "enc v2")
    assert (alice / "model.bin").read_bytes() == V1

    # merge commit (not a fast-forward): post-merge brings feature's model
    git(alice, "merge", "-q", "--no-edit", "feature")
    assert (alice / "model.bin").read_bytes() == V2 and tree_of(alice / "enc") == DIR_V2

    # rebase: feature2 is replayed on top of a main whose model moved on
    git(alice, "switch", "-q", "-c", "feature2", "v1")
    assert (alice / "model.bin").read_bytes() == V1 and tree_of(alice / "enc") == DIR_V1
    (alice / "code.py").write_text("print(1)\n")
    commit_all(alice, "code")
    git(alice, "rebase", "-q", "main")
    assert (alice / "model.bin").read_bytes() == V2 and tree_of(alice / "enc") == DIR_V2

    # amend with a new model version: the pointer committed matches the artifact
    world.add_model(alice, "model.bin", V3)
    git(alice, "commit", "-q", "--amend", "--no-edit")
    assert (alice / "model.bin").read_bytes() == V3
    assert f"sha256:{oid(V3)}" in git(alice, "show", "HEAD:model.bin.gitmodel").stdout
    git(alice, "switch", "-q", "main")
    assert (alice / "model.bin").read_bytes() == V2
    git(alice, "switch", "-q", "feature2")
    assert (alice / "model.bin").read_bytes() == V3


def test_pull_fast_forward_and_with_a_merge_commit(world, alice):
    bob = world.clone("bob")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")

    git(bob, "pull", "-q", "origin", "main")  # fast-forward
    assert (bob / "model.bin").read_bytes() == V2

    world.add_model(alice, "model.bin", V3)
    commit_all(alice, "v3")
    git(alice, "push", "-q", "origin", "main")
    (bob / "notes.txt").write_text("bob's work\n")
    commit_all(bob, "notes")
    git(bob, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")  # a merge commit
    assert len(git(bob, "log", "-1", "--format=%P").stdout.split()) == 2
    assert (bob / "model.bin").read_bytes() == V3


def test_detached_tag_checkout_and_file_checkout(world, alice):
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "checkout", "-q", "v1")
    assert (alice / "model.bin").read_bytes() == V1
    git(alice, "checkout", "-q", "main")
    assert (alice / "model.bin").read_bytes() == V2

    git(alice, "checkout", "v1", "--", "model.bin.gitmodel")  # file checkout: flag 0, HEAD unchanged
    assert (alice / "model.bin").read_bytes() == V1
    git(alice, "checkout", "HEAD", "--", "model.bin.gitmodel")
    assert (alice / "model.bin").read_bytes() == V2


def test_push_uploads_a_model_only_a_middle_commit_uses(world, alice):
    middle = model_bytes("only in the middle")
    world.add_model(alice, "scratch.bin", middle)
    commit_all(alice, "try a model")
    git(alice, "rm", "-q", "scratch.bin.gitmodel")
    commit_all(alice, "drop it again")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")
    assert remote_has(world.models, oid(middle))
    assert remote_has(world.models, oid(V2))

    # the same on a new branch: measured against what origin/* already has
    git(alice, "switch", "-q", "-c", "topic")
    side = model_bytes("side branch middle")
    world.add_model(alice, "side.bin", side)
    commit_all(alice, "side model")
    git(alice, "rm", "-q", "side.bin.gitmodel")
    commit_all(alice, "drop side model")
    git(alice, "push", "-q", "origin", "topic")
    assert remote_has(world.models, oid(side))


def test_unreachable_model_remote_stops_the_push(world, alice):
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    before = ls_remote(alice)
    hidden = world.models.with_name("models-offline")
    world.models.rename(hidden)
    try:
        out = git(alice, "push", "origin", "main", check=False)
        assert out.returncode != 0
        assert "the push was stopped" in out.stderr and "does not exist" in out.stderr
        assert "Traceback" not in out.stderr
        assert ls_remote(alice) == before  # the git server did not get the commit
        out = git(alice, "push", "origin", "--delete", "nonexistent-branch", check=False)
        assert "the push was stopped" not in out.stderr  # a deletion uploads nothing
    finally:
        hidden.rename(world.models)
    git(alice, "push", "-q", "origin", "main")
    assert ls_remote(alice) == rev(alice)
    assert remote_has(world.models, oid(V2))


def test_second_push_of_known_objects_asks_the_remote_nothing(world, alice, monkeypatch, tmp_path):
    from tests.remote_calls import count_remote_calls

    remote = count_remote_calls(monkeypatch, tmp_path)
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")
    # The new object: one existence question per key kind it may live under (objects/, recipes/), then its upload.
    asked = remote.existence_questions(oid(V2))
    assert 1 <= len(asked) <= 2 and len(set(asked)) == len(asked)
    assert remote_has(world.models, oid(V2))
    remote.clear()
    hidden = world.models.with_name("models-offline")
    world.models.rename(hidden)  # any question to the remote would now fail
    try:
        git(alice, "switch", "-q", "-c", "back-to-v1")
        world.add_model(alice, "model.bin", V1)
        commit_all(alice, "back to v1")
        git(alice, "push", "-q", "origin", "back-to-v1")
        assert ls_remote(alice, "back-to-v1") == rev(alice)
    finally:
        hidden.rename(world.models)
    assert remote.calls() == []  # the pushed commit's objects were all seen on the remote before


def test_offline_checkout_warns_and_succeeds(world, alice):
    bob = world.clone("bob")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")
    git(bob, "fetch", "-q", "origin")
    hidden = world.models.with_name("models-offline")
    world.models.rename(hidden)
    try:
        out = git(bob, "merge", "--ff-only", "origin/main")
        assert out.returncode == 0
        assert "warning: model.bin not restored" in out.stderr and "gitmodels pull" in out.stderr
        assert (bob / "model.bin").read_bytes() == V1
    finally:
        hidden.rename(world.models)
    gitmodels(bob, "pull")
    assert (bob / "model.bin").read_bytes() == V2


def test_unsaved_user_change_is_not_overwritten(world, alice):
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    mine = model_bytes("my experiment, not added")
    (alice / "model.bin").write_bytes(mine)
    out = git(alice, "switch", "main")
    assert out.returncode == 0
    assert "model.bin was modified and not saved" in out.stderr and "gitmodels add model.bin" in out.stderr
    assert (alice / "model.bin").read_bytes() == mine


def test_user_hook_still_runs_next_to_ours(world, alice, tmp_path):
    log = tmp_path / "user.log"
    for name in ("post-checkout", "post-merge"):
        hook = alice / ".git" / "hooks" / f"{name}{'.pre-gitmodels'}"
        hook.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        hook.chmod(0o755)
    gitmodels(alice, "install")
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "switch", "-q", "main")
    assert (alice / "model.bin").read_bytes() == V1
    git(alice, "merge", "-q", "--ff-only", "exp")
    assert (alice / "model.bin").read_bytes() == V2
    lines = log.read_text().splitlines()
    assert any(line.startswith("post-checkout ") and line.endswith(" 1") for line in lines)
    assert "post-merge 0" in lines


def test_user_hook_is_chained_when_installed_over_it(world, tmp_path):
    """A hook present before `gitmodels install` keeps running, before ours."""
    alice = world.first_clone("alice")
    gitmodels(alice, "uninstall")
    log = tmp_path / "user.log"
    hook = alice / ".git" / "hooks" / "post-checkout"
    hook.write_text(f'#!/bin/sh\necho "user $3" >> "{log}"\n')
    hook.chmod(0o755)
    gitmodels(alice, "install")
    world.add_model(alice, "model.bin", V1)
    commit_all(alice, "v1")
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "switch", "-q", "main")
    assert log.read_text().splitlines()[-1] == "user 1"
    assert (alice / "model.bin").read_bytes() == V1


def test_skip_variable(world, alice):
    git(alice, "switch", "-q", "-c", "exp")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    skip = {"GITMODELS_SKIP": "1"}
    git(alice, "switch", "-q", "main", extra_env=skip)
    assert (alice / "model.bin").read_bytes() == V2  # not restored
    gitmodels(alice, "checkout")
    assert (alice / "model.bin").read_bytes() == V1
    git(alice, "push", "-q", "origin", "exp", extra_env=skip)
    assert ls_remote(alice, "exp") == rev(alice, "exp")
    assert not remote_has(world.models, oid(V2))


def test_config_switches(world, alice):
    (alice / "gitmodels.toml").write_text((alice / "gitmodels.toml").read_text()
                                          + "\n[hooks]\nauto_push = false\nfetch_on_checkout = false\n")
    commit_all(alice, "hooks off")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")
    assert not remote_has(world.models, oid(V2))
    gitmodels(alice, "push")

    bob = world.clone("bob", install=False)
    gitmodels(bob, "install", "--no-checkout")
    git(bob, "checkout", "-q", "v1")  # v1's gitmodels.toml predates the switch: v1's model is fetched
    assert (bob / "model.bin").read_bytes() == V1
    out = git(bob, "checkout", "main")  # main's says fetch_on_checkout = false: v2 is not fetched
    assert "fetch_on_checkout is off" in out.stderr and (bob / "model.bin").read_bytes() == V1


def test_pre_commit_refusals(world, alice):
    # a stale pointer: the artifact changed after `gitmodels add`
    world.add_model(alice, "model.bin", V2)
    (alice / "model.bin").write_bytes(V3)
    out = git(alice, "commit", "-m", "stale", check=False)
    assert out.returncode != 0
    assert "model.bin.gitmodel is stale" in out.stderr and "`gitmodels add model.bin`" in out.stderr
    gitmodels(alice, "add", "model.bin")
    git(alice, "commit", "-q", "-m", "v3")

    # a model file committed to git directly
    (alice / "gitmodels.toml").write_text((alice / "gitmodels.toml").read_text()
                                          + "\n[hooks]\nlarge_file_threshold = 200000\n")
    commit_all(alice, "lower threshold")
    (alice / "weights.safetensors").write_bytes(model_bytes("big", 300_000))
    git(alice, "add", "weights.safetensors")
    out = git(alice, "commit", "-m", "oops", check=False)
    assert out.returncode != 0
    assert "weights.safetensors" in out.stderr and "looks like a model file" in out.stderr
    assert "gitmodels add weights.safetensors" in out.stderr
    (alice / "small.txt").write_text("fine\n")
    git(alice, "add", "small.txt")
    git(alice, "rm", "-q", "--cached", "weights.safetensors")
    git(alice, "commit", "-q", "-m", "small")

    # a staged pointer whose model is in no cache and on no remote
    (alice / "ghost.bin.gitmodel").write_text(
        f'version = 1\noid = "sha256:{"ab" * 32}"\nsize = 10\nkind = "file"\n')
    git(alice, "add", "ghost.bin.gitmodel")
    out = git(alice, "commit", "-m", "ghost", check=False)
    assert out.returncode != 0 and "is not in the local cache" in out.stderr
    git(alice, "commit", "-q", "-m", "ghost", extra_env={"GITMODELS_SKIP": "1"})


def test_partial_commit_checks_the_staged_pointer(world, alice):
    """`git commit PATH` runs the hook on a temporary index (GIT_INDEX_FILE)."""
    (alice / "model.bin").write_bytes(V2)
    gitmodels(alice, "add", "--no-stage", "model.bin")
    (alice / "model.bin").write_bytes(V3)
    out = git(alice, "commit", "-m", "partial", "model.bin.gitmodel", check=False)
    assert out.returncode != 0 and "stale" in out.stderr


def test_worktree_checkout_restores_models(world, alice, tmp_path):
    git(alice, "branch", "exp")
    wt = tmp_path / "wt"
    git(alice, "worktree", "add", "-q", str(wt), "exp")
    assert (wt / "model.bin").read_bytes() == V1  # the worktree's own checkout ran the hook
    world.add_model(wt, "model.bin", V2)
    commit_all(wt, "v2 in the worktree")
    git(wt, "checkout", "-q", "--detach", "main")
    assert (wt / "model.bin").read_bytes() == V1
    assert (alice / "model.bin").read_bytes() == V1


def test_merge_with_a_conflict_restores_models_when_committed(world, alice):
    """git runs no post-merge after a conflicted merge: post-index-change restores what the merge wrote."""
    git(alice, "switch", "-q", "-c", "feature")
    (alice / "code.txt").write_text("feature\n")
    world.add_model(alice, "enc", DIR_V2)
    commit_all(alice, "feature: code + enc v2")
    git(alice, "switch", "-q", "main")
    (alice / "code.txt").write_text("main\n")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "main: code + model v2")
    out = git(alice, "merge", "feature", check=False)
    assert out.returncode != 0 and "CONFLICT" in out.stdout
    assert "restored 1 model(s): enc" in out.stderr and tree_of(alice / "enc") == DIR_V2
    (alice / "code.txt").write_text("merged\n")
    git(alice, "add", "code.txt")
    git(alice, "commit", "--no-edit")
    assert tree_of(alice / "enc") == DIR_V2 and (alice / "model.bin").read_bytes() == V2


def test_pull_rebase(world, alice):
    bob = world.clone("bob")
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2")
    git(alice, "push", "-q", "origin", "main")
    (bob / "notes.txt").write_text("bob\n")
    commit_all(bob, "notes")
    git(bob, "pull", "-q", "--rebase", "origin", "main")
    assert (bob / "model.bin").read_bytes() == V2
    world.add_model(alice, "model.bin", V3)
    commit_all(alice, "v3")
    git(alice, "push", "-q", "origin", "main")
    git(bob, "push", "-q", "origin", "HEAD:refs/heads/bob")
    git(bob, "reset", "-q", "--hard", "origin/main")  # no hook runs on reset: catch up by hand
    git(bob, "pull", "-q", "--rebase", "origin", "main")  # a fast-forward rebase
    assert (bob / "model.bin").read_bytes() == V3


def test_pre_commit_framework_passes_arguments_in_the_environment(world, alice):
    """Run the way pre-commit's hooks run: no arguments, PRE_COMMIT_* variables, no stdin lines."""
    old = rev(alice)
    world.add_model(alice, "model.bin", V2)
    commit_all(alice, "v2", extra_env={"GITMODELS_SKIP": "1"})
    new = rev(alice)
    env = {"PRE_COMMIT_REMOTE_NAME": "origin", "PRE_COMMIT_REMOTE_URL": str(world.server),
           "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main", "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main",
           "PRE_COMMIT_FROM_REF": old, "PRE_COMMIT_TO_REF": new}
    gitmodels(alice, "hook", "pre-push", extra_env=env, input="")
    assert remote_has(world.models, oid(V2))

    git(alice, "checkout", "-q", "v1", extra_env={"GITMODELS_SKIP": "1"})
    assert (alice / "model.bin").read_bytes() == V2
    env = {"PRE_COMMIT_FROM_REF": new, "PRE_COMMIT_TO_REF": rev(alice, "v1"), "PRE_COMMIT_CHECKOUT_TYPE": "1"}
    out = gitmodels(alice, "hook", "post-checkout", extra_env=env)
    assert "restored 1 model(s): model.bin" in out.stderr
    assert (alice / "model.bin").read_bytes() == V1
