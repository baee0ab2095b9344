"""URL forms of the Azure, SSH and HTTP remotes, and the user's OpenSSH setup honoured against a real sshd."""

from __future__ import annotations

import os

import pytest

from gitmodels.errors import BadConfig, CredentialsError, UsageError
from gitmodels.remotes import open_backend, scheme_of, validate_url
from gitmodels.remotes.azure import parse_azure_url
from gitmodels.remotes.ssh import parse_ssh_url
from tests.servers import HOST


@pytest.mark.parametrize("url, scheme", [
    ("/srv/models", "file"), ("./models", "file"), ("models", "file"), ("file:///srv/m", "file"),
    ("../a:b", "file"), ("C:/models", "file"),
    ("s3://b/p", "s3"), ("gs://b/p", "gs"),
    ("az://c/p", "az"), ("azure://c/p", "az"), ("https://acct.blob.core.windows.net/c/p", "az"),
    ("ssh://me@host/srv/m", "ssh"), ("sftp://host/srv/m", "ssh"), ("me@host:models", "ssh"),
    ("gpu-box:/srv/models", "ssh"), ("me@[::1]:models", "ssh"),
    ("https://models.example.com/team", "http"), ("http://127.0.0.1:8080/m", "http"),
])
def test_scheme_of(url, scheme):
    assert scheme_of(url) == scheme


@pytest.mark.parametrize("url, parsed", [
    ("az://models/churn", (None, "models", "churn/")),
    ("azure://models", (None, "models", "")),
    ("https://acct.blob.core.windows.net/models/churn/v1/", ("acct", "models", "churn/v1/")),
])
def test_parse_azure_url(url, parsed):
    assert parse_azure_url(url) == parsed


@pytest.mark.parametrize("url", ["az://", "https://acct.blob.core.windows.net/", "az://c/a/../b",
                                 "https://acct.blob.core.windows.net/c/p?sv=2024&sig=secret"])
def test_bad_azure_urls_are_refused_when_added(url):
    with pytest.raises(UsageError):
        validate_url(url)


@pytest.mark.parametrize("url, parsed", [
    ("ssh://me@host:2222/srv/models", ("me", "host", 2222, "/srv/models")),
    ("ssh://host/srv/models/", (None, "host", None, "/srv/models")),
    ("ssh://host/~/models", (None, "host", None, "models")),
    ("me@host:models", ("me", "host", None, "models")),
    ("host:~/models", (None, "host", None, "models")),
    ("host:/srv//models", (None, "host", None, "/srv/models")),
    ("me@[::1]:/m", ("me", "::1", None, "/m")),
])
def test_parse_ssh_url(url, parsed):
    assert parse_ssh_url(url) == parsed


@pytest.mark.parametrize("url", ["ssh:///path", "ssh://host/a/../b", "ssh://host:notaport/p"])
def test_bad_ssh_urls(url):
    with pytest.raises(BadConfig):
        open_backend(url, {}, retry=False)


@pytest.mark.parametrize("url", ["https://user:secret@models.example.com/m", "https://models.example.com/m?token=x"])
def test_http_urls_with_credentials_are_refused(url):
    with pytest.raises(UsageError) as info:  # refused before `remote add` writes it into the committed config
        validate_url(url)
    assert "secret" not in str(info.value) and "token=x" not in str(info.value)
    with pytest.raises(UsageError):
        open_backend(url, {}, retry=False)


def _ssh_config(home: str, text: str) -> None:
    with open(os.path.join(home, ".ssh", "config"), "w") as f:
        f.write(text)


def test_ssh_config_alias_identity_file_and_scp_form(sshd_server, isolated_git, tmp_path, monkeypatch):
    """`models-box:/path` resolves HostName, Port, User and IdentityFile from ~/.ssh/config, as ssh does."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    home = isolated_git["HOME"]
    sshd_server.keys.install_client(home, sshd_server.port)
    ssh_dir = os.path.join(home, ".ssh")
    os.rename(os.path.join(ssh_dir, "id_ed25519"), os.path.join(ssh_dir, "team_key"))  # not a default key name
    _ssh_config(home, f"Host models-box\n  HostName {HOST}\n  Port {sshd_server.port}\n"
                      f"  User {sshd_server.keys.user}\n  IdentityFile ~/.ssh/team_key\n  IdentitiesOnly yes\n")
    root = tmp_path / "remote"
    root.mkdir()
    backend = open_backend(f"models-box:{root}", {})
    (tmp_path / "src").write_bytes(b"model bytes")
    backend.upload("misc/m", str(tmp_path / "src"), 11)
    assert (root / "misc" / "m").read_bytes() == b"model bytes"
    assert backend.stat("misc/m") == 11
    backend.close()

    os.rename(os.path.join(ssh_dir, "team_key"), os.path.join(ssh_dir, "other_key"))
    with pytest.raises(CredentialsError):  # without its IdentityFile, the login fails: the config was what worked
        open_backend(f"models-box:{root}", {}).stat("misc/m")


def test_ssh_accept_new_host_key_from_config(sshd_server, isolated_git, tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    home = isolated_git["HOME"]
    sshd_server.keys.install_client(home)  # the key, but no known_hosts entry
    url = f"ssh://{sshd_server.keys.user}@{HOST}:{sshd_server.port}{tmp_path}"
    with pytest.raises(CredentialsError):
        open_backend(url, {}).stat("k")
    _ssh_config(home, f"Host {HOST}\n  StrictHostKeyChecking accept-new\n")
    assert open_backend(url, {}).stat("k") is None
