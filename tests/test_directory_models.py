"""Directory models of many files: add and checkout go a batch at a time on a few threads (workspace/dirs.py);
the result must be the same tree, bit for bit, with the same safety as one file at a time."""

import os
import stat
import subprocess
import sys

import pytest

from gitmodels.errors import ArtifactChanged
from gitmodels.repo import Repo
from gitmodels.storage import fileio
from gitmodels.workspace import dirs
from tests.gitutil import gitmodels as gm


def tree(root):
    """relative path -> (bytes, executable) of every file under root, and the set of folders."""
    files, folders = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            folders.add(os.path.relpath(os.path.join(dirpath, d), root))
        for name in filenames:
            full = os.path.join(dirpath, name)
            files[os.path.relpath(full, root)] = (open(full, "rb").read(), bool(os.stat(full).st_mode & stat.S_IXUSR))
    return files, folders


def make_dir(root, n=3 * dirs.BATCH + 17):
    """More files than one batch (so the thread pool runs), nested folders, empty and executable files."""
    for i in range(n):
        sub = root / f"d{i % 7}" / ("deep" if i % 3 == 0 else "") / ("x" if i % 5 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        data = b"" if i % 11 == 0 else os.urandom(1 + i % 3000)
        (sub / f"f{i:04d}.bin").write_bytes(data)
        if i % 13 == 0:
            os.chmod(sub / f"f{i:04d}.bin", 0o755)
    (root / "top.bin").write_bytes(b"top")
    (root / "big.bin").write_bytes(os.urandom(fileio.DIRECT_MIN + 123))  # the streamed path, beside the small one


def test_many_file_directory_round_trips(repo):
    make_dir(repo / "data")
    before = tree(repo / "data")
    assert any(x for _, x in before[0].values()) and any(not b for b, _ in before[0].values())
    gm(repo, "add", "data")
    with Repo(str(repo)) as r:
        ptr = r.read_pointer("data.gitmodel")
        assert ptr.files == len(before[0])
        for oid in [ptr.oid]:
            assert not os.stat(r.store.path(oid)).st_mode & 0o222  # cached objects are read-only
    subprocess.run(["rm", "-rf", str(repo / "data")], check=True)
    gm(repo, "checkout")
    assert tree(repo / "data") == before
    leftovers = [n for _, _, names in os.walk(repo / "data") for n in names if n.startswith(fileio.TMP_MARK)]
    assert leftovers == []
    # the restored files are recorded: adding again hashes nothing and gives the same pointer
    text = (repo / "data.gitmodel").read_text()
    gm(repo, "add", "data")
    assert (repo / "data.gitmodel").read_text() == text


def test_checkout_replaces_a_directory_whose_layout_changed(repo):
    data = repo / "data"
    make_dir(data, n=dirs.BATCH + 40)
    gm(repo, "add", "data")
    v1_pointer = (repo / "data.gitmodel").read_bytes()
    v1 = tree(data)
    # v2: a file becomes a folder, a folder becomes a file, files go, one changes mode only
    os.unlink(data / "top.bin")
    (data / "top.bin").mkdir()
    (data / "top.bin" / "inner.bin").write_bytes(b"inner")
    subprocess.run(["rm", "-rf", str(data / "d3")], check=True)
    (data / "d3").write_bytes(b"now a file")
    os.chmod(data / "d1" / "f0001.bin", 0o755)
    gm(repo, "add", "data")
    v2 = tree(data)
    (repo / "data.gitmodel").write_bytes(v1_pointer)
    gm(repo, "checkout", "--force")
    assert tree(data) == v1
    gm(repo, "add", "data")  # back to v1's pointer: nothing changes
    assert (repo / "data.gitmodel").read_bytes() == v1_pointer
    assert v2 != v1


def test_a_damaged_small_object_never_reaches_the_workspace(repo):
    """Small objects are hashed as they are copied out of the cache (no stat-cache row vouches for them):
    one whose bytes were changed in place, size kept, is refused and its file is not written."""
    data = repo / "data"
    make_dir(data, n=dirs.BATCH + 40)
    (data / "victim.bin").write_bytes(b"the bytes that were added")
    gm(repo, "add", "data")
    with Repo(str(repo)) as r:
        oid = sha_of(data / "victim.bin")
        assert not os.path.exists(r.store.path(oid))  # a small file of a directory is packed
        name, offset, _ = r.store.packs.find(oid)
        cached = r.store.packs.pack_path(name)
    os.chmod(cached, 0o644)
    with open(cached, "r+b") as f:
        f.seek(offset)
        f.write(b"THE")  # same size, other bytes
    subprocess.run(["rm", "-rf", str(data)], check=True)
    proc = gm(repo, "checkout", check=False)
    assert proc.returncode != 0 and "corrupt" in proc.stderr and cached in proc.stderr
    assert not (data / "victim.bin").exists()
    leftovers = [n for _, _, names in os.walk(data) for n in names if n.startswith(fileio.TMP_MARK)]
    assert leftovers == []


def test_file_names_with_line_separators_round_trip(repo):
    """U+2028 and U+0085 are line breaks to str.splitlines(), not to the manifest's format."""
    data = repo / "data"
    data.mkdir()
    names = ["line\u2028sep.bin", "nel\x85.bin", "plain.bin"]
    for i, name in enumerate(names):
        (data / name).write_bytes(os.urandom(100 + i))
    before = tree(data)
    gm(repo, "add", "data")
    subprocess.run(["rm", "-rf", str(data)], check=True)
    gm(repo, "checkout")
    assert tree(data) == before


def sha_of(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("change", ["append", "same-size"])
def test_a_file_changed_while_add_runs_is_refused(repo, monkeypatch, change):
    data = repo / "data"
    make_dir(data, n=dirs.BATCH + 5)
    victim = data / "d2" / "f0002.bin"
    listed = dirs.list_files

    def list_then_change(root):
        out = listed(root)
        old = victim.read_bytes()
        victim.write_bytes(old + b"more" if change == "append" else bytes(len(old)))
        return out

    monkeypatch.setattr(dirs, "list_files", list_then_change)
    with Repo(str(repo)) as r:
        with pytest.raises(ArtifactChanged, match="f0002.bin"):
            r.add([str(data)])
    assert not (repo / "data.gitmodel").exists()


def test_symlinks_inside_a_directory_model(repo, tmp_path):
    data = repo / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.bin").write_bytes(b"a")
    os.symlink("sub/a.bin", data / "link.bin")  # a link to a file inside: followed
    with Repo(str(repo)) as r:
        names = sorted(e.path for e in r.add([str(data)]) and r.workspace.scan(str(data)).manifest.entries)
    assert names == ["link.bin", "sub/a.bin"]
    os.symlink(tmp_path, data / "sub" / "out")  # a symlinked directory: refused
    proc = gm(repo, "add", "data", check=False)
    assert proc.returncode != 0 and "symlinked directory" in proc.stderr


def test_temp_names_are_unique_across_threads_and_forks(tmp_path):
    names = {fileio.tmp_name_for(str(tmp_path / "x")) for _ in range(1000)}
    assert len(names) == 1000
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import os; from gitmodels.storage import fileio\n"
            "a = fileio.tmp_name_for('x')\n"
            "r, w = os.pipe()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.write(w, fileio.tmp_name_for('x').encode()); os._exit(0)\n"
            "os.waitpid(pid, 0); child = os.read(r, 200).decode(); print(child != fileio.tmp_name_for('x'))\n")
    if not hasattr(os, "fork"):
        return
    out = subprocess.run([sys.executable, "-c", code, os.getcwd()], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_put_hashed_skips_an_object_the_cache_has(tmp_path):
    from gitmodels.storage.hashing import hash_bytes
    from gitmodels.storage.store import Store

    store = Store(str(tmp_path / "cache"))
    data = b"payload" * 100
    oid = store.put_hashed(hash_bytes(data), data)
    path = store.path(oid)
    assert open(path, "rb").read() == data and not os.stat(path).st_mode & 0o222
    ino = os.stat(path).st_ino
    store.put_hashed(oid, data)
    assert os.stat(path).st_ino == ino  # not written again
    assert os.listdir(store.tmp_dir) == []


def test_an_empty_prefetch_is_an_answer(tmp_path, monkeypatch):
    """known_oid with a prefetched answer that lacks the path asks SQLite nothing more (it used to, per file)."""
    from gitmodels.storage.statcache import StatCache

    cache = StatCache(str(tmp_path / "state.db"))
    f = tmp_path / "f"
    f.write_bytes(b"x")

    def no_query(*args, **kwargs):
        raise AssertionError("looked up again")

    monkeypatch.setattr(cache, "lookup_many", no_query)
    assert cache.known_oid(str(f), os.stat(f), {}) is None


@pytest.mark.parametrize("link", ["hardlink", "symlink"])
def test_link_modes_restore_a_directory_whose_small_files_are_packed(repo, link):
    """Packed objects have no file to link to: a link-mode checkout copies each out of its pack first."""
    make_dir(repo / "data", n=60)
    before = tree(repo / "data")
    gm(repo, "add", "data")
    with Repo(str(repo)) as r:
        assert r.store.packs.pack_names(), "the small files were not packed"
    with open(repo / ".git" / "gitmodels" / "config.toml", "a") as f:
        f.write(f'[core]\nlink = "{link}"\n')
    subprocess.run(["rm", "-rf", str(repo / "data")], check=True)
    gm(repo, "checkout")
    assert {k: v[0] for k, v in tree(repo / "data")[0].items()} == {k: v[0] for k, v in before[0].items()}
