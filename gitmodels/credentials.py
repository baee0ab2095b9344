"""What counts as a credential in a config setting or a URL, and how it is masked.

One place decides, so the committed config, `remote list`, the messages and the
backends agree. Standard library only: config.py and remotes/ both import it.
Rules (docs/config.md "Secrets"):

- a setting whose name looks like a credential (key, secret, token, password,
  credential, SAS, connection string, private, signature) is a secret, except
  names of keys that are not keys themselves (`sse_kms_key_id`, ...) and
  path-valued names (`*_file`, `*_path`) whose value is a path;
- any value holding a URL with user info, a PEM block or a JSON key is a secret;
- a URL's user info is a secret when it has a password, and for s3:// and gs://
  even without one (there the user is an access key id).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

MASK = "***"

SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "pwd", "credential", "sas",
                "connection_string", "connectionstring", "conn_str", "private", "signature")
# Names that contain a secret word but name something that is not secret: a KMS key is
# used through IAM, its id grants nothing. Documented in docs/config.md.
NOT_SECRET = {"sse_kms_key_id", "ssekms_key_id", "kms_key_id", "kms_key_name"}
PATH_SUFFIXES = ("_file", "_path", "_filename", "_dir")
USER_IS_CREDENTIAL = {"s3", "gs"}  # schemes whose URL user (no password) is an access key id

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def split_userinfo(url: str) -> tuple[str, str | None]:
    """`s3://user:pass@bkt/p` -> ("s3://bkt/p", "user:pass"); a URL without user info is returned as it is.

    Only URLs with a scheme have user info; a plain path with an `@` (`/mnt/m@v2`) has none.
    """
    match = _SCHEME.match(url)
    if not match:
        return url, None
    start = match.end()
    end = len(url)
    for sep in "/?#":
        pos = url.find(sep, start)
        if pos != -1:
            end = min(end, pos)
    authority = url[start:end]
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        return url[:start] + host + url[end:], userinfo
    if ":" in authority and match.group(1).lower() in USER_IS_CREDENTIAL:
        # no bucket name holds a `:`: a secret key with an unencoded `/` ends the authority early
        at = url.find("@", start)
        if at == -1:
            return url[:start] + url[end:], authority
        return url[:start] + url[at + 1:], url[start:at]
    return url, None


def userinfo_is_secret(url: str) -> bool:
    """The URL carries a credential in its user info (see the module's rules)."""
    match = _SCHEME.match(url)
    _, userinfo = split_userinfo(url)
    if userinfo is None or match is None:
        return False
    return ":" in userinfo or match.group(1).lower() in USER_IS_CREDENTIAL


def userinfo_parts(userinfo: str) -> tuple[str, str | None]:
    """(user, password) of user info, percent-decoded (a `/` or `+` in a secret key is written %2F, %2B)."""
    user, sep, password = userinfo.partition(":")
    return unquote(user), (unquote(password) if sep else None)


def mask_url(url: str) -> str:
    """The URL with its user info replaced: `s3://AKIA…:…@bkt/p` -> `s3://***@bkt/p`."""
    clean, userinfo = split_userinfo(str(url))
    if userinfo is None:
        return str(url)
    start = _SCHEME.match(clean).end()  # type: ignore[union-attr]
    return clean[:start] + MASK + "@" + clean[start:]


def mask_text(text: str) -> str:
    """Every URL inside a message with its user info masked."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), str(text))


def _inline_secret(value: str) -> bool:
    """A value that is itself key material: a PEM block or a JSON key (a service-account file's contents)."""
    if "-----BEGIN" in value:
        return True
    text = value.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return True  # JSON-like text in a setting: treat as contents, never as a path
        return isinstance(doc, dict)
    return False


def secret_reason(name: str, value: object) -> str | None:
    """Why the setting `name = value` is a credential ("looks like a credential", ...), or None."""
    if isinstance(value, dict):
        return next((r for r in (secret_reason(k, v) for k, v in value.items()) if r), None)
    if isinstance(value, list):
        return next((r for r in (secret_reason(name, v) for v in value) if r), None)
    if isinstance(value, bool) or value is None:
        return None  # a switch (`use_session_token = true`) holds no secret
    if isinstance(value, str):
        if any(userinfo_is_secret(u) for u in _URL_IN_TEXT.findall(value)):
            return "a URL with a user name or password"
        if _inline_secret(value):
            return "inline key material"
    key = _normal(name)
    if key in NOT_SECRET:
        return None
    if key.endswith(PATH_SUFFIXES):
        if isinstance(value, str) and "\n" not in value:
            return None  # a path to a key file is fine; the file itself stays out of git
        return "key material where a path is expected"
    squashed = key.replace("_", "")
    if any(word.replace("_", "") in squashed for word in SECRET_WORDS):
        return "a name that looks like a credential"
    return None


def secret_settings(doc: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, reason) of every credential in a config document, tables included."""
    found = []
    for name, value in doc.items():
        where = f"{prefix}{name}"
        if isinstance(value, dict):
            found.extend(secret_settings(value, where + "."))
        elif name == "url" and isinstance(value, str):
            if userinfo_is_secret(value):
                found.append((where, "a URL with a user name or password"))
            elif _inline_secret(value):
                found.append((where, "inline key material"))
        else:
            reason = secret_reason(name, value)
            if reason:
                found.append((where, reason))
    return found


def mask_settings(settings: dict) -> dict:
    """A remote's settings fit to print: URLs masked, credential values replaced by ***."""
    out = {}
    for name, value in settings.items():
        shown = mask_text(value) if isinstance(value, str) else value
        if name == "url" and isinstance(value, str):
            out[name] = mask_url(value)
        elif secret_reason(name, shown):  # a URL with its user info masked is fit to print
            out[name] = MASK
        else:
            out[name] = shown
    return out
