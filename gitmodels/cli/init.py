import click

from gitmodels.cli.common import open_repo


@click.command()
@click.option("--remote", "remote_url", metavar="URL", help="Model remote: a directory, file://, s3:// or gs:// URL.")
@click.option("--name", "remote_name", default="origin", show_default=True, help="Name for that remote.")
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
def init(remote_url, remote_name, no_hooks):
    """Prepare this repository: config, git hooks. Safe to run again.

    \b
    Examples:
      gitmodels init --remote /mnt/team-models
      gitmodels init --remote s3://ml-models/churn-team
    """
    from gitmodels.hooks import install as setup

    with open_repo(check_hooks=False) as repo:
        done = repo.init(remote_url, remote_name,
                         warn=lambda line: click.echo(f"gitmodels: warning: {line}", err=True))
        if no_hooks:
            setup.opt_out(repo)  # an explicit choice: commands in this clone do not warn that hooks are missing
        else:
            done.extend(setup.install(repo))  # here, not in Repo.init: the core never imports hooks/
    for line in done:
        click.echo(f"  {line}")
    click.echo("gitmodels is ready" + ("" if done else " (nothing to change)"))
