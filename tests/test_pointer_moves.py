"""Moving and removing pointers with git and with gitmodels, and commits that forget `gitmodels add`.

Real git CLI, hooks installed: `git mv` of a pointer moves the model and its ignore rule at the commit (or
at `gitmodels checkout`), `git rm` leaves an orphan that status lists and `gitmodels rm` deletes,
`gitmodels mv` / `gitmodels rm` do both sides at once, and pre-commit warns (or refuses) when a model
changed since its pointer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitutil import World, commit_all, git, gitmodels, model_bytes
from tests.test_json import check_forms, documented, keys_of

V1, V2, EDITED = model_bytes("v1"), model_bytes("v2"), model_bytes("edited by hand")


@pytest.fixture
def alice(world: World) -> Path:
    """A clone with models/m.bin (v1) committed and the hooks installed."""
    path = world.first_clone("alice")
    world.add_model(path, "models/m.bin", V1)
    (path / "train.py").write_text("lr = 0.1\n")
    commit_all(path, "v1")
    return path


def porcelain(repo: Path) -> list[str]:
    return git(repo, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()


def states(repo: Path) -> dict[str, str]:
    doc = json.loads(gitmodels(repo, "status", "--json").stdout)
    return {m["path"]: m["state"] for m in doc["models"]}


# -- git mv / git rm ----------------------------------------------------------------------

def test_git_mv_and_commit_moves_the_model_and_its_ignore_rule(alice):
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    out = git(alice, "commit", "-q", "-m", "rename")
    assert "moved models/m.bin to models/n.bin" in out.stderr
    assert (alice / "models" / "n.bin").read_bytes() == V1
    assert not (alice / "models" / "m.bin").exists()
    assert porcelain(alice) == []  # the rule moved in the same commit: nothing untracked, nothing modified
    assert git(alice, "show", "HEAD:models/.gitignore").stdout.count("/n.bin") == 1
    assert "/m.bin" not in git(alice, "show", "HEAD:models/.gitignore").stdout
    assert states(alice) == {"models/n.bin": "up-to-date"}


def test_reverting_a_committed_git_mv_moves_the_model_back(alice):
    """The move happened in pre-commit, outside post-index-change's record: a later revert (which only
    post-index-change sees) must still find the pointer renamed and put the model back at the old path."""
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    git(alice, "commit", "-q", "-m", "rename")
    git(alice, "revert", "--no-edit", "HEAD")
    assert (alice / "models" / "m.bin").read_bytes() == V1
    assert not (alice / "models" / "n.bin").exists()
    assert porcelain(alice) == []
    assert states(alice) == {"models/m.bin": "up-to-date"}


def test_gitmodels_mv_then_git_reset_hard_puts_the_model_back(alice):
    gitmodels(alice, "mv", "models/m.bin", "models/n.bin")
    git(alice, "reset", "-q", "--hard")
    assert (alice / "models" / "m.bin").read_bytes() == V1
    assert not (alice / "models" / "n.bin").exists()
    assert states(alice) == {"models/m.bin": "up-to-date"}


def test_git_mv_then_gitmodels_checkout_puts_the_model_at_the_new_path(alice):
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    out = gitmodels(alice, "checkout")
    assert "moved     models/m.bin -> models/n.bin" in out.stdout
    assert (alice / "models" / "n.bin").read_bytes() == V1 and not (alice / "models" / "m.bin").exists()
    assert sorted(porcelain(alice)) == ["M  models/.gitignore", "R  models/m.bin.gitmodel -> models/n.bin.gitmodel"]
    git(alice, "commit", "-q", "-m", "rename")
    assert porcelain(alice) == [] and states(alice) == {"models/n.bin": "up-to-date"}


def test_git_mv_of_a_model_edited_by_hand_keeps_the_edit_at_the_old_path(alice):
    (alice / "models" / "m.bin").write_bytes(EDITED)
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    out = git(alice, "commit", "-q", "-m", "rename")
    assert "kept models/m.bin: its bytes changed since its pointer" in out.stderr
    assert (alice / "models" / "n.bin").read_bytes() == V1  # the pointer's model, from the cache
    assert (alice / "models" / "m.bin").read_bytes() == EDITED  # stored nowhere else: kept
    assert states(alice) == {"models/m.bin": "orphaned", "models/n.bin": "up-to-date"}
    assert porcelain(alice) == []  # still ignored while it waits for a decision


def test_git_mv_of_a_stale_model_cleans_up_the_old_path(alice, world):
    world.add_model(alice, "models/m.bin", V2)
    commit_all(alice, "v2")
    (alice / "models" / "m.bin").write_bytes(V1)  # an earlier version: the cache has it
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    git(alice, "commit", "-q", "-m", "rename")
    assert (alice / "models" / "n.bin").read_bytes() == V2
    assert not (alice / "models" / "m.bin").exists()
    assert porcelain(alice) == [] and states(alice) == {"models/n.bin": "up-to-date"}


def test_git_rm_leaves_an_orphan_that_status_lists_and_gitmodels_rm_deletes(alice):
    git(alice, "rm", "-q", "models/m.bin.gitmodel")
    out = git(alice, "commit", "-q", "-m", "drop the model")
    assert "models/m.bin is no longer tracked" in out.stderr and "gitmodels rm models/m.bin" in out.stderr
    assert (alice / "models" / "m.bin").exists()
    text = gitmodels(alice, "status").stdout
    assert "models/m.bin" in text and "orphaned (pointer removed" in text and "no models tracked" not in text
    assert states(alice) == {"models/m.bin": "orphaned"}
    out = gitmodels(alice, "rm", "models/m.bin")
    assert "removed   models/m.bin" in out.stdout
    assert not (alice / "models" / "m.bin").exists()
    git(alice, "commit", "-q", "-m", "no rule")
    assert porcelain(alice) == [] and states(alice) == {}
    assert git(alice, "ls-files", "models").stdout == ""  # the .gitignore had only our rule: it went too


# -- gitmodels mv / rm --------------------------------------------------------------------

def test_gitmodels_mv_moves_all_sides_in_one_step(alice):
    (alice / "archive").mkdir()
    doc = json.loads(gitmodels(alice, "mv", "models/m.bin", "archive", "--json").stdout)
    check_forms(doc)
    assert keys_of(doc) == keys_of(documented("mv"))
    assert doc["src"] == "models/m.bin" and doc["dst"] == "archive/m.bin" and doc["artifact_moved"] is True
    assert doc["dst_pointer"] == "archive/m.bin.gitmodel"
    assert (alice / "archive" / "m.bin").read_bytes() == V1 and not (alice / "models" / "m.bin").exists()
    git(alice, "commit", "-q", "-m", "archive")
    assert porcelain(alice) == [] and states(alice) == {"archive/m.bin": "up-to-date"}
    assert "R100\tmodels/m.bin.gitmodel\tarchive/m.bin.gitmodel" in \
        git(alice, "show", "-M", "--name-status", "--format=", "HEAD").stdout

    out = gitmodels(alice, "mv", "archive/m.bin", "train.py", check=False)
    assert out.returncode != 0 and "train.py already exists" in out.stderr
    out = gitmodels(alice, "mv", "nothing.bin", "x.bin", check=False)
    assert out.returncode != 0 and "nothing.bin is not a tracked model" in out.stderr


def test_gitmodels_rm_deletes_only_bytes_the_cache_holds(alice):
    (alice / "models" / "m.bin").write_bytes(EDITED)
    out = gitmodels(alice, "rm", "models/m.bin", check=False)
    assert out.returncode == 4 and "not saved in the model store" in out.stderr
    assert (alice / "models" / "m.bin").read_bytes() == EDITED and states(alice) == {"models/m.bin": "modified"}

    doc = json.loads(gitmodels(alice, "rm", "--keep", "models/m.bin", "--json").stdout)
    check_forms(doc)
    assert keys_of(doc) == keys_of(documented("rm"))
    [entry] = doc["removed"]
    assert entry["path"] == "models/m.bin" and entry["pointer_removed"] is True and entry["deleted"] is False
    assert (alice / "models" / "m.bin").read_bytes() == EDITED
    assert "?? models/m.bin" in porcelain(alice)  # an ordinary file now, for git to see


def test_gitmodels_rm_with_force_deletes_unsaved_bytes(alice):
    (alice / "models" / "m.bin").write_bytes(EDITED)
    gitmodels(alice, "rm", "--force", "models/m.bin")
    assert not (alice / "models" / "m.bin").exists()
    git(alice, "commit", "-q", "-m", "rm")
    assert porcelain(alice) == []


def test_python_api_move_and_remove(alice):
    import gitmodels as gm
    from gitmodels.repo import Repo

    with Repo(str(alice)) as repo:
        moved = gm.move(alice / "models" / "m.bin", alice / "models" / "n.bin", repo=repo)
        assert (moved.src, moved.dst) == ("models/m.bin", "models/n.bin")
        removed = gm.remove(alice / "models" / "n.bin", repo=repo)
        assert removed.deleted and removed.oid is not None
    assert not (alice / "models" / "n.bin").exists()


# -- a commit that forgets `gitmodels add` ------------------------------------------------

def test_commit_am_warns_about_a_model_changed_since_its_pointer(alice):
    (alice / "models" / "m.bin").write_bytes(EDITED)  # retrained, no `gitmodels add`
    (alice / "train.py").write_text("lr = 0.2\n")
    out = git(alice, "commit", "-q", "-am", "new lr")
    assert ("models/m.bin changed since its pointer: run `gitmodels add models/m.bin` to record it"
            in out.stderr)
    assert out.stderr.count("changed since its pointer") == 1


def test_commit_does_not_warn_about_an_earlier_version_gitmodels_wrote(alice, world):
    world.add_model(alice, "models/m.bin", V2)
    commit_all(alice, "v2")
    (alice / "models" / "m.bin").write_bytes(V1)  # stale, not changed: the cache holds it
    (alice / "train.py").write_text("lr = 0.2\n")
    out = git(alice, "commit", "-q", "-am", "new lr")
    assert "changed since its pointer" not in out.stderr


def test_unsaved_models_refuse_stops_the_commit(alice):
    with open(alice / "gitmodels.toml", "a") as f:
        f.write('\n[hooks]\nunsaved_models = "refuse"\n')
    commit_all(alice, "refuse")
    (alice / "models" / "m.bin").write_bytes(EDITED)
    (alice / "train.py").write_text("lr = 0.2\n")
    out = git(alice, "commit", "-q", "-am", "new lr", check=False)
    assert out.returncode != 0 and "commit refused" in out.stderr
    assert "models/m.bin changed since its pointer" in out.stderr
    gitmodels(alice, "add", "models/m.bin")
    git(alice, "commit", "-q", "-am", "new lr")
    assert states(alice) == {"models/m.bin": "up-to-date"}


def test_unsaved_models_bad_value_is_named(alice):
    (alice / ".git" / "gitmodels" / "config.toml").write_text('[hooks]\nunsaved_models = "shout"\n')
    (alice / "models" / "m.bin").write_bytes(EDITED)  # something for the check to look at
    (alice / "train.py").write_text("lr = 0.2\n")
    out = git(alice, "commit", "-q", "-am", "new lr", check=False)
    assert out.returncode != 0 and 'hooks.unsaved_models must be "warn" or "refuse"' in out.stderr


def test_git_mv_committed_with_commit_a_and_with_paths(alice, world):
    world.add_model(alice, "models/k.bin", V2)
    commit_all(alice, "k")
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    (alice / "train.py").write_text("lr = 0.3\n")
    git(alice, "commit", "-q", "-am", "rename with -a")
    assert porcelain(alice) == [] and (alice / "models" / "n.bin").read_bytes() == V1

    git(alice, "mv", "models/k.bin.gitmodel", "models/j.bin.gitmodel")
    out = git(alice, "commit", "-q", "-m", "rename with paths", "--", "models/k.bin.gitmodel",
              "models/j.bin.gitmodel")
    assert "commit them" in out.stderr and (alice / "models" / "j.bin").read_bytes() == V2
    assert porcelain(alice) == [" M models/.gitignore"]  # not half-staged: the real index still agrees with HEAD
    git(alice, "commit", "-q", "-am", "rules")
    assert porcelain(alice) == [] and states(alice) == {"models/j.bin": "up-to-date", "models/n.bin": "up-to-date"}


def test_checkout_ignores_a_model_whose_pointer_was_renamed_without_hooks(alice):
    git(alice, "mv", "models/m.bin.gitmodel", "models/n.bin.gitmodel")
    git(alice, "commit", "-q", "-m", "rename", extra_env={"GITMODELS_SKIP": "1"})
    (alice / "models" / "m.bin").unlink()  # nothing left to move: the cache has the model
    assert porcelain(alice) == []
    gitmodels(alice, "checkout")
    assert (alice / "models" / "n.bin").read_bytes() == V1
    assert porcelain(alice) == ["M  models/.gitignore"]  # never `?? models/n.bin`


def test_pre_commit_starts_python_for_this_check_only_after_a_model_was_written(alice, tmp_path):
    import os

    from tests.gitutil import count_hook_pythons

    started = count_hook_pythons(alice, tmp_path)

    def commit(message: str) -> str:
        with open(alice / "train.py", "a") as f:
            f.write(f"# {message}\n")
        return git(alice, "commit", "-q", "-am", message).stderr

    commit("nothing written since")
    assert started() == 0  # the shell answered: no model file written since the last check (committing v1)
    (alice / ".git" / "gitmodels-models-checked").unlink()
    commit("never checked")
    assert started() == 1
    commit("checked since")
    assert started() == 1
    model = alice / "models" / "m.bin"
    old = model.stat()
    model.write_bytes(EDITED)
    os.utime(model, ns=(old.st_atime_ns, old.st_mtime_ns))  # `rsync -a` / `cp -p` keep an old mtime; ctime moves
    assert "models/m.bin changed since its pointer" in commit("retrained")
    assert "models/m.bin changed since its pointer" in commit("still not added")  # said again until recorded
    gitmodels(alice, "add", "models/m.bin")
    git(alice, "commit", "-q", "-m", "record it")
    runs = started()
    commit("after add")
    assert started() == runs
