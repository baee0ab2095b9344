"""Loaded by every Python a test starts with this folder on PYTHONPATH (see tests/remote_calls.py).

Logs each call a directory remote answers (one line: method and key) to the file
named by GM_TEST_REMOTE_LOG, so a test can count what a git hook asked the remote.
"""

import os

_LOG = os.environ.get("GM_TEST_REMOTE_LOG")

if _LOG:
    from gitmodels.remotes import local as _local

    def _logged(name):
        original = getattr(_local.LocalBackend, name)

        def call(self, *args, **kwargs):
            with open(_LOG, "a") as f:
                f.write(f"{name} {args[0] if args else ''}\n")
            return original(self, *args, **kwargs)

        return call

    for _name in ("stat", "download", "read_range", "read_range_into", "list", "upload", "delete"):
        setattr(_local.LocalBackend, _name, _logged(_name))
