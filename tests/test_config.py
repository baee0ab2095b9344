import pytest

from gitmodels.config import Config
from gitmodels.errors import BadConfig, NoRemote, UsageError


def test_shared_and_local_merge(tmp_path):
    (tmp_path / ".git").mkdir()
    cfg = Config(str(tmp_path), str(tmp_path / ".git" / "gitmodels"))
    cfg.set_remote("team", "/mnt/models", {}, local=False, default=True)
    cfg.set_remote("mine", "s3://b/p", {"secret_access_key": "x"}, local=True, default=False)
    assert cfg.remote()[0] == "team"
    assert cfg.remote("mine")[1]["secret_access_key"] == "x"
    assert "secret" not in (tmp_path / "gitmodels.toml").read_text()
    assert (tmp_path / ".git" / "gitmodels" / "config.toml").stat().st_mode & 0o077 == 0


def test_secrets_never_go_to_the_committed_file(tmp_path):
    cfg = Config(str(tmp_path), str(tmp_path / "local"))
    with pytest.raises(UsageError) as info:
        cfg.set_remote("s3", "s3://b/p", {"secret_access_key": "x"}, local=False, default=True)
    assert "--local" in info.value.hint
    assert "s3" not in cfg.remotes()


def test_pyproject_tool_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.gitmodels.remotes.origin]\nurl = "/srv/m"\n')
    cfg = Config(str(tmp_path), str(tmp_path / "local"))
    assert cfg.remote() == ("origin", {"url": "/srv/m"})


def test_bad_config_and_no_remote(tmp_path):
    cfg = Config(str(tmp_path), str(tmp_path / "local"))
    with pytest.raises(NoRemote):
        cfg.remote()
    (tmp_path / "gitmodels.toml").write_text("[remotes.x]\nnourl = 1\n")
    with pytest.raises(BadConfig):
        Config(str(tmp_path), str(tmp_path / "local"))


@pytest.mark.parametrize("value", ['"8 GiB"', "-1", "true", "1.5"])
def test_a_size_that_is_not_a_whole_number_is_one_clear_error(tmp_path, value):
    (tmp_path / "gitmodels.toml").write_text(f"[core]\nspare_limit = {value}\n")
    cfg = Config(str(tmp_path), str(tmp_path / "local"))
    with pytest.raises(BadConfig) as info:
        cfg.get_int("core", "spare_limit")
    assert "core.spare_limit" in str(info.value)
    assert cfg.get_int("core", "chunk_threshold") == 8 * 1024 * 1024
