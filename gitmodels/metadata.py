"""What a saved model records about the environment it was saved in.

Runtime (Python version, implementation, platform), versions of the packages a
framework rests on, the full installed environment as deterministic
`name==version` lines, and the warnings to give when a model is loaded in a
different environment. Everything here reads package metadata through
importlib.metadata: no framework is imported. Git provenance is not here
(see gitrepo.py).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import platform
import re
import sys
from typing import Any, Iterable

# Distributions that install an import package under another name than the usual one.
ALIASES: dict[str, tuple[str, ...]] = {
    "xgboost": ("xgboost-cpu", "xgboost-gpu"),
    "tensorflow": ("tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tf-nightly"),
}

_packages_to_dists: dict[str, list[str]] | None = None


def utc_now_iso() -> str:
    """Now, in UTC, to the second: "2026-11-27T10:31:07Z"."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def runtime_info() -> dict[str, str]:
    """The [runtime] table: {"python": "3.11.7", "implementation": "CPython", "platform": "Linux-x86_64"}."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system() or sys.platform}-{platform.machine() or 'unknown'}",
    }


def canonical_name(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_of(dist_name: str) -> str | None:
    try:
        return _md.version(dist_name)
    except _md.PackageNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - broken metadata must not break a save
        return None


def distribution_version(name: str) -> str | None:
    """The installed version of distribution `name` (or of an alias, or of the dist providing
    the import package `name`), None when not installed."""
    version = _version_of(name)
    if version is not None:
        return version
    for alias in ALIASES.get(canonical_name(name), ()):
        version = _version_of(alias)
        if version is not None:
            return version
    global _packages_to_dists
    if _packages_to_dists is None:
        try:
            _packages_to_dists = _md.packages_distributions()
        except Exception:  # noqa: BLE001
            _packages_to_dists = {}
    for dist in _packages_to_dists.get(name, ()):
        version = _version_of(dist)
        if version is not None:
            return version
    return None


def dependency_versions(names: Iterable[str]) -> dict[str, str]:
    """{name: version} for the installed ones among `names`, in the given order."""
    out: dict[str, str] = {}
    for name in names:
        if name in out:
            continue
        version = distribution_version(name)
        if version is not None:
            out[name] = version
    return out


def environment_requirements() -> str:
    """The whole installed environment as sorted `name==version` lines (deterministic).

    When a distribution is installed twice on sys.path, the one Python would
    import (the first found) is listed.
    """
    seen: dict[str, str] = {}
    for dist in _md.distributions():
        try:
            name, version = _name_and_version(dist)
        except Exception:  # noqa: BLE001 - broken metadata must not break a save
            continue
        if not name or not version:
            continue
        key = canonical_name(name)
        if key not in seen:
            seen[key] = f"{name}=={version}"
    return "".join(line + "\n" for _key, line in sorted(seen.items()))


def _name_and_version(dist) -> tuple[str | None, str | None]:
    """Name and Version from the metadata's header lines, without the email parser
    `dist.metadata` runs over the whole file (ten times slower over a full environment)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.split("\n\n", 1)[0].splitlines():
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return name, version


def _public(version: str) -> str:
    """Drop a local version label: "2.13.0+cpu" -> "2.13.0"."""
    return str(version).split("+", 1)[0].strip()


def _minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def check_runtime(recorded_meta: dict[str, Any]) -> list[str]:
    """Warnings for a model whose recorded environment differs from this one.

    `recorded_meta` holds the pointer's tables ("runtime", "dependencies"; the
    whole pointer document works too). Python is compared on major.minor and
    implementation (a patch release does not change pickles or native formats);
    every recorded dependency on its public version ("2.13.0+cpu" equals
    "2.13.0").
    """
    warnings: list[str] = []
    runtime = recorded_meta.get("runtime") or {}
    here = runtime_info()
    saved_py = runtime.get("python")
    if isinstance(saved_py, str) and _minor(saved_py) != _minor(here["python"]):
        warnings.append(f"model saved with Python {saved_py}, running Python {here['python']}")
    saved_impl = runtime.get("implementation")
    if isinstance(saved_impl, str) and saved_impl != here["implementation"]:
        warnings.append(f"model saved with {saved_impl}, running {here['implementation']}")
    deps = recorded_meta.get("dependencies") or {}
    for name, saved in deps.items():
        if not isinstance(saved, str):
            continue
        current = distribution_version(name)
        if current is None:
            warnings.append(f"model saved with {name} {saved}, which is not installed here")
        elif _public(current) != _public(saved):
            warnings.append(f"model saved with {name} {saved}, installed here: {current}")
    return warnings


__all__ = [
    "check_runtime",
    "dependency_versions",
    "distribution_version",
    "environment_requirements",
    "runtime_info",
    "utc_now_iso",
]
