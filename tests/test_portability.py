"""gitmodels on macOS and Windows, proven on Linux: interpreter shims, feature detection, Windows file rules.

The round trip runs every Python process (the CLI and the hooks git starts)
under tests/platform_shims/<platform>/sitecustomize.py. It also runs outside
pytest:

    PYTHONPATH=tests/platform_shims/windows:$PWD python tests/test_portability.py --round-trip
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIMS = ROOT / "tests" / "platform_shims"


# -- the everyday round trip under a shim ---------------------------------------------------------------

def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} (in {cwd}) exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc.stdout + proc.stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def round_trip(root: Path, env: dict) -> dict[str, str]:
    """init -> add -> commit -> git push (pre-push uploads) -> clone -> install -> pull -> git switch (hooks restore).

    Raises AssertionError on the first wrong step; returns what the checks saw.
    """
    def git(cwd, *args):
        return _run(["git", *args], cwd, env)

    def gm(cwd, *args):
        return _run([sys.executable, "-m", "gitmodels", *args], cwd, env)

    server, remote, alice, bob = root / "server.git", root / "models-remote", root / "alice", root / "bob"
    remote.mkdir()
    git(root, "init", "-q", "--bare", "-b", "main", str(server))
    git(root, "clone", "-q", str(server), str(alice))
    gm(alice, "init", "--remote", str(remote))
    git(alice, "add", "-A")
    git(alice, "commit", "-qm", "gitmodels init")
    big = alice / "models" / "net.bin"  # above fileio.DIRECT_MIN: the uncached-write path (O_DIRECT / F_NOCACHE)
    big.parent.mkdir(parents=True)
    versions = {}
    for label in ("v1", "v2"):
        if label == "v2":
            git(alice, "switch", "-q", "-c", "v2")
            os.chmod(big, 0o644)
        big.write_bytes(hashlib.sha256(label.encode()).digest() * (5 * 1024 * 1024 // 32 + 7))
        enc = alice / "models" / "encoder"
        enc.mkdir(exist_ok=True)
        (enc / "config.json").write_text(f'{{"version": "{label}"}}')
        (enc / "weights.bin").write_bytes(label.encode() * 3000)
        gm(alice, "add", "models/net.bin", "models/encoder")
        git(alice, "commit", "-qm", f"train {label}")
        versions[label] = _digest(big)
    switched = git(alice, "switch", "-q", "main")  # post-checkout puts v1 back in alice's working tree
    assert _digest(big) == versions["v1"], f"alice's post-checkout did not restore v1: {switched}"
    pushed = git(alice, "push", "-q", "origin", "main", "v2")  # pre-push uploads both versions
    objects = [p for p in (remote / "objects").rglob("*") if p.is_file()]
    assert len(objects) >= 4, f"pre-push uploaded {len(objects)} objects: {pushed}"

    git(root, "clone", "-q", str(server), str(bob))
    gm(bob, "install")
    gm(bob, "pull")
    bob_big = bob / "models" / "net.bin"
    assert _digest(bob_big) == versions["v1"]
    git(bob, "switch", "-q", "v2")  # the post-checkout hook, under the shim, restores v2
    assert _digest(bob_big) == versions["v2"], "git switch v2 did not restore v2"
    assert (bob / "models" / "encoder" / "config.json").read_text() == '{"version": "v2"}'
    git(bob, "switch", "-q", "main")
    assert _digest(bob_big) == versions["v1"], "git switch main did not restore v1"
    assert (bob / "models" / "encoder" / "weights.bin").read_bytes() == b"v1" * 3000
    return versions


LINUX = sys.platform.startswith("linux")


def shim_env(platform: str, log: Path) -> dict:
    """PYTHONPATH with the shim first. On the hosted macOS and Windows runners the platform is real: no shim."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SHIMS / platform), str(ROOT)] if LINUX else [str(ROOT)])
    env["GITMODELS_SHIM_LOG"] = str(log)
    return env


