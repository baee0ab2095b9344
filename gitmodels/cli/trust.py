"""`gitmodels trust`: whose models may run code when `gitmodels.load` reads them (gitmodels/trust.py)."""

import click

from gitmodels.cli.common import emit_json, json_option, open_repo, table

global_option = click.option("--global", "user", is_flag=True,
                             help="The per-user list ($XDG_CONFIG_HOME/gitmodels/trust) instead of this repository's.")


@click.group()
def trust():
    """Trust authors or signing keys, so their pickles load without asking.

    \b
    Only `gitmodels.load` is affected: get and checkout never unpickle.
    Examples:
      gitmodels trust add alice@example.com
      gitmodels trust add ~/.ssh/alice_signing.pub          # or SHA256:... / a gpg fingerprint
      gitmodels trust add --global 0123456789ABCDEF0123456789ABCDEF01234567
    """


@trust.command("add")
@click.argument("who")
@global_option
def add(who, user):
    """Trust WHO: an author email, a gpg key fingerprint, an ssh key (SHA256: fingerprint, public key or .pub file)."""
    from gitmodels import trust as trust_mod

    with open_repo() as repo:
        entry, added = trust_mod.add(repo, who, user=user)
    where = "user" if user else "repository"
    click.echo(f"trusted {entry.kind} {entry.value} ({where} list)" if added
               else f"{entry.kind} {entry.value} is already on the {where} list")


@trust.command("list")
@json_option
def list_(as_json):
    """List the trusted authors and keys (this repository's, then yours)."""
    from gitmodels import trust as trust_mod

    with open_repo() as repo:
        entries = trust_mod.listed(repo)
    if as_json:
        emit_json([{"kind": e.kind, "value": e.value, "scope": scope} for e, scope in entries])
        return
    click.echo(table([[e.kind, e.value, scope] for e, scope in entries], ["kind", "value", "list"])
               or "nobody is trusted: models in formats that run code load only if saved in this clone")


@trust.command("remove")
@click.argument("who")
@global_option
def remove(who, user):
    """Stop trusting WHO."""
    from gitmodels import trust as trust_mod

    with open_repo() as repo:
        entry = trust_mod.remove(repo, who, user=user)
    click.echo(f"no longer trusted: {entry.kind} {entry.value}")
