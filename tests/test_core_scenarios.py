"""What a user does with the core commands, driven through the real git CLI and the real `gitmodels` CLI."""

import hashlib
import json
import os
import shutil

import pytest

from tests.gitutil import git
from tests.gitutil import gitmodels as gm


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_models(work, seed=b"v1"):
    write(work / "models" / "churn.joblib", hashlib.sha256(seed).digest() * 40000)
    write(work / "models" / "encoder" / "config.json", b'{"dim": 8, "seed": "%s"}' % seed)
    write(work / "models" / "encoder" / "weights" / "layer0.bin", seed * 5000)


def status(work):
    return {s["path"]: s for s in json.loads(gm(work, "status", "--json").stdout)["models"]}


def test_the_everyday_flow(repo, tmp_path):
    make_models(repo)
    out = gm(repo, "add", "models/churn.joblib", "models/encoder/").stdout
    assert "models/churn.joblib.gitmodel" in out and "models/encoder.gitmodel" in out
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert set(staged) == {"models/.gitignore", "models/churn.joblib.gitmodel", "models/encoder.gitmodel"}
    git(repo, "commit", "-qm", "train v1")
    assert git(repo, "status", "--porcelain").stdout == ""  # the artifacts are ignored
    v1 = sha(repo / "models" / "churn.joblib")
    assert "pushed: 4 object(s)" in gm(repo, "push").stdout
    assert "0 object(s)" in gm(repo, "push").stdout

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert {s["state"] for s in status(clone).values()} == {"missing"}
    gm(clone, "pull")
    assert sha(clone / "models" / "churn.joblib") == v1
    assert (clone / "models/encoder/weights/layer0.bin").read_bytes() == b"v1" * 5000
    assert {s["state"] for s in status(clone).values()} == {"up-to-date"}

    # retrain, then travel back in history
    make_models(repo, b"v2")
    assert status(repo)["models/churn.joblib"]["state"] == "modified"
    gm(repo, "add", "models/churn.joblib", "models/encoder")
    git(repo, "commit", "-qam", "v2")
    v2 = sha(repo / "models" / "churn.joblib")
    git(repo, "checkout", "-q", "HEAD~1")
    gm(repo, "checkout")
    assert sha(repo / "models" / "churn.joblib") == v1
    assert (repo / "models/encoder/config.json").read_bytes() == b'{"dim": 8, "seed": "v1"}'
    git(repo, "checkout", "-q", "main")
    gm(repo, "checkout")
    assert sha(repo / "models" / "churn.joblib") == v2


def test_git_models_alias(repo):
    assert shutil.which("git-models"), "the git-models console script must be installed"
    assert git(repo, "models", "--version").stdout.startswith("gitmodels")


def test_status_json_and_ls(repo):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    rows = json.loads(gm(repo, "ls", "--json").stdout)["models"]
    assert rows[0]["path"] == "models/churn.joblib" and rows[0]["in_cache"]
    (repo / "models" / "churn.joblib").unlink()
    assert status(repo)["models/churn.joblib"]["state"] == "missing"
    gm(repo, "checkout")
    assert status(repo)["models/churn.joblib"]["state"] == "up-to-date"
    st = json.loads(gm(repo, "status", "--remote", "--json").stdout)["models"][0]
    assert st["pushed"] is False
    gm(repo, "push")
    assert json.loads(gm(repo, "status", "--remote", "--json").stdout)["models"][0]["pushed"] is True


def test_checkout_refuses_to_overwrite_unsaved_changes(repo):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")
    (repo / "models" / "churn.joblib").write_bytes(b"my precious experiment")
    proc = gm(repo, "checkout", check=False)
    assert proc.returncode != 0
    assert "not saved" in proc.stderr and "Traceback" not in proc.stderr
    assert (repo / "models" / "churn.joblib").read_bytes() == b"my precious experiment"
    gm(repo, "checkout", "--force", "models/churn.joblib")
    assert (repo / "models" / "churn.joblib").read_bytes() != b"my precious experiment"