@pytest.mark.parametrize("platform,expected", [
    ("windows", {"lock": "msvcrt", "durability": "fsync", "copy": "stream", "direct_io": "none (page cache)",
                 "read_lease": False, "syncfs": False}),
    ("macos", {"system": "darwin", "lock": "flock", "durability": "F_FULLFSYNC", "copy": "clonefile -> stream",
               "direct_io": "F_NOCACHE", "read_lease": False, "syncfs": False}),
])
def test_round_trip_under_shim(platform, expected, tmp_path, isolated_git):
    log = tmp_path / "shim.log"
    env = shim_env(platform, log)
    chosen = _run([sys.executable, "-c", "import gitmodels.storage.features as f; print(f.describe())"],
                  tmp_path, env)
    described = eval(chosen)  # noqa: S307  (our own dict's repr)
    round_trip(tmp_path, env)
    if not LINUX:
        return  # the real platform ran it: its own choices are its own (docs/platforms.md)
    assert {k: described[k] for k in expected} == expected

    runs = log.read_text().splitlines()
    hooks = [line for line in runs if " hook " in f" {line} "]
    # every gitmodels process ran shimmed, hooks included: pre-push, post-checkout on each switch
    assert any("pre-push" in line for line in hooks), runs
    assert sum("post-checkout" in line for line in hooks) >= 3, runs
    assert all(line.startswith(platform + " ") for line in runs), runs


@pytest.mark.skipif(not LINUX, reason="the shims stand in for macOS and Windows on Linux; those runners are real")
def test_shims_hide_what_the_platform_lacks(tmp_path):
    probe = ("import importlib, os, sys, ctypes\n"
             "mods = []\n"
             "for m in ('fcntl', 'pwd', 'grp', 'termios', 'resource'):\n"
             "    try:\n        importlib.import_module(m); mods.append(m)\n"
             "    except ImportError:\n        pass\n"
             "try:\n    ctypes.CDLL(None); cdll = 'ok'\nexcept TypeError:\n    cdll = 'TypeError'\n"
             "print(mods, hasattr(os, 'O_DIRECT'), hasattr(os, 'getuid'), cdll, sys.platform)\n")
    win = _run([sys.executable, "-c", probe], tmp_path, shim_env("windows", tmp_path / "w.log"))
    assert win.split() == ["[]", "False", "False", "TypeError", "linux"]
    mac_probe = ("import fcntl, os, sys\n"
                 "print(hasattr(fcntl, 'F_SETLEASE'), hasattr(fcntl, 'F_FULLFSYNC'), hasattr(os, 'O_DIRECT'), "
                 "hasattr(os, 'copy_file_range'), sys.platform)\n")
    mac = _run([sys.executable, "-c", mac_probe], tmp_path, shim_env("macos", tmp_path / "m.log"))
    assert mac.split() == ["False", "True", "False", "False", "darwin"]


# -- feature detection, given a fake platform -------------------------------------------------------------

def _fake_import(available: dict):
    def import_module(name):
        if name in available:
            return available[name]
        raise ModuleNotFoundError(name)
    return import_module


def _fake_os(name="posix", **attrs):
    return types.SimpleNamespace(name=name, **attrs)


def test_detect_linux_keeps_the_linux_paths():
    from gitmodels.storage.features import detect

    f = detect("linux", _fake_os(O_DIRECT=0o40000, copy_file_range=object(), sendfile=object()),
               _fake_import({"fcntl": types.SimpleNamespace(flock=None, ioctl=None, F_SETLEASE=1024)}),
               types.SimpleNamespace(SIGIO=29))
    assert f.copy_plan == ("ficlone", "copy_file_range", "sendfile", "stream")
    assert (f.durability, f.direct_io, f.lock, f.lease, f.syncfs) == ("fsync", "O_DIRECT", "flock", True, True)


def test_detect_macos_chooses_clonefile_fullfsync_nocache():
    from gitmodels.storage.features import detect

    fcntl = types.SimpleNamespace(flock=None, F_FULLFSYNC=51, F_NOCACHE=48, fcntl=None, ioctl=None)
    f = detect("darwin", _fake_os(sendfile=object()), _fake_import({"fcntl": fcntl}), types.SimpleNamespace())
    assert f.copy_plan == ("clonefile", "stream")  # macOS sendfile needs a socket: never file to file
    assert (f.durability, f.full_fsync, f.direct_io, f.nocache) == ("F_FULLFSYNC", 51, "F_NOCACHE", 48)
    assert (f.lock, f.lease, f.syncfs, f.o_direct) == ("flock", False, False, 0)


def test_detect_windows_chooses_msvcrt_and_plain_copies():
    from gitmodels.storage.features import detect

    msvcrt = types.SimpleNamespace(locking=None, LK_NBLCK=2)
    f = detect("win32", _fake_os("nt", O_BINARY=0x8000), _fake_import({"msvcrt": msvcrt}), types.SimpleNamespace())
    assert f.copy_plan == ("stream",)
    assert (f.lock, f.msvcrt, f.durability, f.direct_io, f.dir_fsync) == ("msvcrt", msvcrt, "fsync", None, False)


