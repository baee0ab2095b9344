"""A pointer's size is a claim: every command that reads the object it names checks it (issue 15, item 3)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from gitmodels.storage import pointer
from gitmodels.errors import BadPointer, SizeMismatch
from gitmodels.progress import human_bytes
from tests.gitutil import git
from tests.gitutil import gitmodels as gm

DATA = hashlib.sha256(b"m").digest() * 3125  # 100 kB
FILES = {"a.json": b'{"k": 1}', "w/b.bin": b"b" * 5000}
OID = "a" * 64


def doc(size) -> str:
    return f'version = 1\noid = "sha256:{OID}"\nsize = {size}\nkind = "file"\n'


@pytest.mark.parametrize("size,needle", [
    (10**400, "out of range"), (2**63, "out of range"), (-1, "out of range"), ("1.5", "must be an integer"),
    ("true", "must be an integer"), ('"10"', "must be an integer"), ("inf", "must be an integer"),
    ("9" * 5000, "not valid TOML"),
])
def test_integer_fields_are_within_0_and_2_63(size, needle):
    for parse in (pointer.parse, pointer.parse_fast):
        with pytest.raises(BadPointer) as info:
            parse(doc(size).encode(), "m.bin.gitmodel")
        assert needle in info.value.message and "m.bin.gitmodel" in info.value.message
        assert "\n" not in info.value.message and len(info.value.message) < 300
    text = doc(1) + "files = %s\n"
    for bad in ("-2", str(2**64), "false"):
        with pytest.raises(BadPointer, match="`files`"):
            pointer.parse_fast((text % bad).encode(), "m.gitmodel")
    assert pointer.parse(doc(2**63 - 1).encode()).size == 2**63 - 1


def test_deep_nesting_is_a_pointer_error():
    for meta in ("x = " + "[" * 2000 + "]" * 2000, "x = " + "[" * 40 + "]" * 40, "[" + ".".join(["t"] * 60) + "]"):
        with pytest.raises(BadPointer):
            pointer.parse((doc(1) + meta + "\n").encode(), "m.gitmodel")


def test_human_bytes_survives_absurd_numbers():
    assert human_bytes(10**400).startswith("more than")
    assert human_bytes(2**63 - 1).endswith("TiB")


def test_check_size():
    ptr = pointer.Pointer(oid=OID, size=10, kind="dir", files=2)
    pointer.check_size(ptr, 10, 2, "m")
    with pytest.raises(SizeMismatch, match=r"m: size mismatch: the pointer says 10 bytes, .* has 11"):
        pointer.check_size(ptr, 11, 2, "m")
    with pytest.raises(SizeMismatch, match="says 2 files"):
        pointer.check_size(ptr, 10, 3, "m")


def _lie(work, rel: str, size: int) -> None:
    p = work / f"{rel}.gitmodel"
    p.write_text(re.sub(r"(?m)^size = \d+$", f"size = {size}", p.read_text()))


def _one_error(res, model: str) -> None:
    assert res.returncode == 3, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("  hint: "), res.stderr
    assert lines[0].startswith(f"gitmodels: {model}: size mismatch: the pointer says "), res.stderr
    assert "Traceback" not in res.output


@pytest.fixture
def lied(repo):
    (repo / "m.bin").write_bytes(DATA)
    for rel, data in FILES.items():
        (repo / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "d" / rel).write_bytes(data)
    gm(repo, "add", "m.bin", "d")
    git(repo, "commit", "-qm", "models")
    _lie(repo, "m.bin", 10**12)
    _lie(repo, "d", 4)
    git(repo, "commit", "-qam", "lie about the sizes")
    return repo


def test_status_reports_a_wrong_size_with_and_without_the_stat_cache(lied):
    for _ in range(2):  # the second run answers from the stat cache
        res = gm(lied, "status", "--json")
        states = {s["path"]: s for s in json.loads(res.stdout)["models"]}
        assert states["m.bin"]["state"] == "bad-pointer" and "size mismatch" in states["m.bin"]["error"]
        assert states["d"]["state"] == "bad-pointer" and "says 4 bytes" in states["d"]["error"]
    (lied / ".git" / "gitmodels" / "state.db").unlink()
    assert "size mismatch" in gm(lied, "status").stdout
    for size in (10**30, 10**400):  # out of range: a pointer error, not a traceback
        _lie(lied, "m.bin", size)
        res = gm(lied, "status")
        assert "m.bin.gitmodel: `size` = 1000" in res.stdout and "Traceback" not in res.output


def test_checkout_refuses_a_wrong_size_and_changes_nothing(lied):
    _one_error(gm(lied, "checkout", "m.bin", check=False), "m.bin")  # in place: from the stat cache
    (lied / "m.bin").unlink()
    _one_error(gm(lied, "checkout", "m.bin", check=False), "m.bin")  # restoring it: from the cached object
    assert not (lied / "m.bin").exists()
    _one_error(gm(lied, "checkout", "d", check=False), "d")
    (lied / "d" / "a.json").write_bytes(b"changed")
    gm(lied, "add", "d", "--no-stage")
    _lie(lied, "d", 4)
    _one_error(gm(lied, "checkout", "--force", "d", check=False), "d")
    assert (lied / "d" / "a.json").read_bytes() == b"changed"


def test_get_and_fsck_and_push_report_a_wrong_size(lied, tmp_path):
    for model in ("m.bin", "d"):
        _one_error(gm(lied, "get", f"{model}@HEAD", "-o", str(tmp_path / "out"), check=False), model)
    assert not (tmp_path / "out" / "m.bin").exists()
    res = gm(lied, "fsck", check=False)
    assert res.returncode == 6
    assert "2 pointer(s) with a wrong size" in res.stderr
    assert "BAD POINTER" in res.stdout and "at m.bin.gitmodel: size mismatch" in res.stdout
    assert not (lied / ".git" / "gitmodels" / "quarantine").exists()  # the objects are sound
    res = gm(lied, "push", check=False)
    assert res.returncode != 0 and "size mismatch" in res.stderr and "Traceback" not in res.output
    assert not list((lied.parent / "model-remote").rglob(hashlib.sha256(DATA).hexdigest()))


def test_load_checks_the_size(tmp_path, repo):
    import gitmodels

    (repo / "d").mkdir()
    (repo / "d" / "w.bin").write_bytes(b"w" * 100)
    gm(repo, "add", "d")
    _lie(repo, "d", 99)
    with pytest.raises(SizeMismatch, match="d: size mismatch"):
        gitmodels.load(str(repo / "d"))


def test_a_damaged_cached_object_is_not_blamed_on_its_pointer(repo, tmp_path):
    import os

    (repo / "m.bin").write_bytes(DATA)
    gm(repo, "add", "m.bin")
    oid = hashlib.sha256(DATA).hexdigest()
    cached = repo / ".git" / "gitmodels" / "objects" / oid[:2] / oid
    os.chmod(cached, 0o644)
    cached.write_bytes(DATA[:100])  # what a crash can leave: a short object
    res = gm(repo, "push", check=False)
    assert res.returncode != 0 and "corrupt object" in res.stderr and "size mismatch" not in res.stderr, res.stderr
    git(repo, "commit", "-qm", "m")
    res = gm(repo, "get", "m.bin", "--rev", "HEAD", "-o", str(tmp_path / "out"), check=False)
    assert res.returncode != 0 and "size mismatch" not in res.stderr, res.stderr
    assert list((repo / ".git" / "gitmodels" / "quarantine").iterdir())  # treated as the damaged copy it is


def test_pre_push_stops_a_pointer_that_lies_about_its_size(world):
    alice = world.first_clone("alice")
    world.add_model(alice, "m.bin", DATA)
    _lie(alice, "m.bin", len(DATA) + 1)
    git(alice, "add", "m.bin.gitmodel")
    git(alice, "commit", "-qm", "a lying pointer")
    res = git(alice, "push", "origin", "main", check=False)
    assert res.returncode != 0 and "size mismatch" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert git(alice, "ls-remote", "origin", "main").stdout.split()[0] != git(alice, "rev-parse", "HEAD").stdout.strip()
