"""`gitmodels report`: the page as static files that open from disk (file://) with no server or network.

Browsers refuse fetch() of file:// URLs, so every document goes into `data.js` as one assignment
the page reads on load; the assets are the packaged ones, byte for byte.
"""

from __future__ import annotations

import dataclasses
import os

from gitmodels.storage import fileio
from gitmodels.ui import data
from gitmodels.ui.server import assets


@dataclasses.dataclass
class ReportResult:
    path: str       # the report's index.html
    models: int
    versions: int


def write(repo, out: str) -> ReportResult:
    doc = data.everything(repo)
    out = os.path.abspath(out)
    static = os.path.join(out, "static")
    os.makedirs(static, exist_ok=True)
    files = assets()
    body = ("window.GITMODELS_DATA = " + data.dumps(doc, separators=(",", ":"))
            .replace("</", "<\\/") + ";\n").encode()
    fileio.write_bytes_atomic(os.path.join(out, "data.js"), body, fsync=False)
    for name, content in files.items():
        target = out if name == "index.html" else static
        fileio.write_bytes_atomic(os.path.join(target, name), content, fsync=False)
    return ReportResult(os.path.join(out, "index.html"), len(doc["models"]),
                        sum(len(m["versions"]) for m in doc["models"].values()))


__all__ = ["write", "ReportResult"]
