"""Configuration: the committed `gitmodels.toml` (or `[tool.gitmodels]` in
pyproject.toml) shared by the team, overlaid by an uncommitted local file in the
git directory for per-user settings and anything secret. Format: docs/config.md.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from gitmodels import credentials
from gitmodels.storage import tomlwriter
from gitmodels.storage import fileio
from gitmodels.errors import BadConfig, NoRemote, RemoteNotFound, UsageError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

VERSION = 1
SHARED_FILE = "gitmodels.toml"
LOCAL_FILE = "config.toml"
LOCAL_HINT = "pass --local to keep it in the uncommitted .git/gitmodels/config.toml (or use the SDK's environment)"

DEFAULTS: dict[str, Any] = {
    "core": {
        "link": "reflink",            # reflink (copy where the fs cannot) | copy | hardlink | symlink
        "chunking": True,            # content-defined chunking for large files on push/pull
        "chunk_threshold": 8 * 1024 * 1024,
        "pack_threshold": 1024 * 1024,  # files of a directory smaller than this travel in packs; 0: off
        "fsync": True,
        "spare_limit": 8 * 1024 ** 3,  # bytes of replaced workspace copies kept for switching back; 0: none
        "numcopies": 1,              # local gc keeps an object history uses until this many remotes hold it
        "portable_names": True,      # add refuses paths Windows/macOS cannot check out (docs/platforms.md)
    },
    "hooks": {
        "auto_push": True,           # pre-push uploads models
        "fetch_on_checkout": True,   # post-checkout/merge/rewrite fetch what the cache lacks
        "large_file_threshold": 10 * 1000 * 1000,
        "unsaved_models": "warn",    # pre-commit and a model changed since its pointer: warn | refuse
    },
    "transfer": {"jobs": 8},
    "imports": {
        "copy_objects": True,        # pre-push copies imported models to this repo's remote (docs/registry.md)
    },
    "gc": {
        "grace_days": 14,            # gc --remote never deletes what was pushed more recently (docs/history.md)
    },
}
KNOWN = {section: set(keys) for section, keys in DEFAULTS.items()}
KNOWN["core"].add("default_remote")
ORDER = ("version", "core", "hooks", "transfer", "imports", "gc", "remotes")


def _load_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise BadConfig(f"{path}: not valid TOML ({exc})") from None


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Config:
    def __init__(self, worktree: str, local_dir: str):
        self.worktree = worktree
        self.shared_path = os.path.join(worktree, SHARED_FILE)
        self.pyproject_path = os.path.join(worktree, "pyproject.toml")
        self.local_path = os.path.join(local_dir, LOCAL_FILE)
        self.shared = self._read_shared()
        self.local = _load_toml(self.local_path)
        for where, doc in ((self.shared_path, self.shared), (self.local_path, self.local)):
            self._check(where, doc)
        self.data = _merge(_merge(DEFAULTS, self.shared), self.local)
        # credentials someone committed: never used, never printed (docs/config.md "Secrets")
        self.shared_secrets = credentials.secret_settings(self.shared)

    def _read_shared(self) -> dict:
        if os.path.exists(self.shared_path):
            return _load_toml(self.shared_path)
        if os.path.exists(self.pyproject_path):
            return _load_toml(self.pyproject_path).get("tool", {}).get("gitmodels", {})
        return {}

    @staticmethod
    def _check(where: str, doc: dict) -> None:
        version = doc.get("version", VERSION)
        if version != VERSION:
            raise BadConfig(f"{where}: config version {version} is not supported", "upgrade gitmodels")
        for section, keys in KNOWN.items():
            value = doc.get(section, {})
            if not isinstance(value, dict):
                raise BadConfig(f"{where}: [{section}] must be a table")
        remotes = doc.get("remotes", {})
        if not isinstance(remotes, dict) or any(not isinstance(r, dict) or "url" not in r for r in remotes.values()):
            raise BadConfig(f"{where}: every [remotes.NAME] table needs a `url`")

    @property
    def exists(self) -> bool:
        return bool(self.shared) or bool(self.local)

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.data.get(section, {}).get(key, default)

    def get_int(self, section: str, key: str) -> int:
        """A whole-number setting (sizes in bytes, counts); BadConfig naming the key otherwise."""
        value = self.get(section, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadConfig(f"{section}.{key} must be a whole number of at least 0, not {value!r}",
                            f"fix it in {SHARED_FILE} or {self.local_path}")
        return value

    # -- remotes ----------------------------------------------------------------------

    def remotes(self) -> dict[str, dict]:
        return dict(self.data.get("remotes", {}))

    def default_remote_name(self) -> str | None:
        name = self.get("core", "default_remote")
        remotes = self.remotes()
        if name:
            return name
        if len(remotes) == 1:
            return next(iter(remotes))
        return None

    def remote(self, name: str | None = None) -> tuple[str, dict]:
        """(name, settings including url) of the named or default remote."""
        remotes = self.remotes()
        if name is None:
            name = self.default_remote_name()
            if name is None:
                if not remotes:
                    raise NoRemote("no model remote is configured")
                raise NoRemote(f"several remotes ({', '.join(sorted(remotes))}) and no default",
                               "pick one with `gitmodels remote default NAME` or pass --remote NAME")
        if name not in remotes:
            raise RemoteNotFound(f"no remote named {name!r}")
        committed = [key for key, _ in self.shared_secrets if key.startswith(f"remotes.{name}.")]
        if committed:
            where = os.path.basename(self.shared_path) if os.path.exists(self.shared_path) else "pyproject.toml"
            raise BadConfig(f"{where} holds a credential for remote {name!r} ({', '.join(committed)}); "
                            "gitmodels does not use credentials from a committed file",
                            f"move it to the local config (gitmodels remote add {name} URL --local -s KEY=VALUE), "
                            f"delete it from {where} and revoke it: it stays in git history")
        return name, dict(remotes[name])

    # -- writing ----------------------------------------------------------------------

    def _doc_for(self, local: bool) -> tuple[str, dict]:
        if local:
            return self.local_path, self.local
        if not os.path.exists(self.shared_path) and self.shared:
            raise UsageError("the shared config lives in pyproject.toml [tool.gitmodels]",
                             "edit pyproject.toml by hand, or use --local")
        return self.shared_path, self.shared

    def update(self, local: bool, mutate) -> None:
        path, doc = self._doc_for(local)
        doc = copy.deepcopy(doc)
        mutate(doc)
        doc.setdefault("version", VERSION)
        if not local:
            _refuse_secrets(doc, self.shared)
        text = tomlwriter.dumps(doc, ORDER, header="# gitmodels configuration (docs/config.md)"
                                if not local else "# gitmodels local settings: not committed")
        fileio.write_bytes_atomic(path, text.encode("utf-8"), fsync=False)
        if local:
            os.chmod(path, 0o600)
        self.__init__(self.worktree, os.path.dirname(self.local_path))

    def set_remote(self, name: str, url: str, settings: dict, *, local: bool, default: bool) -> None:
        def mutate(doc: dict) -> None:
            doc.setdefault("remotes", {})[name] = {"url": url, **settings}
            if default:
                doc.setdefault("core", {})["default_remote"] = name
        self.update(local, mutate)

    def check_remote(self, name: str, url: str, settings: dict, *, local: bool) -> None:
        """Refuse, before anything is written, a remote whose URL or settings hold a credential
        when it would go into the committed file."""
        if not local:
            doc = copy.deepcopy(self.shared)
            doc.setdefault("remotes", {})[name] = {"url": url, **settings}
            _refuse_secrets(doc, self.shared)

    def remove_remote(self, name: str) -> None:
        found = False
        for local in (False, True):
            path, doc = self._doc_for(local)
            if name in doc.get("remotes", {}):
                found = True

                def mutate(d: dict) -> None:
                    del d["remotes"][name]
                    if d.get("core", {}).get("default_remote") == name:
                        del d["core"]["default_remote"]
                self.update(local, mutate)
        if not found:
            raise RemoteNotFound(f"no remote named {name!r}")


def _refuse_secrets(doc: dict, before: dict) -> None:
    """Refuse what would add a credential to the committed file (one already there is Config.remote's to report)."""
    old, now = _flat(before), _flat(doc)
    new = [(key, why) for key, why in credentials.secret_settings(doc) if key not in old or old[key] != now[key]]
    if new:
        key, why = new[0]
        raise UsageError(f"refusing to write {key} ({why}) into the committed {SHARED_FILE}", LOCAL_HINT)


def _flat(doc: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