def test_kernel_copy_uses_clonefile_when_chosen(tmp_path, monkeypatch):
    from gitmodels.storage import features, fileio

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"abc" * 1000)
    calls = []

    def clone(a, b):
        calls.append((a, b))
        Path(b).write_bytes(Path(a).read_bytes())
        return 0

    monkeypatch.setattr(features, "clonefile", lambda: clone)
    seen = []
    assert fileio.kernel_copy(str(src), str(dst), seen.append, plan=("clonefile", "stream")) == 3000
    assert calls == [(str(src), str(dst))] and seen == [3000]

    monkeypatch.setattr(features, "clonefile", lambda: lambda a, b: errno.ENOTSUP)  # not APFS: copied instead
    dst.unlink()
    assert fileio.kernel_copy(str(src), str(dst), plan=("clonefile", "stream")) == 3000
    assert dst.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("plan", [("stream",), ("sendfile", "stream"), ("copy_file_range", "stream"),
                                  ("ficlone", "copy_file_range", "sendfile", "stream")])
def test_every_copy_method_gives_the_same_bytes(tmp_path, plan):
    from gitmodels.storage import fileio

    if any(not hasattr(os, m) for m in plan if m in ("copy_file_range", "sendfile")) or \
            ("ficlone" in plan and not LINUX):
        plan = ("stream",)  # macOS / Windows runners: the methods they have are tested by the round trip
    src = tmp_path / "src"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    dst = tmp_path / "dst"
    assert fileio.kernel_copy(str(src), str(dst), plan=plan) == len(data)
    assert dst.read_bytes() == data


def test_fullfsync_falls_back_to_fsync_where_refused(tmp_path, monkeypatch):
    from gitmodels.storage import osfiles

    asked, synced = [], []

    def refuse(fd, cmd):
        asked.append(cmd)
        raise OSError(errno.EINVAL, "not supported")

    fake = types.SimpleNamespace(fcntl=types.SimpleNamespace(fcntl=refuse), full_fsync=51)
    monkeypatch.setattr(osfiles, "FEATURES", fake)
    monkeypatch.setattr(osfiles.os, "fsync", synced.append)
    osfiles.fsync_fd(7)
    assert asked == [51] and synced == [7]


def test_msvcrt_lock_excludes_a_second_holder(tmp_path):
    """The Windows lock path, with the shim's msvcrt stand-in: a second handle waits, then times out."""
    import importlib.util
    import time

    from gitmodels.errors import LockTimeout
    from gitmodels.storage.features import detect
    from gitmodels.storage.locking import repo_lock

    try:
        import msvcrt  # the real one, on the Windows runner
    except ImportError:
        import fcntl

        spec = importlib.util.spec_from_file_location("msvcrt_standin", SHIMS / "windows" / "_msvcrt_standin.py")
        standin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(standin)
        msvcrt = standin.make(fcntl)
    win = detect("win32", _fake_os("nt"), _fake_import({"msvcrt": msvcrt}), types.SimpleNamespace())
    lock = str(tmp_path / "meta" / "lock")
    with repo_lock(lock, features=win):
        start = time.monotonic()
        with pytest.raises(LockTimeout):
            with repo_lock(lock, timeout=0.2, features=win):
                pass
        assert time.monotonic() - start >= 0.2
    with repo_lock(lock, timeout=0.2, features=win):  # released on close
        pass


def test_marker_lock_where_neither_exists(tmp_path):
    from gitmodels.errors import LockTimeout
    from gitmodels.storage.features import detect
    from gitmodels.storage.locking import repo_lock

    bare = detect("plan9", _fake_os("plan9"), _fake_import({}), types.SimpleNamespace())
    assert bare.lock == "exclusive-create"
    lock = str(tmp_path / "meta" / "lock")
    with repo_lock(lock, features=bare):
        with pytest.raises(LockTimeout, match="lock.held"):
            with repo_lock(lock, timeout=0.1, features=bare):
                pass
    assert not os.path.exists(lock + ".held")


# -- Windows file rules: read-only files, files held open ----------------------------------------------------

def test_replace_onto_a_read_only_file_makes_it_writable_first(tmp_path):
    from gitmodels.storage import osfiles

    src, dst = tmp_path / "new", tmp_path / "old"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    os.chmod(dst, 0o444)
    tries = []

    def windows_replace(a, b):  # Windows refuses to replace a read-only file
        tries.append(os.stat(b).st_mode & 0o200)
        if not os.stat(b).st_mode & 0o200:
            raise PermissionError(errno.EACCES, "Access is denied", b)
        os.replace(a, b)

    osfiles.replace(str(src), str(dst), windows=True, _replace=windows_replace)
    assert dst.read_bytes() == b"new" and tries == [0, 0o200]


