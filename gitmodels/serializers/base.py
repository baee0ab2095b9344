"""The serializer protocol: one small class per ML framework.

A serializer answers five questions about a model object: does it handle it
(decided from the object's type names alone, without importing any framework),
how to save it into an empty directory, how to load it back, what can be said
about it (class, params, signature), and which package versions it rests on.

Framework imports happen inside methods, through `Serializer.import_module`,
which turns a missing framework into `FrameworkMissing` naming the extra to
install.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import math
import sys
from typing import Any, Callable, Iterable, Iterator

from gitmodels.errors import FrameworkMissing, SerializerError

MAX_PARAMS = 64  # keep the pointer small: at most this many params per model
MAX_LIST = 64  # longer lists (feature names, classes) are left out of the pointer
MAX_STR = 256

# Set by gitmodels.save: opens the files a serializer writes so they are hashed into
# the cache while they are written (gitmodels/following.py). Unset: plain files.
OUTPUT_OPENER: contextvars.ContextVar[Callable[[str], Any] | None] = \
    contextvars.ContextVar("gitmodels_output_opener", default=None)


@contextlib.contextmanager
def output_file(path: str) -> Iterator[Any]:
    """A new binary file for a serializer to stream a large model file into (`torch.save(state, f)`)."""
    opener = OUTPUT_OPENER.get()
    with (opener(path) if opener else open(path, "xb")) as f:
        yield f


# --------------------------------------------------------------------------- type names


def type_names(obj_or_type: Any) -> list[tuple[str, str]]:
    """(module, qualname) of every class in the MRO of `obj_or_type`'s type, most specific first."""
    cls = obj_or_type if isinstance(obj_or_type, type) else type(obj_or_type)
    return [(getattr(c, "__module__", "") or "", getattr(c, "__qualname__", c.__name__)) for c in cls.__mro__]


def in_namespace(module: str, roots: Iterable[str]) -> bool:
    """True when `module` is one of `roots` or a submodule of one (by dotted prefix)."""
    return any(module == r or module.startswith(r + ".") for r in roots)


def class_path(cls: type) -> str:
    """"module.QualName", using the shortest already-imported parent module that exports the class.

    `sklearn.ensemble._forest.RandomForestClassifier` becomes
    `sklearn.ensemble.RandomForestClassifier`, `keras.src.models.sequential.Sequential`
    becomes `keras.Sequential`. Only `sys.modules` is consulted (module
    `__dict__`s, never `getattr`, so lazy module attributes are not triggered):
    nothing is imported.
    """
    module = getattr(cls, "__module__", None) or "builtins"
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if "<locals>" in qualname:
        return f"{module}.{qualname}"
    top = qualname.split(".")[0]
    defining = sys.modules.get(module)
    target = vars(defining).get(top) if defining is not None else None
    if target is not None:
        parts = module.split(".")
        for i in range(1, len(parts)):
            parent = sys.modules.get(".".join(parts[:i]))
            if parent is not None and vars(parent).get(top) is target:
                return ".".join(parts[:i]) + "." + qualname
    return f"{module}.{qualname}"


def resolve_class(path: str, roots: Iterable[str], serializer: "Serializer") -> type:
    """Import the class named `path` ("module.QualName"), only inside the framework's own `roots`.

    A pointer names a class; importing whatever module it names would let a
    pointer run arbitrary import-time code, so anything outside `roots` is refused.
    """
    roots = tuple(roots)
    parts = path.split(".")
    if len(parts) < 2 or not in_namespace(parts[0], roots):
        raise SerializerError(f"refusing to restore class {path!r}: not part of {', '.join(roots)}",
                              "the pointer's [model] class was edited or comes from another tool")
    serializer.import_module(parts[0])
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        if isinstance(obj, type):
            return obj
        break
    raise SerializerError(f"cannot find class {path!r} in the installed {parts[0]}",
                          f"the model may need another version of {parts[0]}; "
                          "`gitmodels show` tells the one recorded")


# --------------------------------------------------------------------------- TOML-friendly values


def toml_scalar(value: Any) -> Any:
    """A str/int/float/bool for TOML, or None when `value` is not a plain scalar."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value) if len(value) <= MAX_STR else None
    # numpy scalars (np.float32, np.int64, np.bool_, np.str_) without importing numpy
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return toml_scalar(item())
        except Exception:  # noqa: BLE001 - odd array-likes: just skip them
            return None
    return None


def toml_value(value: Any) -> Any:
    """A TOML-friendly scalar or (short) list of scalars, or None to leave the value out."""
    scalar = toml_scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(value, "ndim", None) == 1):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        if len(items) > MAX_LIST:
            return None
        out = [toml_scalar(v) for v in items]
        if any(v is None for v in out):
            return None
        return out
    return None


def scalar_params(params: dict, limit: int = MAX_PARAMS) -> dict[str, Any]:
    """The TOML-friendly entries of `params`, at most `limit`, keys in a stable (sorted) order."""
    out: dict[str, Any] = {}
    for key in sorted(params, key=str):
        v = toml_value(params[key])
        if v is None:
            continue
        if isinstance(v, float) and math.isnan(v):
            continue  # NaN is a default marker (xgboost's `missing`), not informative
        out[str(key)] = v
        if len(out) >= limit:
            break
    return out


def clean_table(table: dict) -> dict:
    """Drop None values (TOML has no null) and keep nested dicts only when non-empty."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            v = clean_table(v)
            if v:
                out[k] = v
            continue
        v = toml_value(v)
        if v is not None:
            out[k] = v
    return out


