"""A loopback-only web server for the page: `/api/*` documents from `data`, assets by name from `static/`.

Nothing is served by joining a request path to a folder: assets come from a fixed table read at
start-up, and model paths go to `history`, which reads git objects only. Requests whose Host is
not this loopback address are refused (a web page elsewhere cannot reach the server through DNS
rebinding).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from gitmodels.errors import GitModelsError
from gitmodels.ui import data

HOST = "127.0.0.1"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
# In the served page, data.js embeds nothing: the page then asks the API.
SERVED_DATA_JS = b"window.GITMODELS_DATA = null;\n"


def assets() -> dict[str, bytes]:
    """The packaged static files, name -> bytes."""
    folder = resources.files(__package__) / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir()
            if item.is_file() and not item.name.startswith(".")}


def _type(name: str) -> str:
    return TYPES.get(name[name.rfind("."):], "application/octet-stream")


class UIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repo, port: int = 0):
        self.repo = repo
        self.files = assets()
        self.lock = threading.Lock()  # one reader of the dulwich repo at a time
        super().__init__((HOST, port), Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class Handler(BaseHTTPRequestHandler):
    server: UIServer
    server_version = "gitmodels-ui"

    def log_message(self, format, *args):  # quiet: the terminal shows only the URL and errors
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc) -> None:
        self._send(status, data.dumps(doc).encode(), "application/json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._json(403, {"error": "this server answers on its loopback address only"})
            return
        url = urlsplit(self.path)
        route = url.path
        if route in ("/", "/index.html"):
            self._send(200, self.server.files["index.html"], _type("index.html"))
        elif route == "/data.js":
            self._send(200, SERVED_DATA_JS, _type(".js"))
        elif route.startswith("/static/") and route[len("/static/"):] in self.server.files:
            name = route[len("/static/"):]
            self._send(200, self.server.files[name], _type(name))
        elif route.startswith("/api/"):
            self._api(route[len("/api/"):], {k: v[-1] for k, v in parse_qs(url.query).items()})
        else:
            self._json(404, {"error": "not found"})

    def _api(self, name: str, query: dict) -> None:
        try:
            with self.server.lock:
                if name == "index":
                    doc = data.index(self.server.repo)
                elif name == "model":
                    doc = data.model(self.server.repo, query.get("path", ""))
                elif name == "version":
                    doc = data.version(self.server.repo, query.get("path", ""), query.get("commit", ""))
                else:
                    self._json(404, {"error": "not found"})
                    return
        except GitModelsError as exc:
            self._json(404, {"error": exc.message, "hint": exc.hint})
            return
        self._json(200, doc)


def serve(repo, port: int = 0) -> UIServer:
    """A bound server (call serve_forever on it); port 0 picks a free one."""
    return UIServer(repo, port)


__all__ = ["UIServer", "serve", "assets", "HOST"]