def test_replace_onto_a_file_held_open_retries_then_reports_one_line(tmp_path):
    from gitmodels.errors import FileInUse
    from gitmodels.storage import osfiles

    src, dst = tmp_path / "new", tmp_path / "model.bin"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    held = {"left": 3}

    def sharing_violation(a, b):
        if held["left"]:
            held["left"] -= 1
            raise PermissionError(errno.EACCES, "The process cannot access the file", b)
        os.replace(a, b)

    osfiles.replace(str(src), str(dst), windows=True, _replace=sharing_violation)  # let go after 3 tries
    assert dst.read_bytes() == b"new"

    src.write_bytes(b"newer")
    held["left"] = 10 ** 6
    with pytest.raises(FileInUse) as info:
        osfiles.replace(str(src), str(dst), wait=0.1, windows=True, _replace=sharing_violation)
    assert str(info.value).splitlines()[0] == f"cannot replace {dst}: another program has it open"
    assert "close the program" in info.value.hint


def test_replace_on_posix_never_waits(tmp_path):
    from gitmodels.storage import osfiles

    def denied(a, b):
        raise PermissionError(errno.EACCES, "denied")

    (tmp_path / "x").write_bytes(b"")
    with pytest.raises(PermissionError):
        osfiles.replace(str(tmp_path / "y"), str(tmp_path / "x"), windows=False, _replace=denied)


def test_remove_and_rmtree_take_read_only_files(tmp_path):
    from gitmodels.storage import osfiles

    f = tmp_path / "ro"
    f.write_bytes(b"x")
    os.chmod(f, 0o444)

    def windows_unlink(p):
        if not os.stat(p).st_mode & 0o200:
            raise PermissionError(errno.EACCES, "Access is denied", p)
        os.unlink(p)

    osfiles.remove(str(f), _unlink=windows_unlink)
    assert not f.exists()
    tree = tmp_path / "tree" / "sub"
    tree.mkdir(parents=True)
    (tree / "a").write_bytes(b"a")
    os.chmod(tree / "a", 0o444)
    osfiles.rmtree(str(tmp_path / "tree"))
    assert not (tmp_path / "tree").exists()


def test_pread_pwrite_fallbacks_without_the_posix_calls(tmp_path, monkeypatch):
    from gitmodels.storage import osfiles

    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    for name in ("pread", "pwrite", "preadv"):
        monkeypatch.delattr(os, name)
    fd = os.open(path, os.O_RDWR)
    try:
        assert osfiles.pread(fd, 3, 4) == b"456"
        buf = bytearray(4)
        assert osfiles.preadinto(fd, memoryview(buf), 8) == 2 and buf[:2] == b"89"
        assert osfiles.pwrite(fd, b"ab", 1) == 2
    finally:
        os.close(fd)
    assert path.read_bytes() == b"0ab3456789"


def test_pointers_store_slash_paths_even_where_the_separator_is_backslash(monkeypatch, tmp_path):
    """A directory model's manifest and a pointer's name use '/', whatever os.sep is (Windows)."""
    import ntpath

    from gitmodels.errors import UnsafeEntry
    from gitmodels.git import repo as git_repo
    from gitmodels.storage import manifest

    with pytest.raises(UnsafeEntry):
        manifest.check_relpath("weights\\layer0.bin")
    fake = types.SimpleNamespace(path=ntpath, sep="\\", curdir=".", pardir="..", getcwd=lambda: "C:\\work")
    monkeypatch.setattr(git_repo, "os", fake)
    repo = git_repo.GitRepo.__new__(git_repo.GitRepo)
    repo.worktree = "C:\\work"
    assert repo.relpath("C:\\work\\models\\encoder\\weights.bin") == "models/encoder/weights.bin"


# -- names that break other platforms, refused at add ------------------------------------------------------

@pytest.mark.parametrize("rel,why", [
    ("models/aux.bin", "'aux.bin' is AUX, a device name Windows reserves"),
    ("models/CON", "'CON' is CON"),
    ("models/nul.tar.gz", "'nul.tar.gz' is NUL"),
    ("models/Com7.pt", "'Com7.pt' is COM7"),
    ("models/lpt9", "'lpt9' is LPT9"),
    ("models/LPT\u00b9.bin", "is LPT\u00b9"),
    ("PRN/model.bin", "'PRN' is PRN"),
    ("models/model.", "ends in a dot"),
    ("models/model ", "ends in a space"),
    ("models/run 1 /m.bin", "'run 1 ' ends in a space"),
    ("models/a:b.bin", "contains ':'"),
    ("models/what?.bin", "contains '?'"),
    ('models/<x>|"y"*.bin', "contains '\"', '*', '<', '>', '|'"),
    ("models/tab\there.bin", "the control character '\\t'"),
    ("models/" + "x" * 195 + ".bin", "it is 206 characters long"),
])
def test_names_windows_cannot_hold(rel, why):
    from gitmodels.workspace.names import name_problem

    assert why in name_problem(rel)


