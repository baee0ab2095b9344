import click

from gitmodels.errors import UsageError
from gitmodels.cli.common import emit_json, json_option, open_repo, table


@click.group()
def remote():
    """Manage model remotes (directories, s3://, gs://)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--local", is_flag=True, help="Write to the uncommitted local config (for per-user or secret settings).")
@click.option("-s", "--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A remote setting, e.g. endpoint_url=http://127.0.0.1:9000, region=eu-west-1.")
def add(name, url, make_default, local, settings):
    """Add (or update) a remote.

    \b
    Examples:
      gitmodels remote add origin /mnt/team-models --default
      gitmodels remote add s3 s3://ml-models/churn -s endpoint_url=http://minio:9000
    """
    from gitmodels.credentials import mask_url
    from gitmodels.remotes import validate_url

    validate_url(url)
    parsed = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():  # never echo the text: it may be a secret typed without its key
            raise UsageError("a -s/--set setting lacks its KEY= part", "write each setting as KEY=VALUE")
        parsed[key.strip()] = _coerce(value.strip())
    with open_repo() as repo:
        warn(repo.prepare_remote(name, url, parsed, local=local))
        first = not repo.config.remotes()
        repo.config.set_remote(name, url, parsed, local=local, default=make_default or first)
    click.echo(f"remote {name} -> {mask_url(url)}" + (" (default)" if make_default or first else "")
               + (" (local config)" if local else ""))


def warn(lines) -> None:
    for line in lines:
        click.echo(f"gitmodels: warning: {line}", err=True)


def _coerce(value: str):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value


@remote.command("list")
@json_option
def list_(as_json):
    """List remotes (credentials in URLs and settings are shown as ***)."""
    from gitmodels.credentials import mask_settings, mask_url

    with open_repo() as repo:
        remotes = repo.config.remotes()
        default = repo.config.default_remote_name()
        local = set(repo.config.local.get("remotes", {}))
    if as_json:
        emit_json({"remotes": [{"name": n, "url": shown["url"], "default": n == default,
                                "config": "local" if n in local else "shared",
                                "settings": {k: v for k, v in shown.items() if k != "url"}}
                               for n, shown in ((n, mask_settings(s)) for n, s in sorted(remotes.items()))]})
        return
    click.echo(table([[("* " if n == default else "  ") + n, mask_url(s["url"]), "local" if n in local else "shared"]
                      for n, s in sorted(remotes.items())], ["  name", "url", "config"]) or "no remotes configured")


@remote.command("remove")
@click.argument("name")
def remove(name):
    """Remove a remote from the config (its stored objects are untouched)."""
    with open_repo() as repo:
        repo.config.remove_remote(name)
    click.echo(f"removed remote {name}")


@remote.command("default")
@click.argument("name")
def default(name):
    """Make NAME the default remote."""
    with open_repo() as repo:
        repo.config.remote(name)
        local = name in repo.config.local.get("remotes", {}) and name not in repo.config.shared.get("remotes", {})
        repo.config.update(local, lambda doc: doc.setdefault("core", {}).__setitem__("default_remote", name))
    click.echo(f"default remote: {name}")
