"""The trust policy: a model whose loading can run code loads only from bytes the user trusts.

Hashing proves that the bytes are the committed ones; it says nothing about
whether whoever committed them is trusted. So a load that a serializer says can
run code (`Serializer.uses_pickle`: joblib, a whole torch module, ...) goes
ahead without asking only when

1. the bytes were saved or added in this clone (recorded in .git/gitmodels/state.db
   when `add` or `save` writes a new oid into a pointer: no commit can claim it), or
2. the commit that introduced the pointer's oid was authored by an email on the
   trust list, or carries a good gpg/ssh signature (git's own check) by a key
   whose fingerprint is on the trust list.

The trust list is per repository (.git/gitmodels/trust) and per user
($XDG_CONFIG_HOME/gitmodels/trust, `--global`); both are read. Neither is ever
committed: a list in the repository would let the committer vouch for themself.
One entry per line: `author EMAIL` or `key FINGERPRINT`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import re

from gitmodels.errors import BadConfig, GitModelsError, UntrustedModel, UsageError

FILE_NAME = "trust"
AUTHOR, KEY = "author", "key"
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-")
_GPG_FPR = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")
# what to do instead of trusting, per framework
SAFE_WAY = {
    "sklearn": 're-save it with format="skops"',
    "torch": "load the weights only (into=YourModel(...) or weights_only=True)",
    "keras": "load it with safe_mode=True",
    "statsmodels": "statsmodels saves only by pickle: refit the model from its data and code",
}


@dataclasses.dataclass(frozen=True)
class Entry:
    kind: str  # AUTHOR or KEY
    value: str  # a lower-case email, or a key fingerprint ("SHA256:..." for ssh, upper-case hex for gpg)

    def line(self) -> str:
        return f"{self.kind} {self.value}"


def ssh_fingerprint(public_key: str) -> str:
    """The `SHA256:...` fingerprint `ssh-keygen -l` and git's %GF give for an OpenSSH public key line."""
    parts = public_key.split()
    if len(parts) < 2:
        raise UsageError(f"not an ssh public key: {public_key[:40]!r}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"not an ssh public key: {public_key[:40]!r}",
                         "pass the whole line of the .pub file, or its SHA256: fingerprint") from None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_entry(text: str) -> Entry:
    """What the user typed: an email, a gpg fingerprint, an ssh SHA256: fingerprint, an ssh public key
    (or the path of its .pub file), optionally prefixed with `author ` or `key `."""
    text = text.strip()
    kind, _, rest = text.partition(" ")
    if kind in (AUTHOR, KEY) and rest.strip():
        text = rest.strip()
    else:
        kind = ""
    if kind != AUTHOR and text.endswith(".pub") and os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            text = f.read().strip()
    if kind != AUTHOR:
        if text.startswith(SSH_KEY_TYPES):
            return Entry(KEY, ssh_fingerprint(text))
        if text.startswith("SHA256:") and len(text) > 20 and " " not in text:
            return Entry(KEY, text)
        hexed = text.replace(" ", "").upper()
        if hexed.startswith("0X"):
            hexed = hexed[2:]
        if _GPG_FPR.match(hexed):
            return Entry(KEY, hexed)
    if kind != KEY and "@" in text and not any(c.isspace() for c in text):
        return Entry(AUTHOR, text.strip("<>").lower())
    raise UsageError(f"cannot tell what to trust in {text!r}",
                     "give an author email, a gpg key's full fingerprint (40 hex digits), an ssh key's "
                     "SHA256: fingerprint, or an ssh public key (its line or its .pub file)")


def user_file() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "gitmodels", FILE_NAME)


def repo_file(repo) -> str:
    return os.path.join(repo.meta_dir, FILE_NAME)


def read_file(path: str) -> list[Entry]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, value = line.partition(" ")
        if kind not in (AUTHOR, KEY) or not value.strip():
            raise BadConfig(f"{path}:{number}: not a trust entry: {line[:60]!r}",
                            "each line is `author EMAIL` or `key FINGERPRINT`; "
                            "fix it with `gitmodels trust remove` / `add`, or by hand")
        out.append(Entry(kind, value.strip()))
    return out


def _write_file(path: str, entries: list[Entry]) -> None:
    from gitmodels.storage.fileio import write_bytes_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = "# gitmodels trust list: `author EMAIL` or `key FINGERPRINT`, one a line. Not committed.\n"
    text += "".join(e.line() + "\n" for e in entries)
    write_bytes_atomic(path, text.encode("utf-8"))


