"""Model paths that a teammate on Windows or macOS could not check out, refused at `gitmodels add`.

Linux takes any name but '/' and NUL. Windows refuses the device names (CON,
PRN, AUX, NUL, COM1-9, LPT1-9, with any extension, in any case), names that
end in a dot or a space, and the characters <>:"|?* and control characters;
Windows and macOS file systems are case-insensitive, so two models whose paths
differ only in case land on one file. Git itself warns about the same
(core.protectNTFS, "colliding" paths on clone). A Linux-only team turns the
check off with `core.portable_names = false` (docs/config.md).
"""

from __future__ import annotations

from typing import Iterable

from gitmodels.errors import PathError

WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]]
)
WINDOWS_FORBIDDEN = frozenset('<>:"|?*') | frozenset(chr(c) for c in range(32))
# Windows' classic limit is 260 characters for the whole path (MAX_PATH); a clone sits in a folder of its own,
# so a path inside the repository gets what is left after a typical `C:\\Users\\<name>\\src\\<repo>\\` prefix.
MAX_WINDOWS_REL = 200
SWITCH = "or, for a team that only uses Linux, set portable_names = false under [core] in gitmodels.toml"


def _shown(char: str) -> str:
    return repr(char) if ord(char) >= 32 else f"the control character {char!r}"


def name_problem(rel: str) -> str | None:
    """Why `rel` (a '/'-separated path) cannot exist on Windows; None when it can."""
    if len(rel) > MAX_WINDOWS_REL:
        return (f"it is {len(rel)} characters long; with the clone's own folder it passes Windows' 260-character "
                f"path limit (keep model paths under {MAX_WINDOWS_REL + 1})")
    for part in rel.split("/"):
        why = _part_problem(part)
        if why:
            return why
    return None


def _part_problem(part: str) -> str | None:
    bad = sorted({c for c in part if c in WINDOWS_FORBIDDEN})
    if bad:
        return f"{part!r} contains {', '.join(_shown(c) for c in bad)}, which Windows forbids in names"
    if part.endswith((".", " ")) and part not in (".", ".."):
        return f"{part!r} ends in {'a dot' if part.endswith('.') else 'a space'}, which Windows drops"
    stem = part.split(".", 1)[0].rstrip(" ")
    if stem.upper() in WINDOWS_RESERVED:
        return f"{part!r} is {stem.upper()}, a device name Windows reserves (with any extension)"
    return None


def check_names(rels: Iterable[str]) -> None:
    """PathError, one line, for the first path Windows cannot hold.

    Each distinct folder name is looked at once: the 100,000 files of a
    directory model share a handful of them.
    """
    good: set[str] = set()
    for rel in rels:
        why = None
        if len(rel) > MAX_WINDOWS_REL:
            why = name_problem(rel)
        else:
            *folders, name = rel.split("/")
            for part in folders:
                if part not in good:
                    why = _part_problem(part)
                    if why:
                        break
                    good.add(part)
            why = why or _part_problem(name)
        if why:
            raise PathError(f"{rel} cannot be checked out on Windows: {why}", f"rename it, then add it again; {SWITCH}")


def check_case(new: Iterable[str], tracked: Iterable[str], what: str = "model") -> None:
    """PathError when two paths (new ones, or a new and a tracked one) differ only in case."""
    seen: dict[str, str] = {}
    for rel in tracked:
        seen.setdefault(rel.casefold(), rel)
    for rel in new:
        other = seen.get(rel.casefold())
        if other is not None and other != rel:
            raise PathError(f"{rel} and {other} differ only in case: on macOS and Windows they are one {what}",
                            f"give one of them another name; {SWITCH}")
        seen[rel.casefold()] = rel


def check_model_files(model: str, files: Iterable[str]) -> None:
    """The same two checks for the files inside a directory model."""
    files = list(files)
    check_names(f"{model}/{f}" for f in files)
    check_case([f"{model}/{f}" for f in files], [], "file")
