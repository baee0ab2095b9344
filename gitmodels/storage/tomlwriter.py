"""A small TOML writer with a caller-chosen key order.

tomllib reads TOML but cannot write it; pointers and configs must be written
with a stable key order so that git diffs stay readable, hence this module.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any, Iterable

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + "}"
    # numpy scalars and the like
    for cast in (int, float):
        try:
            if hasattr(v, "item"):
                return value(v.item())
            return value(cast(v))
        except (TypeError, ValueError):
            continue
    return json.dumps(str(v), ensure_ascii=False)


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def dump_table(lines: list[str], path: tuple[str, ...], table: dict, order: Iterable[str] = ()) -> None:
    """Append `table` (scalars first, then sub-tables) under the header `path`."""
    keys = _ordered(table, order)
    scalars = [k for k in keys if not _is_table(table[k])]
    subtables = [k for k in keys if _is_table(table[k])]
    if path and (scalars or not subtables):
        if lines and lines[-1] != "":
            lines.append("")
        lines.append("[" + ".".join(key(p) for p in path) + "]")
    for k in scalars:
        lines.append(f"{key(k)} = {value(table[k])}")
    for k in subtables:
        dump_table(lines, path + (k,), table[k])


def _ordered(table: dict, order: Iterable[str]) -> list[str]:
    order = list(order)
    first = [k for k in order if k in table]
    return first + [k for k in table if k not in order]


def dumps(doc: dict, order: Iterable[str] = (), header: str = "") -> str:
    lines: list[str] = [header] if header else []
    dump_table(lines, (), doc, order)
    return "\n".join(lines).strip("\n") + "\n"
