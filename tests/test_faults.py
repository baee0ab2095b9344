"""Interrupted and concurrent commands: rerunning finishes the job and nothing in any store is corrupt."""

import hashlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.gitutil import git
from tests.gitutil import gitmodels as gm


def all_objects_valid(*roots):
    count = 0
    for root in roots:
        for path in root.rglob("objects/*/*"):
            if path.is_file() and not path.name.startswith(".gmtmp-"):  # a killed writer's temp: never named as an object
                assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, f"corrupt {path}"
                count += 1
    return count


def many_files(folder, n=40, size=1 << 20, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"shard-{i:03d}.bin").write_bytes(hashlib.sha256(b"%d-%d" % (seed, i)).digest() * (size // 32))


def start(cwd, *args):
    return subprocess.Popen([sys.executable, "-m", "gitmodels", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_after(proc, seconds):
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("delay", [0.25, 0.6])
def test_interrupted_add_then_rerun(repo, delay):
    many_files(repo / "models" / "big")
    kill_after(start(repo, "add", "models/big"), delay)
    gm(repo, "add", "models/big")
    assert all_objects_valid(repo / ".git" / "gitmodels") == 41  # 40 shards + manifest
    (repo / "models" / "big").rename(repo / "models" / "big.orig")
    gm(repo, "checkout")
    for f in (repo / "models" / "big.orig").iterdir():
        assert (repo / "models" / "big" / f.name).read_bytes() == f.read_bytes()


@pytest.mark.parametrize("delay", [0.3, 0.7])
def test_interrupted_push_and_pull_then_rerun(repo, tmp_path, remote_dir, delay):
    many_files(repo / "models" / "big")
    gm(repo, "add", "models/big")
    git(repo, "commit", "-qm", "big")
    kill_after(start(repo, "push", "-j", "2"), delay)
    all_objects_valid(remote_dir)
    gm(repo, "push")
    assert all_objects_valid(remote_dir) == 41

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    kill_after(start(clone, "pull", "-j", "2"), delay)
    all_objects_valid(clone / ".git" / "gitmodels")
    gm(clone, "pull")
    assert all_objects_valid(clone / ".git" / "gitmodels") == 41
    for f in (repo / "models" / "big").iterdir():
        assert (clone / "models" / "big" / f.name).read_bytes() == f.read_bytes()
    assert gm(clone, "status").stdout.count("up to date") == 1


def test_two_adds_at_once(repo):
    many_files(repo / "a", n=10, seed=1)
    many_files(repo / "b", n=10, seed=2)
    procs = [start(repo, "add", "a"), start(repo, "add", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    staged = set(git(repo, "diff", "--cached", "--name-only").stdout.split())
    assert {"a.gitmodel", "b.gitmodel", ".gitignore"} <= staged
    ignore = (repo / ".gitignore").read_text().splitlines()
    assert "/a" in ignore and "/b" in ignore
    assert all_objects_valid(repo / ".git" / "gitmodels") == 22


def test_push_and_pull_at_once(repo, tmp_path, remote_dir):
    many_files(repo / "models" / "v1", n=20, seed=3)
    gm(repo, "add", "models/v1")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    many_files(repo / "models" / "v2", n=20, seed=4)
    gm(repo, "add", "models/v2")
    git(repo, "commit", "-qm", "v2")
    procs = [start(repo, "push"), start(clone, "pull")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert all_objects_valid(remote_dir, clone / ".git" / "gitmodels") >= 42
    git(clone, "pull", "-q")
    gm(clone, "pull")
    assert (clone / "models" / "v2" / "shard-000.bin").read_bytes() == (repo / "models/v2/shard-000.bin").read_bytes()


def test_unreachable_directory_remote_is_one_clear_line(repo, tmp_path):
    (repo / "m.bin").write_bytes(b"x" * 1000)
    gm(repo, "add", "m.bin")
    added = gm(repo, "remote", "add", "gone", str(tmp_path / "not-mounted" / "models"), "--default")
    assert "missing parent folder" in added.stderr  # `remote add` creates it, and says so
    shutil.rmtree(tmp_path / "not-mounted")  # then the share goes away
    proc = gm(repo, "push", check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("gitmodels: ") and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_temp_files_left_by_a_killed_checkout_are_not_changes(repo):
    """A checkout killed mid-copy leaves `.gmtmp-*` files; the rerun must not take them for user edits."""
    many_files(repo / "models" / "big", n=3)
    (repo / "models" / "one.bin").write_bytes(b"one" * 1000)
    gm(repo, "add", "models/big", "models/one.bin")
    git(repo, "commit", "-qm", "models")
    (repo / "models" / "big" / "shard-001.bin").unlink()
    stray = repo / "models" / "big" / ".gmtmp-shard-001.bin-0820769de243"
    stray.write_bytes(b"half a copy")
    (repo / "models" / "one.bin").unlink()
    stray_file = repo / "models" / ".gmtmp-one.bin-1234567890ab"
    stray_file.write_bytes(b"half")
    gm(repo, "checkout")
    assert not stray.exists() and not stray_file.exists()
    assert "up to date" in gm(repo, "status").stdout
    assert git(repo, "status", "--porcelain").stdout == ""
