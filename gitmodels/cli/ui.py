"""`gitmodels ui` and `gitmodels report`: every model's history as a web page, served or written."""

from __future__ import annotations

import click

from gitmodels.errors import UsageError
from gitmodels.cli.common import open_repo


@click.command()
@click.option("-p", "--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def ui(port, open_browser):
    """Serve a page of every model's history on 127.0.0.1: versions, metric plots, diffs, provenance.

    Reads git history only (nothing is checked out); stop it with Ctrl-C.

    \b
    Examples:
      gitmodels ui
      gitmodels ui --port 8765 --open
    """
    from gitmodels.ui import server

    with open_repo() as repo:
        try:
            httpd = server.serve(repo, port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {server.HOST}:{port}: {exc.strerror or exc}",
                             "choose another --port, or leave it out to take a free one") from None
        click.echo(f"gitmodels ui: {httpd.url}  (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(httpd.url)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            click.echo("gitmodels ui: stopped")
        finally:
            httpd.server_close()


@click.command()
@click.option("-o", "--out", "out", metavar="DIR", required=True, type=click.Path(file_okay=False),
              help="Folder to write index.html, data.js and static/ into (created if missing).")
def report(out):
    """Write the `gitmodels ui` pages as static files that open from disk, with no server or network.

    \b
    Examples:
      gitmodels report -o site/
      gitmodels report -o public/models && ls public/models    # publish from CI
    """
    from gitmodels.ui import report as report_mod

    with open_repo() as repo:
        result = report_mod.write(repo, out)
    click.echo(f"wrote {result.path} ({result.models} model(s), {result.versions} version(s))")