@pytest.mark.parametrize("rel", ["models/console.bin", "models/auxiliary.pt", "models/com10.bin", "models/lpt0",
                                 "models/nul_model.bin", "models/.hidden", "models/v1.0/model.bin",
                                 "models/\u00e9t\u00e9.bin", "models/CONFIG",
                                 "m/" + "x" * 198])
def test_names_windows_can_hold(rel):
    from gitmodels.workspace.names import name_problem

    assert name_problem(rel) is None


def test_case_clash_names_both_paths():
    from gitmodels.errors import PathError
    from gitmodels.workspace.names import check_case

    check_case(["models/a.bin", "models/b.bin"], ["models/a.bin"])  # re-adding the same path is no clash
    with pytest.raises(PathError, match="models/Model.bin and models/model.bin differ only in case"):
        check_case(["models/Model.bin"], ["models/model.bin"])
    with pytest.raises(PathError, match="models/model.bin and models/MODEL.bin"):
        check_case(["models/MODEL.bin", "models/model.bin"], [])


def _cli(cwd, *args):
    return subprocess.run([sys.executable, "-m", "gitmodels", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def work(tmp_path):
    repo = tmp_path / "work"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert _cli(repo, "init", "--no-hooks", "--remote", str(tmp_path / "remote")).returncode == 0
    return repo


def test_add_refuses_case_clashes_and_reserved_names_in_one_line(work):
    models = work / "models"
    models.mkdir()
    for name in ("Model.bin", "model.bin", "aux.bin"):
        (models / name).write_bytes(name.encode() * 100)
    both = _cli(work, "add", "models/Model.bin", "models/model.bin")
    assert both.returncode != 0
    first = both.stderr.splitlines()[0]
    assert first == ("gitmodels: models/model.bin and models/Model.bin differ only in case: "
                     "on macOS and Windows they are one model")
    assert "portable_names = false" in both.stderr
    assert not (models / "Model.bin.gitmodel").exists() and not (models / "model.bin.gitmodel").exists()

    assert _cli(work, "add", "models/Model.bin").returncode == 0  # then the other one, later
    later = _cli(work, "add", "models/model.bin")
    assert later.returncode != 0 and "differ only in case" in later.stderr.splitlines()[0]

    aux = _cli(work, "add", "models/aux.bin")
    assert aux.returncode != 0
    assert aux.stderr.splitlines()[0] == ("gitmodels: models/aux.bin cannot be checked out on Windows: "
                                          "'aux.bin' is AUX, a device name Windows reserves (with any extension)")


def test_add_refuses_bad_names_inside_a_directory_model(work):
    enc = work / "models" / "enc"
    enc.mkdir(parents=True)
    (enc / "Weights.bin").write_bytes(b"a" * 100)
    (enc / "weights.bin").write_bytes(b"b" * 100)
    out = _cli(work, "add", "models/enc")
    assert out.returncode != 0
    assert "models/enc/weights.bin and models/enc/Weights.bin differ only in case" in out.stderr.splitlines()[0]
    assert not (work / "models" / "enc.gitmodel").exists()


def test_linux_only_teams_switch_the_check_off(work):
    (work / "gitmodels.toml").write_text((work / "gitmodels.toml").read_text() + "\n[core]\nportable_names = false\n"
                                         if "[core]" not in (work / "gitmodels.toml").read_text() else
                                         (work / "gitmodels.toml").read_text().replace("[core]", "[core]\nportable_names = false"))
    models = work / "models"
    models.mkdir()
    for name in ("Model.bin", "model.bin", "aux.bin"):
        (models / name).write_bytes(name.encode() * 100)
    out = _cli(work, "add", "models/Model.bin", "models/model.bin", "models/aux.bin")
    assert out.returncode == 0, out.stderr
    assert (models / "aux.bin.gitmodel").exists() and (models / "model.bin.gitmodel").exists()


def main() -> int:
    if "--round-trip" not in sys.argv:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        versions = round_trip(Path(tmp), dict(os.environ))
    print(f"round trip passed under {os.environ.get('GITMODELS_SHIM', 'no shim')}: {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