@pytest.mark.parametrize("case", ["outside", "tracked", "symlink", "nonexistent", "gitdir"])
def test_add_bad_paths(repo, tmp_path, case):
    if case == "outside":
        target = write(tmp_path / "elsewhere.bin", b"x")
    elif case == "tracked":
        target = write(repo / "train.py", b"print(1)")
        git(repo, "add", "train.py")
    elif case == "symlink":
        write(repo / "real.bin", b"x")
        os.symlink("real.bin", repo / "link.bin")
        target = repo / "link.bin"
    elif case == "gitdir":
        target = repo / ".git" / "HEAD"
    else:
        target = repo / "nope.bin"
    proc = gm(repo, "add", str(target), check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("gitmodels: ") and "Traceback" not in proc.stderr
    assert "hint:" in proc.stderr or case in ("nonexistent", "gitdir", "symlink")


def test_symlink_out_of_a_model_directory_is_refused(repo, tmp_path):
    write(repo / "m" / "a.bin", b"a")
    write(tmp_path / "secret", b"s")
    os.symlink(tmp_path / "secret", repo / "m" / "b.bin")
    proc = gm(repo, "add", "m", check=False)
    assert proc.returncode != 0 and "outside" in proc.stderr


@pytest.mark.parametrize("damage", ["conflict", "truncated", "garbage", "version"])
def test_broken_pointer_gives_one_line_and_keeps_the_artifact(repo, damage):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    pointer = repo / "models" / "churn.joblib.gitmodel"
    text = pointer.read_text()
    pointer.write_text({
        "conflict": "<<<<<<< HEAD\n" + text + "=======\n" + text + ">>>>>>> other\n",
        "truncated": text[: len(text) // 2],
        "garbage": "\x00not toml [[[",
        "version": text.replace("version = 1", "version = 99"),
    }[damage])
    before = sha(repo / "models" / "churn.joblib")
    proc = gm(repo, "checkout", check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if "run `gitmodels install`" not in line]  # no hooks
    assert lines[0].startswith("gitmodels: models/churn.joblib.gitmodel") and len(lines) == 2
    assert sha(repo / "models" / "churn.joblib") == before
    assert status(repo)["models/churn.joblib"]["state"] == "bad-pointer"


def test_object_missing_everywhere_names_the_model_and_remotes(repo, tmp_path):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")  # never pushed
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    proc = gm(clone, "pull", check=False)
    assert proc.returncode != 0
    assert "models/churn.joblib" in proc.stderr or "not on remote" in proc.stderr
    assert "origin" in proc.stderr or str(tmp_path) in proc.stderr
    assert not (clone / "models" / "churn.joblib").exists()


def test_corrupt_object_on_the_remote_is_detected_and_never_used(repo, tmp_path, remote_dir):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "push")
    oid = sha(repo / "models" / "churn.joblib")
    obj = remote_dir / "objects" / oid[:2] / oid
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[1000] ^= 0xFF
    obj.write_bytes(bytes(data))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    proc = gm(clone, "pull", check=False)
    assert proc.returncode != 0
    assert "corrupt" in proc.stderr and oid[:2] in proc.stderr
    assert not (clone / "models" / "churn.joblib").exists()
    assert not list((clone / ".git" / "gitmodels" / "objects").rglob(oid))


def test_corrupt_object_in_the_cache_never_reaches_the_workspace(repo):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")
    oid = sha(repo / "models" / "churn.joblib")
    cached = repo / ".git" / "gitmodels" / "objects" / oid[:2] / oid
    os.chmod(cached, 0o644)
    data = bytearray(cached.read_bytes())
    data[0] ^= 1
    cached.write_bytes(bytes(data))
    (repo / "models" / "churn.joblib").unlink()
    proc = gm(repo, "checkout", check=False)
    assert proc.returncode != 0 and "corrupt" in proc.stderr and str(cached) in proc.stderr
    assert not (repo / "models" / "churn.joblib").exists()


def test_worktrees_share_the_cache(repo, tmp_path, remote_dir):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")
    shutil.rmtree(remote_dir)  # nothing to fetch from: the shared cache must serve
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    gm(wt, "checkout")
    assert sha(wt / "models" / "churn.joblib") == sha(repo / "models" / "churn.joblib")


def test_push_rev_and_all(repo, remote_dir):
    make_models(repo)
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    make_models(repo, b"v2")
    gm(repo, "add", "models/churn.joblib")
    git(repo, "commit", "-qm", "v2")
    assert "1 object(s)" in gm(repo, "push", "--rev", "v1").stdout
    assert "1 object(s)" in gm(repo, "push", "--all").stdout
    assert len(list((remote_dir / "objects").rglob("*"))) == 4  # two fan-out dirs + two objects


def test_remote_commands(repo, tmp_path):
    gm(repo, "remote", "add", "backup", str(tmp_path / "b"))
    gm(repo, "remote", "add", "cloud", "s3://bucket/prefix", "-s", "endpoint_url=http://127.0.0.1:1", "--local")
    listed = {r["name"]: r for r in json.loads(gm(repo, "remote", "list", "--json").stdout)["remotes"]}
    assert listed["origin"]["default"] and listed["cloud"]["config"] == "local"
    assert "cloud" not in (repo / "gitmodels.toml").read_text()
    gm(repo, "remote", "default", "backup")
    assert json.loads(gm(repo, "remote", "list", "--json").stdout)["remotes"][0]["name"] == "backup"
    gm(repo, "remote", "remove", "backup")
    proc = gm(repo, "remote", "add", "x", "ftp://nope", check=False)
    assert proc.returncode != 0 and "unsupported remote URL" in proc.stderr
    proc = gm(repo, "remote", "add", "x", "s3://bkt/p", "-s", "secret_access_key=abc", check=False)
    assert proc.returncode != 0 and "--local" in proc.stderr


def test_init_is_idempotent(repo):
    before = (repo / "gitmodels.toml").read_text()
    assert "nothing to change" in gm(repo, "init", "--no-hooks").stdout
    assert (repo / "gitmodels.toml").read_text() == before


def test_status_outside_a_repository(tmp_path):
    proc = gm(tmp_path, "status", check=False)
    assert proc.returncode != 0 and "not inside a git repository" in proc.stderr


def test_stats_shows_per_model_dedup_on_the_remote(repo):
    big = bytearray(hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32))
    for i in range(0, len(big), 4096):  # content that chunks well: no long repeats
        big[i:i + 32] = hashlib.sha256(b"%d" % i).digest()
    write(repo / "w.bin", bytes(big))
    gm(repo, "add", "w.bin")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "push")
    big[5_000_000:5_100_000] = b"\x01" * 100_000
    write(repo / "w.bin", bytes(big))
    gm(repo, "add", "w.bin")
    git(repo, "commit", "-qm", "v2")
    assert "already on the remote" in gm(repo, "push").stdout
    remote = json.loads(gm(repo, "stats", "--remote", "--json").stdout)["remote"]
    assert remote["chunking"]["dedup_ratio"] > 1.5
    [row] = remote["models"]
    assert row["path"] == "w.bin" and row["storage"] == "chunked"
    assert 0 < row["unique_bytes"] < 1024 * 1024