def listed(repo) -> list[tuple[Entry, str]]:
    """(entry, "repo" or "user") for every entry on the two lists."""
    out = [(e, "repo") for e in read_file(repo_file(repo))]
    return out + [(e, "user") for e in read_file(user_file())]


def add(repo, text: str, user: bool = False) -> tuple[Entry, bool]:
    """Put an entry on the repository's (or the user's) list; (entry, False) when it was there already."""
    entry = parse_entry(text)
    path = user_file() if user else repo_file(repo)
    entries = read_file(path)
    if entry in entries:
        return entry, False
    _write_file(path, entries + [entry])
    return entry, True


def remove(repo, text: str, user: bool = False) -> Entry:
    entry = parse_entry(text)
    path = user_file() if user else repo_file(repo)
    entries = read_file(path)
    if entry not in entries:
        elsewhere = "--global " if not user and entry in read_file(user_file()) else ""
        raise UsageError(f"{entry.line()} is not on the {'user' if user else 'repository'} trust list",
                         f"it is on the user list: `gitmodels trust remove {elsewhere}{entry.value}`" if elsewhere
                         else "see the lists with `gitmodels trust list`")
    _write_file(path, [e for e in entries if e != entry])
    return entry


# --------------------------------------------------------------------------- the decision


def require(repo, art: str, ptr, commit: str | None, model_meta: dict) -> None:
    """Return when the bytes of `ptr` may run code here; raise UntrustedModel otherwise.

    `commit` is the revision the pointer was read from (None: the workspace pointer).
    """
    from gitmodels.storage import pointer as pointer_mod

    if repo.state.saved_has(ptr.oid):
        return
    entries = [e for e, _ in listed(repo)]
    authors = {e.value for e in entries if e.kind == AUTHOR}
    keys = {e.value for e in entries if e.kind == KEY}
    ppath = pointer_mod.pointer_path_for(art)
    start = commit or repo.git.head()
    why = "its pointer is not committed, and it was not saved in this clone"
    found = None
    if start and commit is None and _pointer_oid(repo, start, ppath) != ptr.oid:
        start = None
    if start:
        found = _introducer(repo, start, ppath, ptr.oid)
        if found is None:
            why = "no commit in its history introduced these bytes"
    if found is not None:
        if found.email.lower() in authors:
            return
        signer = next((f for f in found.fingerprints if f in keys or f.upper() in keys), None)
        if signer is not None and found.good_signature:
            return
        if found.good_signature and found.fingerprints:
            why = f"signed by key {found.fingerprints[0]}, which is not on your trust list"
        else:
            why = "the author is not on your trust list and the commit carries no signature by a trusted key"
    fmt = model_meta.get("format", "?")
    framework = model_meta.get("framework", "?")
    source = f"commit {found.sha[:12]} by {found.author} <{found.email}>" if found else "an unknown commit"
    ways = [f"load it once with gitmodels.load({art!r}, trust=True)"]
    if found is not None and found.good_signature and found.fingerprints:
        ways.append(f"trust the signing key with `gitmodels trust add {found.fingerprints[0]}`")
    elif found is not None:
        ways.append(f"trust the author with `gitmodels trust add {found.email}`")
    ways.append(SAFE_WAY.get(framework, "re-save it in a format that runs no code"))
    raise UntrustedModel(f"refusing to load {art}: loading its {framework} model (format {fmt}) this way would "
                         f"run code from its files, which come from {source}: {why}", "; ".join(ways))


def _pointer_oid(repo, commit: str, ppath: str) -> str | None:
    from gitmodels.storage import pointer as pointer_mod

    data = repo.git.file_at(commit, ppath)
    try:
        return pointer_mod.parse(data, ppath).oid if data is not None else None
    except GitModelsError:
        return None


def _introducer(repo, start: str, ppath: str, oid: str, rounds: int = 64):
    """The commit that made `oid` the pointer's oid, with git's signature check.

    `git log -S` reports the newest commit that changed how often the oid's text
    occurs in the pointer; one that only dropped a second copy of it (a comment)
    while its parent already pointed at the oid did not introduce the bytes, so
    the search goes on from that parent. The signature is checked even when no
    key is listed: a refusal can then name the key to trust.
    """
    for _ in range(rounds):
        found = repo.git.introducing_commit(start, ppath, oid, signature=True)
        if found is None or not found.parents or _pointer_oid(repo, found.parents[0], ppath) != oid:
            return found
        start = found.parents[0]
    return None