# --------------------------------------------------------------------------- the protocol


class Serializer:
    """Base class. Subclasses set the class attributes and implement save/load/describe.

    Selection: `match(obj)` returns the position in `type(obj).__mro__` of the
    first class that lives in one of `modules` (None when the object is not
    handled; when `base_classes` is set, one of those qualified class names
    must also appear in the MRO). The registry picks the serializer with the
    lowest position, so the most specific one wins: an `XGBClassifier` (an
    `xgboost` class at position 0 that also inherits sklearn mixins further
    down) goes to the XGBoost serializer without the sklearn serializer
    having to know about XGBoost. `priority` breaks ties (higher wins).
    """

    name: str = ""
    formats: tuple[str, ...] = ()  # the first is the default
    extra: str = ""  # the pip extra, e.g. "gitmodels[torch]"
    modules: tuple[str, ...] = ()  # module roots whose classes this serializer owns
    base_classes: tuple[str, ...] = ()  # "module.QualName" as it appears in __mro__
    requires: tuple[str, ...] = ()  # distributions recorded in [dependencies]
    # The safety declaration (docs/serializers.md, "the safety model"): formats whose loading can run code
    # from the file (pickle or anything else). Loads of these ask the trust policy first (gitmodels/trust.py);
    # `uses_pickle` refines it per load when the arguments decide (torch: the whole module or weights only).
    pickle_formats: tuple[str, ...] = ()
    priority: int = 0

    # -- selection ---------------------------------------------------------------

    def match(self, obj: Any) -> int | None:
        names = type_names(obj)
        if self.base_classes:
            qualified = {f"{m}.{q}" for m, q in names}
            if not any(b in qualified for b in self.base_classes):
                return None
        if not self.modules:
            if not self.base_classes:
                return None
            for i, (m, q) in enumerate(names):
                if f"{m}.{q}" in self.base_classes:
                    return i
            return None
        for i, (m, _q) in enumerate(names):
            if in_namespace(m, self.modules):
                return i
        return None

    def handles(self, obj: Any) -> bool:
        return self.match(obj) is not None

    def default_format(self) -> str:
        """The format `save` uses when none is asked for (the first, unless it depends on what is installed)."""
        return self.formats[0]

    def check_format(self, format: str | None) -> str:
        if format is None:
            return self.default_format()
        if format not in self.formats:
            raise SerializerError(f"the {self.name} serializer has no format {format!r}",
                                  f"use one of: {', '.join(self.formats)}")
        return format

    # -- the work ----------------------------------------------------------------

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        """Write `obj` into the empty `directory`; return [model] fields (at least `format`)."""
        raise NotImplementedError

    def save_default(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        """`save` in the default format, when the caller did not ask for one.

        A serializer whose default format cannot hold every object may write
        another one instead: it returns that `format`, and `fallback`, one line
        saying why (shown to the user, not recorded).
        """
        return self.save(obj, directory, format)

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        raise NotImplementedError

    def describe(self, obj: Any) -> dict[str, Any]:
        """{"class": "module.QualName", "params": {...}, "signature": {...}, other [model] scalars}."""
        return {"class": class_path(type(obj)), "params": {}, "signature": {}}

    def dependencies(self, format: str | None = None) -> dict[str, str]:
        from gitmodels.metadata import dependency_versions

        return dependency_versions(self.requires)

    def uses_pickle(self, model_meta: dict[str, Any], **kwargs: Any) -> bool:
        """Could `load` with these arguments run code from the files (unpickle, or anything alike)?

        True asks the trust policy before `gitmodels.load`, and lets `allow_pickle=False` refuse.
        """
        return model_meta.get("format") in self.pickle_formats

    # -- helpers -----------------------------------------------------------------

    @property
    def install_hint(self) -> str:
        return f"pip install '{self.extra}'" if self.extra else f"install the package that provides {self.name}"

    def loads_as(self, obj: Any) -> dict[str, str]:
        """For a user subclass, the nearest framework class to restore it as (user modules are never imported)."""
        if in_namespace(type(obj).__module__, self.modules):
            return {}
        for cls in type(obj).__mro__:
            if in_namespace(cls.__module__, self.modules):
                return {"loads_as": class_path(cls)}
        return {}

    def import_module(self, module: str, extra: str | None = None) -> Any:
        """Import a framework module, or raise FrameworkMissing naming the extra to install."""
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            hint = f"pip install '{extra}'" if extra else self.install_hint
            raise FrameworkMissing(
                f"the {self.name} serializer needs `{module}`, which cannot be imported here ({exc}); "
                f"install it with: {hint}",
                hint,
            ) from exc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
