"""What users do with the Azure, SSH and HTTP remotes, through the real git and gitmodels CLIs.

A chunked model pushed to Azurite or to sshd pulls byte-identical into a fresh
clone, and a second version moves only its missing chunks both ways. An HTTP
remote publishing a directory remote serves pull and fsck --remote; every
write to it refuses with one line.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from gitmodels.repo import Repo
from tests.gitutil import commit_all, git, gitmodels, model_bytes

MiB = 1024 * 1024
SIZE = 20 * MiB  # above the 8 MiB chunk threshold: stored as chunks in packs


def edited(data: bytes) -> bytes:
    """A second version: 64 KiB rewritten in the middle, as fine-tuning a few layers would."""
    mid = len(data) // 2
    return data[:mid] + model_bytes("edit", 64 * 1024) + data[mid + 64 * 1024:]


def one_line_refusal(result, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    first = [line for line in result.stderr.splitlines() if not line.startswith("gitmodels: warning:")][0]
    assert first.startswith("gitmodels: ") and all(w in first for w in words), result.stderr
    assert "hint:" in result.stderr


@pytest.mark.parametrize("fixture", ["azure_remote", "ssh_remote"])
def test_chunked_model_roundtrip_moves_only_missing_chunks(world, request, fixture, capsys):
    url, _settings = request.getfixturevalue(fixture)
    alice = world.first_clone()
    gitmodels(alice, "remote", "add", "team", url, "--default")
    v1 = model_bytes("v1", SIZE)
    world.add_model(alice, "models/big.bin", v1)
    commit_all(alice, "v1")
    with Repo(str(alice)) as repo:  # before `git push`, whose pre-push hook would push the model itself
        first = repo.push(progress=False)
    git(alice, "push", "-q", "origin", "main")
    assert first.moved == 1 and not first.failed
    assert first.bytes_sent >= SIZE * 0.95  # new chunks: (nearly) everything goes

    bob = world.clone("bob")
    gitmodels(bob, "pull")
    assert hashlib.sha256((bob / "models/big.bin").read_bytes()).digest() == hashlib.sha256(v1).digest()

    v2 = edited(v1)
    world.add_model(alice, "models/big.bin", v2)
    commit_all(alice, "v2")
    with Repo(str(alice)) as repo:
        second = repo.push(progress=False)
    git(alice, "push", "-q", "origin", "main")
    assert second.moved == 1 and second.bytes_total == SIZE
    assert second.bytes_sent < SIZE * 0.05, second.bytes_sent  # only the changed chunks

    no_hooks = world.root / "no-hooks"
    no_hooks.mkdir()
    git(bob, "-c", f"core.hooksPath={no_hooks}", "pull", "-q", "--no-rebase", "origin", "main")  # fetched below
    with Repo(str(bob)) as repo:
        fetched = repo.fetch(progress=False)
    assert fetched.moved == 1 and not fetched.failed
    assert fetched.bytes_sent < SIZE * 0.05, fetched.bytes_sent  # only the missing chunks came down
    gitmodels(bob, "checkout")
    assert (bob / "models/big.bin").read_bytes() == v2
    with capsys.disabled():  # the figures for docs/remotes.md
        print(f"\n[{fixture}] v1 push {first.bytes_sent} B; v2 ({SIZE} B, 64 KiB edited): "
              f"push sent {second.bytes_sent} B, fetch downloaded {fetched.bytes_sent} B")


@pytest.fixture
def published(world, nginx_server):
    """alice's models pushed to a directory that nginx serves; bob's clone reads them over HTTP only."""
    name = uuid.uuid4().hex[:12]
    folder = os.path.join(nginx_server.www, name, "models")
    os.makedirs(folder)
    alice = world.first_clone()
    gitmodels(alice, "remote", "add", "pub", folder, "--local")
    world.add_model(alice, "models/small.bin", model_bytes("small", 5000))
    world.add_model(alice, "models/big.bin", model_bytes("big", SIZE))
    commit_all(alice, "models")
    gitmodels(alice, "push", "-r", "pub")
    git(alice, "push", "-q", "origin", "main")
    bob = world.clone("bob", install=False)  # no hook fetches from the directory remote behind our back
    url = f"{nginx_server.endpoint}/{name}/models"
    gitmodels(bob, "remote", "add", "web", url, "--local", "--default")
    return alice, bob, folder, url


def test_http_remote_pulls_chunked_and_whole_models(published):
    alice, bob, folder, _url = published
    assert os.listdir(os.path.join(folder, "packs"))  # the big model is published as packs, read by Range
    gitmodels(bob, "get", "models/big.bin", "-o", str(bob.parent / "big-copy.bin"))  # one model, no checkout
    assert (bob.parent / "big-copy.bin").read_bytes() == (alice / "models/big.bin").read_bytes()
    assert not (bob / "models/big.bin").exists()
    result = gitmodels(bob, "pull")
    assert "fetched: 1 object(s)" in result.stdout, result.stdout  # the big one came with `get`
    for rel in ("models/small.bin", "models/big.bin"):
        assert (bob / rel).read_bytes() == (alice / rel).read_bytes()
    fsck = gitmodels(bob, "fsck", "--remote")
    assert fsck.returncode == 0, fsck.output
    assert "Traceback" not in fsck.stderr


def test_http_remote_refuses_every_write_in_one_line(published):
    alice, bob, _folder, url = published
    gitmodels(bob, "pull")
    (bob / "models/new.bin").write_bytes(model_bytes("new", 3000))
    gitmodels(bob, "add", "models/new.bin")
    one_line_refusal(gitmodels(bob, "push", check=False), "cannot push 1 object(s)", url, "read-only")
    one_line_refusal(gitmodels(bob, "gc", "--remote", "-y", check=False), "cannot gc remote web", "read-only")
    one_line_refusal(gitmodels(bob, "fsck", "--remote", "--repair", check=False), "cannot repair remote web")


def test_http_fsck_remote_finds_a_damaged_object(published):
    alice, bob, folder, _url = published
    oid = hashlib.sha256(model_bytes("small", 5000)).hexdigest()
    path = os.path.join(folder, "objects", oid[:2], oid)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"rotten")
    fsck = gitmodels(bob, "fsck", "--remote", check=False)
    assert fsck.returncode != 0 and oid[:12] in fsck.output, fsck.output
    pull = gitmodels(bob, "pull", check=False)  # the damaged object is reported by its key, never used
    assert pull.returncode != 0 and "Traceback" not in pull.stderr
    assert not (bob / "models/small.bin").exists() or (bob / "models/small.bin").read_bytes() != b"rotten"


def test_http_fsck_remote_rebuilds_chunked_models_from_packs(published):
    """A chunked model has no whole object on the remote: fsck rebuilds it from its packs by ranged reads."""
    alice, bob, folder, _url = published
    assert gitmodels(bob, "fsck", "--remote").returncode == 0
    packs = os.path.join(folder, "packs")
    for root, _dirs, files in os.walk(packs):
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, 0o644)
            with open(path, "r+b") as f:  # flip one byte in the middle of every pack
                f.seek(os.path.getsize(path) // 2)
                byte = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([byte[0] ^ 0xFF]))
    big = hashlib.sha256(model_bytes("big", SIZE)).hexdigest()
    fsck = gitmodels(bob, "fsck", "--remote", check=False)
    assert fsck.returncode != 0 and big[:12] in fsck.output, fsck.output
    assert "Traceback" not in fsck.stderr
