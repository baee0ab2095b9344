"""S3 and GCS through the real CLI and the real git hooks, against real loopback servers."""


import pytest

from tests.gitutil import git
from tests.gitutil import gitmodels as gm
from tests.seeded import seeded_bytes


def settings_args(settings):
    out = []
    for key, value in settings.items():
        out += ["-s", f"{key}={value}"]
    return out


@pytest.fixture(params=["s3", "gcs"])
def cloud_remote(request):
    return request.getfixturevalue(f"{request.param}_remote")


def test_git_push_uploads_and_a_clone_gets_the_models(cloud_remote, tmp_path):
    url, settings = cloud_remote
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    gm(work, "init")
    gm(work, "remote", "add", "cloud", url, "--default", "--local", *settings_args({**settings, "part_size": "5MiB"}))
    big = seeded_bytes(b"big", 12 * 1024 * 1024 + 123)  # above the multipart / resumable-chunk threshold
    (work / "models").mkdir()
    (work / "models" / "big.safetensors").write_bytes(big)
    (work / "models" / "small").mkdir()
    (work / "models" / "small" / "a.json").write_bytes(b'{"a": 1}')
    gm(work, "add", "models/big.safetensors", "models/small")
    git(work, "commit", "-qm", "v1")
    git(work, "remote", "add", "origin", str(server))
    push = git(work, "push", "-q", "origin", "HEAD:main")
    assert "uploaded" in push.stderr
    status = gm(work, "status", "--remote", "--json").stdout
    assert '"pushed": false' not in status

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(server), str(clone))
    gm(clone, "remote", "add", "cloud", url, "--default", "--local", *settings_args(settings))
    gm(clone, "install")  # installs the hooks and restores the checkout's models
    assert (clone / "models" / "big.safetensors").read_bytes() == big
    assert (clone / "models" / "small" / "a.json").read_bytes() == b'{"a": 1}'

    # a second version travels through the hooks too
    (work / "models" / "big.safetensors").write_bytes(big[:-10] + b"0123456789")
    gm(work, "add", "models/big.safetensors")
    git(work, "commit", "-qm", "v2")
    git(work, "push", "-q", "origin", "HEAD:main")
    git(clone, "pull", "-q", "origin", "main")
    assert (clone / "models" / "big.safetensors").read_bytes().endswith(b"0123456789")
    git(clone, "checkout", "-q", "HEAD~1")
    assert (clone / "models" / "big.safetensors").read_bytes() == big


def test_push_to_an_unreachable_s3_stops_the_git_push(s3_server_private, tmp_path):
    url, settings = s3_server_private.new_remote()
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    gm(work, "init")
    gm(work, "remote", "add", "cloud", url, "--default", "--local", *settings_args(settings))
    (work / "m.bin").write_bytes(seeded_bytes(b"m", 100_000))
    gm(work, "add", "m.bin")
    git(work, "commit", "-qm", "v1")
    git(work, "remote", "add", "origin", str(server))
    s3_server_private.stop()
    proc = git(work, "push", "-q", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0
    assert "cannot reach" in proc.stderr and "Traceback" not in proc.stderr
    assert git(server, "branch", "--list").stdout == ""  # the git server received nothing
    s3_server_private.start()
    git(work, "push", "-q", "origin", "HEAD:main")
    assert "main" in git(server, "branch", "--list").stdout
