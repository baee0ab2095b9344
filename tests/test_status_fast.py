"""`gitmodels status` answers from its snapshot (gitmodels/workspace/snapshot.py) while nothing changed,
and never with a stale answer: every kind of change to an artifact, a pointer, the index or the cache shows."""

import json
import os
import shutil
import time

import pytest

from gitmodels.workspace import snapshot
from tests.gitutil import git, model_bytes
from tests.gitutil import gitmodels as gm


def settle():
    """Let the clock move past the racy window, so the next status may keep what it sees."""
    time.sleep(snapshot.RACY_NS / 1e9 + 0.1)


def states(work) -> dict[str, str]:
    return {s["path"]: s["state"] for s in json.loads(gm(work, "status", "--json").stdout)["models"]}


def remembered(work, command="status --json"):
    return snapshot.answer(command, str(work))


def primed(work) -> dict[str, str]:
    """Status twice after the racy window: the snapshot then answers both forms on its own."""
    settle()
    gm(work, "status")
    first = states(work)
    assert remembered(work) is not None and remembered(work, "status") is not None
    return first


@pytest.fixture
def models(repo):
    for i in range(4):
        path = repo / "models" / f"m{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model_bytes(f"m{i}", 5000))
    (repo / "models" / "dir" / "sub").mkdir(parents=True)
    (repo / "models" / "dir" / "a.json").write_bytes(b'{"a": 1}')
    (repo / "models" / "dir" / "sub" / "w.bin").write_bytes(model_bytes("w", 3000))
    gm(repo, "add", "models/m0.bin", "models/m1.bin", "models/m2.bin", "models/m3.bin", "models/dir")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    return repo


def test_unchanged_repo_answers_from_the_snapshot_with_the_full_output(models):
    before = states(models)
    assert set(before.values()) == {"up-to-date"}
    primed(models)
    full_text = gm(models, "status").stdout
    out, err, code = remembered(models, "status")
    assert (out, code) == (full_text, 0) and "m3.bin" in out
    assert json.loads(remembered(models)[0])["models"] == json.loads(gm(models, "status", "--json").stdout)["models"]


def test_same_size_same_mtime_edit_in_place_shows(models):
    primed(models)
    path = models / "models" / "m1.bin"
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    with open(path, "r+b") as f:  # same inode, same size
        f.write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime: only ctime tells
    assert remembered(models) is None
    assert states(models)["models/m1.bin"] == "modified"


def test_touch_keeps_up_to_date(models):
    primed(models)
    os.utime(models / "models" / "m0.bin")
    assert remembered(models) is None
    assert set(states(models).values()) == {"up-to-date"}


def test_replace_by_rename_shows(models):
    primed(models)
    path = models / "models" / "m2.bin"
    st = os.stat(path)
    tmp = models / "models" / "m2.tmp"
    tmp.write_bytes(model_bytes("other", 5000))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)
    assert states(models)["models/m2.bin"] == "modified"


def test_changed_pointer_shows(models):
    primed(models)
    (models / "models" / "m0.bin").write_bytes(model_bytes("v2", 5000))
    gm(models, "add", "models/m0.bin")
    primed(models)
    git(models, "checkout", "HEAD", "--", "models/m0.bin.gitmodel")  # v1 pointer, v2 bytes
    assert states(models)["models/m0.bin"] == "stale"


def test_switching_branch_with_hooks_off_shows(models):
    git(models, "checkout", "-q", "-b", "v2")
    (models / "models" / "m3.bin").write_bytes(model_bytes("v2", 5000))
    gm(models, "add", "models/m3.bin")
    git(models, "commit", "-qam", "v2")
    primed(models)
    git(models, "checkout", "-q", "-")  # no hooks: the working tree keeps v2's bytes
    got = states(models)
    assert got["models/m3.bin"] == "stale"
    assert {s for p, s in got.items() if p != "models/m3.bin"} == {"up-to-date"}


def test_missing_artifact_and_missing_object_show(models):
    primed(models)
    os.unlink(models / "models" / "m1.bin")
    assert states(models)["models/m1.bin"] == "missing"
    primed(models)
    oid = json.loads(gm(models, "status", "--json").stdout)["models"][0]["oid"].split(":")[-1]
    objects = models / ".git" / "gitmodels" / "objects"
    victim = next(p for p in objects.rglob(oid))
    victim.chmod(0o644)
    victim.unlink()
    assert states(models)["models/dir"] == "not-in-cache"


