"""Directory models with many files: the pre-commit hook and `gitmodels status` trust a directory's recorded
signature (gitmodels/storage/statcache.py: every file's path and lstat as its last scan saw them) instead of
re-scanning it, and still report every change made after `gitmodels add` (docs/hooks.md, "Directory models")."""

import json
import os
import sys
import time

import pytest

from gitmodels.hooks import HookRefused
from gitmodels.repo import Repo
from gitmodels.workspace import status as status_mod
from tests.gitutil import commit_all, count_hook_pythons, git
from tests.gitutil import gitmodels as gm

BIG = status_mod.TREE_DEPS_LIMIT + 1  # past it, status answers a directory from its signature every time

_opened: list[str] = []  # files opened under the watched folder
_listed: list = []  # listings of a folder under it, or of any folder by descriptor (tree_signature's walk)
_watching: list[str] = []


def _audit(event, args):
    if not _watching:
        return
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        if path.startswith(_watching[0]) and not os.path.isdir(path):  # listing its folders is fine
            _opened.append(path)
    elif event == "os.listdir" and (isinstance(args[0], int) or os.fsdecode(args[0]).startswith(_watching[0])):
        _listed.append(args[0])


sys.addaudithook(_audit)


def pre_commit_watching(work, folder):
    """The pre-commit check of `work`, in this process, with the files opened and folders listed under
    `folder` recorded in _opened and _listed."""
    from gitmodels.hooks.commit_policy import pre_commit

    _opened.clear()
    _listed.clear()
    _watching[:] = [str(folder)]
    try:
        with Repo(str(work)) as repo:
            return pre_commit(repo)
    finally:
        _watching.clear()


