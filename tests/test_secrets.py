"""No credential reaches a committed file or an output line, by any spelling (issue #15, item 2),
and `remote add` / `init --remote` check what they can without the network (issue #14)."""

import json
import os
import sys
from pathlib import Path

import pytest

from tests.gitutil import commit_all, git, model_bytes, run
from tests.gitutil import gitmodels as gm

KEY_ID = "AKIAGMTEST0000000001"
SECRET = "Sup3rS3cretValue0123456789abcdefghijklmn"
LOCAL_CONFIG = Path(".git") / "gitmodels" / "config.toml"


def one_line_error(proc, *fragments: str) -> str:
    """The stderr of a refused command: `gitmodels: ...` and at most a hint line, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[0].startswith("gitmodels: "), proc.stderr
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    return lines[0]


# -- every spelling is refused for the committed file --------------------------------------

SETTINGS_SPELLINGS = [
    "aws_access_key_id", "aws_secret_access_key", "access_key_id", "secret_access_key", "session_token",
    "aws_session_token", "SecretAccessKey", "password", "db-passwd", "api_key", "token", "auth_token",
    "account_key", "sas_token", "connection_string", "private_key", "client_secret", "credentials_json",
    "GOOGLE_CREDENTIALS",
]


@pytest.mark.parametrize("key", SETTINGS_SPELLINGS)
def test_a_credential_setting_is_refused_for_the_committed_config(repo, key):
    proc = gm(repo, "remote", "add", "s3a", "s3://bkt-a/p", "-s", f"{key}={SECRET}", check=False)
    assert proc.returncode == 2
    one_line_error(proc, f"remotes.s3a.{key}", "committed gitmodels.toml", "--local")
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET not in (repo / "gitmodels.toml").read_text()
    assert "s3a" not in (repo / "gitmodels.toml").read_text()


@pytest.mark.parametrize("value, reason", [
    (f"http://minio:{SECRET}@127.0.0.1:9000", "endpoint_url"),                   # user info in a setting's URL
    (f'{{"type": "service_account", "private_key": "{SECRET}"}}', "credentials_file"),  # JSON contents, not a path
    (f"-----BEGIN PRIVATE KEY-----{SECRET}-----END PRIVATE KEY-----", "project"),  # a PEM block under any name
])
def test_a_credential_value_is_refused_whatever_its_key(repo, value, reason):
    proc = gm(repo, "remote", "add", "s3a", "s3://bkt-a/p", "-s", f"{reason}={value}", check=False)
    assert proc.returncode == 2
    one_line_error(proc, f"remotes.s3a.{reason}", "--local")
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET not in (repo / "gitmodels.toml").read_text()


@pytest.mark.parametrize("url, fragment", [
    (f"s3://{KEY_ID}:{SECRET}@bkt-a/p", "--local"),
    (f"s3://{KEY_ID}@bkt-a/p", "--local"),              # for s3:// the user alone is an access key id
    (f"s3://{KEY_ID}:{SECRET[:9]}/{SECRET[9:]}@bkt-a/p", "--local"),  # a secret's `/` not percent-encoded
    (f"s3://{KEY_ID}:{SECRET}", "names no bucket"),
    (f"S3://{KEY_ID}:{SECRET}@bkt-a/p", "--local"),
    (f"gs://{KEY_ID}:{SECRET}@bkt-a/p", "carry no credentials"),
    (f"file://{KEY_ID}:{SECRET}@host/srv/models", "names a host"),
])
@pytest.mark.parametrize("command", ["remote add", "init --remote"])
def test_a_url_with_user_info_is_refused_and_never_echoed(repo, url, fragment, command):
    before = (repo / "gitmodels.toml").read_text()
    args = ["remote", "add", "x", url] if command == "remote add" else ["init", "--remote", url, "--name", "x"]
    proc = gm(repo, *args, check=False)
    assert proc.returncode != 0
    one_line_error(proc, fragment)
    assert KEY_ID not in proc.stdout + proc.stderr and SECRET not in proc.stdout + proc.stderr
    assert (repo / "gitmodels.toml").read_text() == before


def test_an_s3_url_with_a_key_id_and_no_secret_is_refused_even_locally(repo):
    proc = gm(repo, "remote", "add", "x", f"s3://{KEY_ID}@bkt-a/p", "--local", check=False)
    assert proc.returncode == 2
    one_line_error(proc, "no secret")
    assert KEY_ID not in proc.stderr


def test_a_secret_typed_without_its_key_is_not_echoed(repo):
    proc = gm(repo, "remote", "add", "s3a", "s3://bkt-a/p", "-s", SECRET, check=False)
    assert proc.returncode == 2
    one_line_error(proc, "KEY=")
    assert SECRET not in proc.stderr


@pytest.mark.parametrize("setting", [
    "sse_kms_key_id=arn:aws:kms:eu-west-1:111122223333:key/1234abcd",  # names a key, grants nothing
    "credentials_file=~/.config/gcloud/sa-key.json",                   # a path to a key file is fine
    "service_account_file=/etc/keys/sa.json",
    "endpoint_url=http://127.0.0.1:9000",
    "endpoint_url=https://proxy-user@minio.internal:9000",            # an http user alone is not a secret
    "region=eu-west-1", "profile=ml-team", "part_size=8MiB",
])
def test_settings_that_are_not_credentials_go_to_the_committed_config(repo, setting):
    gm(repo, "remote", "add", "s3a", "s3://bkt-a/p", "-s", setting)
    assert setting.partition("=")[2] in (repo / "gitmodels.toml").read_text()


def test_local_keeps_credentials_out_of_the_committed_file_and_out_of_every_line(repo):
    url = f"s3://{KEY_ID}:{SECRET}@bkt-a/p"
    added = gm(repo, "remote", "add", "s3b", url, "--local", "-s", f"aws_session_token={SECRET}tok")
    assert "s3://***@bkt-a/p" in added.stdout
    assert SECRET in (repo / LOCAL_CONFIG).read_text() and KEY_ID in (repo / LOCAL_CONFIG).read_text()
    assert (repo / LOCAL_CONFIG).stat().st_mode & 0o077 == 0
    listed = gm(repo, "remote", "list")
    assert "s3://***@bkt-a/p" in listed.stdout
    as_json = {r["name"]: r for r in json.loads(gm(repo, "remote", "list", "--json").stdout)["remotes"]}
    assert as_json["s3b"]["url"] == "s3://***@bkt-a/p" and as_json["s3b"]["settings"]["aws_session_token"] == "***"
    for out in (added, listed):
        assert SECRET not in out.stdout + out.stderr and KEY_ID not in out.stdout + out.stderr
    assert SECRET not in (repo / "gitmodels.toml").read_text() and KEY_ID not in (repo / "gitmodels.toml").read_text()


def test_a_credential_committed_by_a_teammate_is_not_used_and_not_printed(repo):
    toml = repo / "gitmodels.toml"
    toml.write_text(toml.read_text() + f'\n[remotes.leaky]\nurl = "s3://bkt-a/p"\nsecret_access_key = "{SECRET}"\n'
                    f'\n[remotes.leakyurl]\nurl = "s3://{KEY_ID}:{SECRET}@bkt-a/p"\n')
    for name, key in (("leaky", "remotes.leaky.secret_access_key"), ("leakyurl", "remotes.leakyurl.url")):
        proc = gm(repo, "push", "-r", name, check=False)
        assert proc.returncode == 3
        one_line_error(proc, key, "does not use credentials from a committed file", "revoke")
        assert SECRET not in proc.stderr and KEY_ID not in proc.stderr
    listed = gm(repo, "remote", "list").stdout + gm(repo, "remote", "list", "--json").stdout
    assert SECRET not in listed and KEY_ID not in listed
    gm(repo, "remote", "remove", "leakyurl")  # the way out works
    assert SECRET not in gm(repo, "remote", "list", "--json").stdout.replace('"***"', "")


def test_mask_url():
    from gitmodels import credentials

    assert credentials.userinfo_parts("AKIA:a%2Fb%2Bc") == ("AKIA", "a/b+c")  # a secret's / and + percent-encoded
    assert credentials.mask_url(f"s3://{KEY_ID}:{SECRET}@bkt/p") == "s3://***@bkt/p"
    assert credentials.mask_url("s3://bkt/p@v2") == "s3://bkt/p@v2"  # an @ in the path is no user info
    assert credentials.mask_url(f"s3://{KEY_ID}:ab/cd@bkt/p") == "s3://***@bkt/p"
    assert credentials.split_userinfo(f"s3://{KEY_ID}:ab/cd@bkt/p") == ("s3://bkt/p", f"{KEY_ID}:ab/cd")
    assert credentials.mask_url("/mnt/models@v2") == "/mnt/models@v2"
    assert credentials.mask_text(f"cannot reach http://u:{SECRET}@h:9/x (refused)") == \
        "cannot reach http://***@h:9/x (refused)"


# -- after each command, the secret is in no file gitmodels writes and in no output line --------------

def _files_to_grep(repo: Path):
    """Every file of the work tree, and everything gitmodels keeps in .git except the local config."""
    for path in repo.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(repo)
        if rel.parts[0] == ".git" and rel.parts[:2] not in ((".git", "gitmodels"), (".git", "hooks")):
            continue
        if rel == LOCAL_CONFIG:
            continue
        yield rel, path.read_bytes()


def test_no_command_leaks_the_secret_anywhere(s3_remote, tmp_path):
    bucket_url, settings = s3_remote
    bucket = bucket_url.split("://")[1].split("/")[0]
    url = f"s3://{KEY_ID}:{SECRET}@{bucket}/models"
    # no AWS keys in the environment: the push can only work with the URL's credentials
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", str(work))
    git(work, "remote", "add", "origin", str(server))
    endpoint = f"endpoint_url={settings['endpoint_url']}"
    (work / "models").mkdir()
    (work / "models" / "m.bin").write_bytes(model_bytes("m", 50_000))
    secrets = (SECRET.encode(), KEY_ID.encode())
    steps = [
        ("gitmodels", "init"),
        ("gitmodels", "remote", "add", "s3a", bucket_url, "-s", endpoint, "-s", f"aws_access_key_id={KEY_ID}",
         "-s", f"aws_secret_access_key={SECRET}"),
        ("gitmodels", "remote", "add", "s3b", url, "-s", endpoint),
        ("gitmodels", "init", "--remote", url),
        ("gitmodels", "remote", "add", "s3b", url, "-s", endpoint, "--local", "--default"),
        ("gitmodels", "remote", "add", "bad", f"s3://{KEY_ID}:{SECRET}@gm-no-such-bucket/m", "-s", endpoint,
         "--local"),
        ("gitmodels", "remote", "list"),
        ("gitmodels", "remote", "list", "--json"),
        ("gitmodels", "add", "models/m.bin"),
        ("gitmodels", "status", "--remote"),
        ("gitmodels", "push", "-r", "bad"),           # an error naming the remote
        ("gitmodels", "push"),
        ("git", "commit", "-qm", "v1"),
        ("git", "push", "-q", "origin", "HEAD:main"),  # the pre-push hook
        ("gitmodels", "status", "--remote"),
        ("gitmodels", "status", "--remote", "--json"),
        ("gitmodels", "ls"),
        ("gitmodels", "fetch", "-r", "bad"),          # nothing to fetch: succeeds without asking
        ("gitmodels", "status", "--remote", "-r", "bad"),
        ("gitmodels", "fsck", "--remote"),
        ("gitmodels", "stats", "--remote"),
        ("gitmodels", "remote", "add", "dead", bucket_url + "-other", "-s", f"endpoint_url=http://u:{SECRET}@127.0.0.1:9",
         "--local"),
        ("gitmodels", "push", "-r", "dead"),          # an SDK error about an endpoint with user info
        ("gitmodels", "pull"),
        ("gitmodels", "checkout", "--force"),
        ("gitmodels", "remote", "default", "s3b"),
        ("gitmodels", "remote", "remove", "bad"),
        ("gitmodels", "gc", "--remote", "--dry-run"),
    ]
    outcomes = {}
    for step in steps:
        cmd = [sys.executable, "-m", "gitmodels", *step[1:]] if step[0] == "gitmodels" else list(step)
        proc = run(cmd, work, check=False, env=env)
        label = " ".join(step)
        outcomes[label] = proc.returncode
        for secret in secrets:
            assert secret.decode() not in proc.stdout + proc.stderr, (label, proc.stdout, proc.stderr)
        for rel, data in _files_to_grep(work):
            for secret in secrets:
                assert secret not in data, (label, str(rel))
        assert "Traceback" not in proc.stderr, (label, proc.stderr)
    refused = {label.split(" -s ")[0].replace(url, "URL") for label, rc in outcomes.items() if rc != 0}
    assert refused == {"gitmodels remote add s3a " + bucket_url, "gitmodels remote add s3b URL",
                       "gitmodels init --remote URL", "gitmodels push -r bad",
                       "gitmodels status --remote -r bad", "gitmodels push -r dead"}
    assert SECRET in (work / LOCAL_CONFIG).read_text()


# -- remote add checks what it can without the network (issue #14) --------------------------------

def test_a_directory_remote_whose_parents_are_missing_is_created_with_a_warning(repo, tmp_path):
    target = tmp_path / "not" / "yet" / "store"
    proc = gm(repo, "remote", "add", "deep", str(target), "--default")
    assert target.is_dir()
    assert "warning: created 2 missing parent folder(s)" in proc.stderr
    (repo / "m.bin").write_bytes(model_bytes("deep"))
    gm(repo, "add", "m.bin")
    gm(repo, "push")
    assert any((target / "objects").rglob("*"))


@pytest.mark.parametrize("command", ["remote add", "init --remote"])
def test_a_directory_remote_that_cannot_be_created_is_refused(repo, tmp_path, command):
    (tmp_path / "afile").write_text("x")
    before = (repo / "gitmodels.toml").read_text()
    target = tmp_path / "afile" / "deep" / "store"
    args = ["remote", "add", "x", str(target)] if command == "remote add" else ["init", "--remote", str(target),
                                                                                "--name", "x"]
    proc = gm(repo, *args, check=False)
    assert proc.returncode == 2
    one_line_error(proc, "cannot be created", "is not a directory")
    assert (repo / "gitmodels.toml").read_text() == before


def test_a_directory_remote_that_is_a_file_is_refused(repo, tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = gm(repo, "remote", "add", "x", str(tmp_path / "afile"), check=False)
    assert proc.returncode == 2
    one_line_error(proc, "is not a directory")


@pytest.mark.parametrize("url, fragment", [
    ("s3://bkt-a/p?versionId=3", "`?`"),
    ("s3://bkt-a/p#frag", "`#`"),
    ("gs://bkt a/p", "a space"),
    ("s3://bkt-a/p\\q", "`\\`"),
    ("s3://b/p", "not a valid bucket name"),
    ("s3://-bkt/p", "not a valid bucket name"),
    ("gs://bkt-a/../p", "'..'"),
    ("s3:///p", "names no bucket"),
    ("s4://bkt-a/p", "unsupported remote URL"),
])
@pytest.mark.parametrize("command", ["remote add", "init --remote"])
def test_a_url_that_cannot_work_is_refused_at_add(repo, url, fragment, command):
    before = (repo / "gitmodels.toml").read_text()
    args = ["remote", "add", "x", url] if command == "remote add" else ["init", "--remote", url, "--name", "x"]
    proc = gm(repo, *args, check=False)
    assert proc.returncode == 2
    one_line_error(proc, fragment)
    assert (repo / "gitmodels.toml").read_text() == before


@pytest.mark.parametrize("url, module, extra", [("s3://bkt-a/p", "boto3", "s3"),
                                               ("gs://bkt-a/p", "google.cloud.storage", "gcs")])
def test_a_cloud_remote_without_its_sdk_is_added_with_a_warning(repo, url, module, extra):
    # the SDK made unimportable the way Python itself marks a module as absent
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from gitmodels.cli import main; sys.exit(main(['remote', 'add', 'x', {url!r}]))")
    proc = run([sys.executable, "-c", code], repo, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"gitmodels: warning: {module} is not installed" in proc.stderr
    assert f"pip install 'gitmodels[{extra}]'" in proc.stderr
    assert url in (repo / "gitmodels.toml").read_text()
    quiet = gm(repo, "remote", "add", "y", url)  # installed: no warning
    assert "warning" not in quiet.stderr


def test_a_url_with_user_info_works_from_the_local_config(s3_remote, tmp_path, repo):
    bucket_url, settings = s3_remote
    bucket = bucket_url.split("://")[1].split("/")[0]
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    gm(repo, "remote", "add", "s3", f"s3://{KEY_ID}:{SECRET.replace('S', '%2F')}@{bucket}/models", "--local",
       "--default", "-s", f"endpoint_url={settings['endpoint_url']}")
    (repo / "m.bin").write_bytes(model_bytes("url"))
    gm(repo, "add", "m.bin")
    commit_all(repo, "m")
    pushed = run([sys.executable, "-m", "gitmodels", "push"], repo, env=env)
    assert "1" in pushed.stdout
    from gitmodels.remotes import open_backend

    with open_backend(bucket_url, settings) as backend:
        assert any(k.startswith("objects/") for k, _ in backend.list(""))


def test_the_pre_commit_hook_refuses_a_hand_edited_credential(repo):
    gm(repo, "install")
    toml = repo / "gitmodels.toml"
    toml.write_text(toml.read_text() + f'\n[remotes.leaky]\nurl = "s3://bkt-a/p"\naws_secret_access_key = "{SECRET}"\n')
    git(repo, "add", "gitmodels.toml")
    head = git(repo, "rev-parse", "HEAD").stdout
    proc = git(repo, "commit", "-qm", "leak", check=False)
    assert proc.returncode != 0
    assert "gitmodels.toml: holds a credential (remotes.leaky.aws_secret_access_key)" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == head
    toml.write_text(toml.read_text().replace(f'aws_secret_access_key = "{SECRET}"', 'region = "eu-west-1"'))
    git(repo, "add", "gitmodels.toml")
    git(repo, "commit", "-qm", "no leak")
