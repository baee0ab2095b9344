"""The small files of a directory model travel in packs: one bundle recipe per directory (docs/storage.md).

Real git, real remotes: a directory remote, and moto S3 where the requests of
a push and a pull are counted on the wire.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitmodels.storage.objects import bundle_name
from tests.gitutil import cache_oids, cached_bytes, commit_all, git, gitmodels, model_bytes, write_model

MiB = 1024 * 1024


def small_dir(n: int, seed: str = "f", size: int = 2048) -> dict[str, bytes]:
    files = {f"d{i % 10}/f{i:05d}.bin": model_bytes(f"{seed}{i}", size) for i in range(n)}
    return files


def remote_files(store: Path, prefix: str) -> set[str]:
    root = store / prefix
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def add_dir(work: Path, rel: str, content: dict[str, bytes]) -> str:
    write_model(work / rel, content)
    gitmodels(work, "add", rel)
    commit_all(work, f"{rel} {len(content)}")
    return git(work, "rev-parse", "HEAD").stdout.strip()


def manifest_oid(work: Path, rel: str) -> str:
    from gitmodels.repo import Repo

    with Repo(str(work)) as repo:
        return repo.pointers(None)[rel].oid


def fresh_clone(world, name: str, rev: str | None = None) -> Path:
    path = world.clone(name, install=False)
    if rev:
        git(path, "checkout", "-q", rev)
    gitmodels(path, "pull")
    return path


def test_a_directory_pushes_packs_and_one_bundle_and_pulls_byte_identical(world):
    scenario(world)


def scenario(world):
    alice = world.first_clone()
    content = small_dir(300)
    content["big/weights.bin"] = model_bytes("big", 2 * MiB)
    content["dup/a.bin"] = content["d0/f00000.bin"]  # duplicate bytes: one pack entry
    content["empty/one.txt"] = b""
    content["empty/two.txt"] = b""
    first = add_dir(alice, "model", content)
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    store = world.models
    m = manifest_oid(alice, "model")
    objects = remote_files(store, "objects")
    big = hashlib.sha256(content["big/weights.bin"]).hexdigest()
    small = {hashlib.sha256(v).hexdigest() for k, v in content.items() if 0 < len(v) < MiB}
    assert m in objects and big in objects | remote_files(store, "recipes")
    assert not (small & objects), "a small file went up as its own object"
    assert bundle_name(m) in remote_files(store, "recipes")
    assert 1 <= len(remote_files(store, "packs")) <= 2  # the small files' pack (and the big file's chunks)

    bob = fresh_clone(world, "bob")
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")
    assert (bob / "model/empty/one.txt").read_bytes() == b""

    # One changed file: one new small pack, not the directory again; it pulls.
    packs_before = remote_files(store, "packs")
    content["d3/f00003.bin"] = model_bytes("changed", 2048)
    second = add_dir(alice, "model", content)
    gitmodels(alice, "push")
    new_packs = remote_files(store, "packs") - packs_before
    assert len(new_packs) == 1
    (new,) = new_packs
    assert next(store.glob(f"packs/*/{new}")).stat().st_size < 8192
    git(alice, "push", "-q", "origin", "main")
    git(bob, "pull", "-q", "origin", "main")
    gitmodels(bob, "pull")
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")

    # Local gc: the old version's file is on the remote (in its bundle), so it leaves the cache.
    old = hashlib.sha256(model_bytes("f3", 2048)).hexdigest()
    assert cached_bytes(alice, old) == model_bytes("f3", 2048)  # in a pack of the cache
    gitmodels(alice, "gc")
    assert cached_bytes(alice, old) is None

    # fsck sees through the bundles; status and whereis call the model pushed.
    assert gitmodels(alice, "fsck", "--remote").code == 0
    where = gitmodels(alice, "whereis", "model", "--json").json()
    assert [m["places"] for m in where["models"]] == [{"local": "present", "origin": "present"}], where
    status = gitmodels(alice, "status", "--remote", "--json").json()
    assert [m.get("pushed") for m in status["models"]] == [True], status
    return world, alice, first, second


def test_remote_gc_keeps_what_kept_commits_need(world):
    _, alice, first, second = scenario(world)
    git(alice, "push", "-q", "origin", "main")
    # A version no commit on the git server names: pushed from a branch only another clone had.
    stray = world.clone("stray", install=False)
    gitmodels(stray, "pull")
    git(stray, "checkout", "-q", "-b", "scratch")
    add_dir(stray, "model", small_dir(40, "stray"))
    gitmodels(stray, "push")
    stray_bundle = bundle_name(manifest_oid(stray, "model"))
    kept = {bundle_name(manifest_oid(alice, "model"))}
    assert stray_bundle in remote_files(world.models, "recipes")
    packs_before = remote_files(world.models, "packs")
    config = Path(alice, ".git/gitmodels/config.toml")
    config.write_text((config.read_text() if config.exists() else "") + "\n[gc]\ngrace_days = 0\n")
    for _ in range(2):
        gitmodels(alice, "gc", "--remote", "--yes")
    recipes = remote_files(world.models, "recipes")
    assert stray_bundle not in recipes and kept <= recipes
    assert len(remote_files(world.models, "packs") - packs_before) <= 1  # at most a repack, the stray pack gone
    assert remote_files(world.models, "packs") != packs_before
    assert gitmodels(alice, "fsck", "--remote").code == 0
    for i, rev in enumerate((first, second)):
        clone = fresh_clone(world, f"kept{i}", rev)
        assert len(tree_hashes(clone / "model")) == 304


def test_a_remote_of_the_previous_release_still_pulls(world):
    """pack_threshold 0 writes files as objects/ as releases before bundles did; the new code reads it."""
    alice = world.first_clone()
    config = Path(alice, ".git/gitmodels/config.toml")
    config.write_text((config.read_text() if config.exists() else "") + "\n[core]\npack_threshold = 0\n")
    content = small_dir(50, "old")
    add_dir(alice, "model", content)
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    assert not remote_files(world.models, "recipes") and not remote_files(world.models, "packs")
    bob = fresh_clone(world, "bob")
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")
    # After upgrading, the next version's small files go in packs once.
    content["d1/f00001.bin"] = model_bytes("new", 2048)
    add_dir(bob, "model", content)
    gitmodels(bob, "push")
    m = manifest_oid(bob, "model")
    assert bundle_name(m) in remote_files(world.models, "recipes")
    git(bob, "push", "-q", "origin", "main")
    carol = fresh_clone(world, "carol")
    assert tree_hashes(carol / "model") == tree_hashes(bob / "model")


def test_s3_push_and_pull_of_3000_small_files_take_few_requests(world, s3_remote, s3_requests):
    from gitmodels.repo import Repo

    url, settings = s3_remote
    alice = world.first_clone()
    gitmodels(alice, "remote", "add", "cloud", url, "--default", "--local", "-s",
              f"endpoint_url={settings['endpoint_url']}")
    content = small_dir(3000, "s3")
    add_dir(alice, "model", content)

    sent = s3_requests
    with Repo(str(alice)) as r:
        result = r.push(progress=False)
    assert not result.failed
    assert 0 < len(sent) <= 40, sent
    assert not [u for _, u in sent if "/objects/" in u and manifest_oid(alice, "model") not in u]
    git(alice, "push", "-q", "origin", "main")

    bob = world.clone("bob", install=False)
    gitmodels(bob, "remote", "add", "cloud", url, "--default", "--local", "-s",
              f"endpoint_url={settings['endpoint_url']}")
    sent.clear()
    with Repo(str(bob)) as r:
        got = r.fetch(progress=False)
        assert not got.failed
        r.checkout(progress=False)
    assert 0 < len(sent) <= 40, sent
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")
    with Repo(str(bob)) as r:
        (st,) = r.status(remote=True)
        assert st.pushed


def test_a_pull_killed_midway_resumes_and_every_file_is_whole(world):
    alice = world.first_clone()
    content = small_dir(5000, "kill", 4096)
    add_dir(alice, "model", content)
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    bob = world.clone("bob", install=False)
    objects = bob / ".git/gitmodels/objects"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "gitmodels", "pull"], cwd=bob, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for stage in bob.glob(".gmtmp-model-*") for _ in stage.rglob("*")) > 200:
            break
        time.sleep(0.005)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(bob.glob(".gmtmp-model-*")), "the killed pull left no stage: it was not writing the workspace yet"
    gitmodels(bob, "pull")
    assert tree_hashes(bob / "model") == {k: hashlib.sha256(v).hexdigest() for k, v in sorted(content.items())}
    assert not list(bob.glob(".gmtmp-*")), "the killed pull's stage is left behind"
    for p in objects.rglob("*"):  # every published object is whole and verified
        if p.is_file():
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name
    assert {hashlib.sha256(v).hexdigest() for v in content.values()} <= cache_oids(bob)
    for oid in cache_oids(bob):  # packed ones too: read back, each hashed
        assert cached_bytes(bob, oid) is not None
    assert killed, "the pull finished before it could be killed"


def test_a_damaged_pack_entry_never_enters_the_cache(world):
    from gitmodels.chunking.formats import PACK_HEADER_SIZE
    from tests.gitutil import flip_byte

    alice = world.first_clone()
    content = small_dir(30, "damaged")
    add_dir(alice, "model", content)
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    (pack,) = [p for p in (world.models / "packs").rglob("*") if p.is_file()]
    flip_byte(pack, PACK_HEADER_SIZE + 10)  # inside the first entry: d0/f00000.bin, first in path order
    bob = world.clone("bob", install=False)
    failed = gitmodels(bob, "pull", check=False)
    assert failed.code != 0 and "corrupt" in failed.stderr.lower(), failed.stderr
    assert not (bob / "model").exists() and not list(bob.glob(".gmtmp-*"))  # the stage went with the pull
    bad = hashlib.sha256(content["d0/f00000.bin"]).hexdigest()
    assert cached_bytes(bob, bad) is None
    for rel, data in content.items():
        oid = hashlib.sha256(data).hexdigest()
        if oid != bad:
            assert cached_bytes(bob, oid) == data


def test_a_fresh_pull_writes_each_small_file_once_and_the_checkout_places_the_rest(world, monkeypatch):
    """A directory the clone does not have yet is written by the fetch, from the bytes it verified, into a
    stage renamed into place (workspace/dirs.Stage); the checkout copies only what the bundle did not bring."""
    from gitmodels.repo import Repo
    from gitmodels.workspace import dirs

    alice = world.first_clone()
    content = small_dir(400, "stage")
    content["big/weights.bin"] = model_bytes("big", 2 * MiB)  # not in the bundle
    content["empty.txt"] = b""  # nothing to fetch
    content["dup/copy.bin"] = content["d1/f00001.bin"]  # one object, two files
    add_dir(alice, "model", content)
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    bob = world.clone("bob", install=False)
    copied = []
    real = dirs.Placer.copy
    monkeypatch.setattr(dirs.Placer, "copy", lambda self, oid, dest, *a, **k: copied.append(dest) or
                        real(self, oid, dest, *a, **k))
    with Repo(str(bob)) as repo:
        repo.pull(progress=False)
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")
    assert sorted(os.path.relpath(p, bob / "model") for p in copied) == ["big/weights.bin", "empty.txt"]
    assert not list(bob.glob(".gmtmp-*"))
    # the files written by the fetch are in the stat cache: a status reads none of them
    status = gitmodels(bob, "status", "--json").json()
    assert [m["state"] for m in status["models"]] == ["up-to-date"], status
    monkeypatch.setattr(dirs, "hash_listed", lambda *a: (_ for _ in ()).throw(AssertionError("re-hashed")))
    with Repo(str(bob)) as repo:
        assert repo.workspace.scan(str(bob / "model")).oid == manifest_oid(alice, "model")


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("a bug")])
def test_a_stage_whose_writer_fails_leaves_the_checkout_to_place_every_file(world, monkeypatch, failure):
    """The stage's writer thread stops writing at its first failure, drains what the fetch still hands
    it (the fetch never waits on a full queue), and the checkout then places every file itself."""
    from gitmodels.repo import Repo
    from gitmodels.workspace import dirs

    monkeypatch.setattr(dirs, "STAGE_BATCH", 4)  # many batches: more than the queue holds
    alice = world.first_clone()
    add_dir(alice, "model", small_dir(300, "broken stage"))
    gitmodels(alice, "push")
    git(alice, "push", "-q", "origin", "main")
    bob = world.clone("bob", install=False)
    batches = []
    real = dirs.Stage._write

    def failing(self, batch):
        batches.append(len(batch))
        if len(batches) > 3:
            raise failure
        real(self, batch)

    monkeypatch.setattr(dirs.Stage, "_write", failing)
    with Repo(str(bob)) as repo:
        repo.pull(progress=False)
    assert len(batches) == 4  # it stopped at its first failure
    assert tree_hashes(bob / "model") == tree_hashes(alice / "model")
    assert not list(bob.glob(".gmtmp-*"))