def test_directory_model_edit_and_new_file_show(models):
    primed(models)
    (models / "models" / "dir" / "sub" / "extra.bin").write_bytes(b"new")
    assert states(models)["models/dir"] == "modified"
    os.unlink(models / "models" / "dir" / "sub" / "extra.bin")
    primed(models)
    path = models / "models" / "dir" / "sub" / "w.bin"
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert states(models)["models/dir"] == "modified"


def test_orphan_shows(models):
    primed(models)
    git(models, "rm", "-q", "models/m2.bin.gitmodel")  # the artifact stays, its rule too
    got = json.loads(gm(models, "status", "--json").stdout)["models"]
    assert {s["path"]: s["state"] for s in got}["models/m2.bin"] == "orphaned"


def test_change_within_the_racy_window_is_never_trusted(models):
    primed(models)
    path = models / "models" / "m0.bin"
    path.write_bytes(model_bytes("quick", 5000))
    assert states(models)["models/m0.bin"] == "modified"  # right after the write: not kept
    st = os.stat(path)
    path.write_bytes(model_bytes("quick2", 5000))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert states(models)["models/m0.bin"] == "modified"
    path.write_bytes(model_bytes("m0", 5000))  # the committed bytes again
    assert states(models)["models/m0.bin"] == "up-to-date"


def test_settings_change_is_seen(models):
    primed(models)
    shutil.rmtree(models / ".git" / "gitmodels" / "objects")
    (models / "gitmodels.toml").write_text((models / "gitmodels.toml").read_text() + "\n")
    assert set(states(models).values()) == {"not-in-cache"}


def test_cost_follows_the_models_that_changed(models, monkeypatch):
    from gitmodels.repo import Repo
    from gitmodels.workspace import status as status_mod

    primed(models)
    looked = []
    real = status_mod.model_status
    monkeypatch.setattr(status_mod, "model_status", lambda repo, art, *a, **k: looked.append(art) or real(repo, art, *a, **k))
    with Repo(str(models)) as r:
        assert {s.state for s in r.status()} == {"up-to-date"}
    assert looked == []
    (models / "models" / "m2.bin").write_bytes(model_bytes("changed", 5000))
    git(models, "add", "-A")  # the index changes too: the pointer list is read again, the models are not
    with Repo(str(models)) as r:
        assert {s.path: s.state for s in r.status()}["models/m2.bin"] == "modified"
    assert looked == ["models/m2.bin"]


@pytest.fixture
def big(repo):
    """A directory model too big to list file by file in the snapshot (remembered by its signature)."""
    from gitmodels.workspace import status as status_mod

    data = repo / "data"
    for i in range(status_mod.TREE_DEPS_LIMIT + 1):
        path = data / f"d{i % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%08d" % i)
    gm(repo, "add", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def test_big_directory_is_remembered_by_its_signature(big):
    assert primed(big) == {"data": "up-to-date"}
    deps = json.loads((big / ".git" / snapshot.NAME).read_text())["models"]["data"]["deps"]
    assert len(deps) < 300 and any(isinstance(want, dict) and "tree" in want for _, want in deps)


@pytest.mark.parametrize("change", ["edit in place", "new file", "removed file", "object gone from the cache"])
def test_big_directory_change_shows_past_its_snapshot(big, change):
    from gitmodels.repo import Repo
    from gitmodels.storage.manifest import manifest_entries

    primed(big)
    victim = big / "data" / "d3" / "f00503.bin"
    if change == "edit in place":
        st = victim.stat()
        with open(victim, "r+b") as f:
            f.write(b"X")
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the ctime tells
        expected = "modified"
    elif change == "new file":
        (big / "data" / "d0" / "new.bin").write_bytes(b"new")
        expected = "modified"
    elif change == "removed file":
        victim.unlink()
        expected = "stale"  # what is left is all in the cache
    else:
        with Repo(str(big)) as repo:
            entries = manifest_entries(repo.store, repo.read_pointer("data.gitmodel").oid)
            repo.store.delete(entries[7].oid)  # loose or packed: its folder changes either way
        expected = "not-in-cache"
    assert remembered(big) is None
    assert states(big) == {"data": expected}