def files(count: int, size: int = 64) -> dict[str, bytes]:
    return {f"d{i % 10}/f{i:05d}.bin": (b"%08d" % i) * (size // 8) for i in range(count)}


@pytest.fixture
def alice(world):
    return world.first_clone("alice")


def states(work) -> dict[str, dict]:
    return {s["path"]: s for s in json.loads(gm(work, "status", "--json").stdout)["models"]}


def edit_in_place(path) -> None:
    """Same size, same mtime: only the ctime tells (as a tool that restores mtimes would leave it)."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_big_directory_changed_after_add_is_reported_by_status_and_pre_commit(world, alice):
    world.add_model(alice, "data", files(BIG))
    commit_all(alice, "data")
    assert states(alice)["data"]["state"] == "up-to-date"
    edit_in_place(alice / "data" / "d3" / "f00503.bin")
    assert states(alice)["data"]["state"] == "modified"
    (alice / "train.py").write_text("lr = 0.2\n")
    git(alice, "add", "train.py")
    out = git(alice, "commit", "-qm", "lr")
    assert "data changed since its pointer: run `gitmodels add data` to record it" in out.stderr

    gm(alice, "checkout", "--force", "data")
    assert states(alice)["data"]["state"] == "up-to-date"
    (alice / "data" / "d0" / "new.bin").write_bytes(b"new")
    assert states(alice)["data"]["state"] == "modified"
    os.unlink(alice / "data" / "d0" / "new.bin")
    os.unlink(alice / "data" / "d1" / "f00001.bin")
    assert states(alice)["data"]["state"] == "stale"  # every byte left is in the cache (docs/hooks.md)


def test_commit_of_a_just_added_directory_pointer_reads_and_scans_nothing_in_it(world, alice, monkeypatch):
    from gitmodels.workspace.restore import Workspace

    world.add_model(alice, "data", files(40))
    git(alice, "add", "-A")
    real_scan = Workspace.scan

    def scan(self, path, **kw):
        assert not os.fspath(path).startswith(str(alice / "data")), "the directory was scanned again"
        return real_scan(self, path, **kw)

    monkeypatch.setattr(Workspace, "scan", scan)
    report = pre_commit_watching(alice, alice / "data")
    assert _opened == [] and report.warnings == []
    monkeypatch.undo()
    out = git(alice, "commit", "-qm", "data")
    assert "data" in git(alice, "ls-files").stdout and out.stderr == ""


def test_staged_directory_pointer_edited_after_add_is_refused(world, alice):
    world.add_model(alice, "data", files(40))
    git(alice, "add", "-A")
    edit_in_place(alice / "data" / "d5" / "f00015.bin")
    with Repo(str(alice)) as repo:
        from gitmodels.hooks.commit_policy import pre_commit

        with pytest.raises(HookRefused) as refused:
            pre_commit(repo)
    assert any("data.gitmodel is stale" in line for line in refused.value.details)


def test_signature_follows_the_scan_and_any_change(world, alice):
    from gitmodels.storage import statcache

    world.add_model(alice, "data", files(30))
    root = str(alice / "data")
    with Repo(str(alice)) as repo:
        oid = repo.workspace.scan(root).oid
        assert repo.state.known_dir(root) == (oid, 30 * 64, 30)
        os.chmod(os.path.join(root, "d2", "f00002.bin"), 0o755)  # the executable bit is in the manifest
        assert repo.state.known_dir(root) is None
        assert repo.workspace.scan(root).oid != oid
        assert repo.state.known_dir(root) is not None
        os.symlink("f00003.bin", os.path.join(root, "d3", "link.bin"))
        assert statcache.tree_signature(root) is None and repo.state.known_dir(root) is None


def test_signature_walks_in_the_scans_order_when_files_and_folders_mix(world, alice):
    """Files sorting before and after a subfolder, nested folders: the walk and the scan agree."""
    layout = {"a.bin": b"a", "m/x.bin": b"x", "m/n/y.bin": b"y", "m/z.bin": b"z", "b.bin": b"b", "q.bin": b"q"}
    world.add_model(alice, "data", layout)
    root = str(alice / "data")
    with Repo(str(alice)) as repo:
        oid = repo.workspace.scan(root).oid
        assert repo.state.known_dir(root) == (oid, len(layout), len(layout))


def test_directory_objects_removed_from_the_cache_show(world, alice):
    world.add_model(alice, "data", files(BIG))
    commit_all(alice, "data")
    time.sleep(status_mod.DIR_IN_CACHE_MARGIN_NS / 1e9 + 0.05)  # past the margin: the check is remembered
    assert states(alice)["data"]["in_cache"] is True
    with Repo(str(alice)) as repo:
        assert repo.state.memo_row(f"dir-in-cache:{repo.read_pointer('data.gitmodel').oid}") is not None
        from gitmodels.storage.manifest import manifest_entries

        entries = manifest_entries(repo.store, repo.read_pointer("data.gitmodel").oid)
        assert status_mod._listed_oids(repo, repo.read_pointer("data.gitmodel").oid) == [e.oid for e in entries]
        repo.store.delete(entries[7].oid)  # loose or packed (docs/formats.md "Local packs")
    got = states(alice)["data"]
    assert got["in_cache"] is False and got["state"] == "not-in-cache"


def test_commit_of_a_big_directory_pointer_walks_none_of_its_files(world, alice):
    """A staged pointer to exactly what `gitmodels add` recorded is committed without a stat of the files
    (issue #26: a commit of a 100,000-file model's pointer costs no walk); an edit made since is not lost:
    the commit records the added version, and status shows the edit."""
    world.add_model(alice, "data", files(BIG))
    git(alice, "add", "-A")
    edit_in_place(alice / "data" / "d3" / "f00503.bin")
    report = pre_commit_watching(alice, alice / "data")
    assert _listed == [] and report.warnings == []
    git(alice, "commit", "-qm", "data")
    assert states(alice)["data"]["state"] == "modified"


# -- the pre-commit script commits what `gitmodels add` just wrote without Python (gitmodels/workspace/added.py)

@pytest.fixture
def python_runs(alice, tmp_path):
    """Count the pre-commit hook's starts of Python in `alice`."""
    return count_hook_pythons(alice, tmp_path)


def test_commit_of_what_add_just_wrote_for_a_big_directory_starts_no_python(world, alice, python_runs):
    world.add_model(alice, "data", files(BIG))
    (alice / "train.py").write_text("lr = 0.1\n")
    git(alice, "add", "-A")
    out = git(alice, "commit", "-qm", "data")
    assert python_runs() == 0 and out.stderr == ""
    assert "data.gitmodel" in git(alice, "ls-tree", "--name-only", "HEAD").stdout
    with open(alice / "data" / "d4" / "f00004.bin", "ab") as f:
        f.write(b"retrained")
    gm(alice, "add", "data")
    git(alice, "commit", "-qam", "one file")
    assert python_runs() == 0
    assert states(alice)["data"]["state"] == "up-to-date"
    git(alice, "push", "-q", "origin", "main")  # pre-push pushes what the skipped check would have demanded


def test_a_directory_rescanned_with_other_bytes_after_add_is_checked_by_python(world, alice, python_runs):
    """status scanned the edit and recorded other bytes: the note of the add goes, and the commit is
    refused as a stale pointer, exactly as without the shortcut."""
    world.add_model(alice, "data", files(BIG))
    git(alice, "add", "-A")
    edit_in_place(alice / "data" / "d5" / "f00015.bin")
    assert states(alice)["data"]["state"] == "modified"
    out = git(alice, "commit", "-qm", "data", check=False)
    assert python_runs() == 1 and out.returncode != 0 and "data.gitmodel is stale" in out.stderr


@pytest.mark.parametrize("case", ["small model", "pointer edited by hand", "file inside the model", "merging"])
def test_what_the_note_does_not_vouch_for_starts_python(world, alice, python_runs, case):
    world.add_model(alice, "data", files(BIG))
    commit_all(alice, "data")
    runs = python_runs()
    if case == "small model":
        world.add_model(alice, "small", files(10))
        git(alice, "add", "-A")
    elif case == "pointer edited by hand":
        with open(alice / "data" / "d4" / "f00004.bin", "ab") as f:
            f.write(b"retrained")
        gm(alice, "add", "data")
        with open(alice / "data.gitmodel", "a") as f:
            f.write("# a note\n")
        git(alice, "add", "data.gitmodel")
    elif case == "file inside the model":  # its pointer is noted: only the script's own look finds the file
        (alice / "data" / "d0" / "extra.bin").write_bytes(b"x")
        gm(alice, "add", "data")
        git(alice, "add", "-f", "data/d0/extra.bin")
        out = git(alice, "commit", "-qm", "extra", check=False)
        assert out.returncode != 0 and "is part of the model data" in out.stderr
        assert python_runs() == runs + 1
        return
    else:
        git(alice, "checkout", "-qb", "side")
        (alice / "train.py").write_text("side\n")
        commit_all(alice, "side")
        git(alice, "checkout", "-q", "main")
        (alice / "train.py").write_text("main\n")
        commit_all(alice, "main")
        assert git(alice, "merge", "-q", "side", check=False).returncode != 0
        (alice / "train.py").write_text("both\n")
        with open(alice / "data" / "d4" / "f00004.bin", "ab") as f:
            f.write(b"retrained")
        gm(alice, "add", "data")
        git(alice, "add", "-A")
        runs = python_runs()  # the commits above checked the models written since the last full check
    git(alice, "commit", "-qm", case)
    assert python_runs() == runs + 1


def test_the_note_keeps_one_line_per_pointer_and_drops_it_on_other_bytes(world, alice):
    from gitmodels.workspace import added

    world.add_model(alice, "data", files(BIG))
    with Repo(str(alice)) as repo:
        note = added.note_path(repo.git.git_dir)
        (line,) = open(note).read().splitlines()
        blob = git(alice, "hash-object", "data.gitmodel").stdout.strip()
        oid = repo.read_pointer("data.gitmodel").oid
        assert line == f"{blob} {oid} data.gitmodel"
        added.note(repo, "data.gitmodel", oid)
        added.note(repo, 'we"ird.gitmodel', oid)  # git quotes it: never noted
        assert open(note).read().splitlines() == [line]
        added.rescanned(repo, str(alice / "data"), oid)  # the same bytes: kept
        assert os.path.exists(note)
        added.rescanned(repo, str(alice / "data"), "0" * 64)
        assert not os.path.exists(note)
