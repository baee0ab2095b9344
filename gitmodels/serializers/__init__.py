"""The serializer registry, and saving/loading a model to/from a plain directory.

Built-in serializers are listed here by name and imported on first use (their
modules import no framework at top level). Third-party packages add serializers
through the `gitmodels.serializers` entry-point group; those are loaded only
when a serializer is looked for (never on `import gitmodels`).

Two functions are what the rest of gitmodels calls:

- `save_to_dir(obj, directory)` writes the model's files plus the descriptor
  `gitmodels-model.json` and returns the pointer tables (model, runtime,
  dependencies, params);
- `load_from_dir(directory, model_meta)` gives the object back.

Neither knows about git or the store: the caller verifies the bytes against the
pointer's oid before calling `load_from_dir`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import threading
import warnings
from typing import Any

from gitmodels.errors import GitModelsError, SerializerError
from gitmodels.serializers.base import Serializer, class_path, clean_table, type_names

ENTRY_POINT_GROUP = "gitmodels.serializers"
DESCRIPTOR = "gitmodels-model.json"
DESCRIPTOR_VERSION = 1

# name -> "module:Class"; a built-in serializer joins with one line here.
BUILTINS: dict[str, str] = {
    "sklearn": "gitmodels.serializers.sklearn:SklearnSerializer",
    "xgboost": "gitmodels.serializers.xgboost:XGBoostSerializer",
    "torch": "gitmodels.serializers.torch:TorchSerializer",
    "keras": "gitmodels.serializers.keras:KerasSerializer",
    "catboost": "gitmodels.serializers.catboost:CatBoostSerializer",
    "lightgbm": "gitmodels.serializers.lightgbm:LightGBMSerializer",
    "onnx": "gitmodels.serializers.onnx:OnnxSerializer",
    "transformers": "gitmodels.serializers.transformers:TransformersSerializer",
    "statsmodels": "gitmodels.serializers.statsmodels:StatsmodelsSerializer",
}

_lock = threading.RLock()
_builtins: dict[str, Serializer] | None = None
_registered: dict[str, Serializer] = {}
_plugins: dict[str, Serializer] | None = None


# --------------------------------------------------------------------------- registry


def entry_points() -> list[Any]:
    """The installed `gitmodels.serializers` entry points (tests may replace this function)."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _instantiate(value: Any, where: str) -> Serializer:
    if isinstance(value, type) and issubclass(value, Serializer):
        value = value()
    elif callable(value) and not isinstance(value, Serializer):
        value = value()
    if not isinstance(value, Serializer):
        raise TypeError(f"{where} is not a gitmodels Serializer (got {type(value).__name__})")
    if not value.name or not value.formats:
        raise TypeError(f"{where} has no name or no formats")
    return value


def _load_builtins() -> dict[str, Serializer]:
    global _builtins
    with _lock:
        if _builtins is None:
            loaded: dict[str, Serializer] = {}
            for name, target in BUILTINS.items():
                module_name, cls_name = target.split(":")
                loaded[name] = getattr(importlib.import_module(module_name), cls_name)()
            _builtins = loaded
        return _builtins


def _load_plugins() -> dict[str, Serializer]:
    """Load the entry-point serializers once. A broken plugin is skipped with a warning."""
    global _plugins
    with _lock:
        if _plugins is not None:
            return _plugins
        loaded: dict[str, Serializer] = {}
        builtins = _load_builtins()
        try:
            eps = entry_points()
        except Exception as exc:  # noqa: BLE001 - broken metadata must not break saving
            warnings.warn(f"gitmodels: cannot list serializer entry points: {exc}", stacklevel=3)
            eps = []
        for ep in sorted(eps, key=lambda e: (getattr(e, "name", ""), getattr(e, "value", ""))):
            where = f"entry point {getattr(ep, 'name', '?')} = {getattr(ep, 'value', '?')}"
            try:
                serializer = _instantiate(ep.load(), where)
            except Exception as exc:  # noqa: BLE001
                warnings.warn(f"gitmodels: skipping serializer {where}: {exc}", stacklevel=3)
                continue
            if serializer.name in builtins or serializer.name in _registered or serializer.name in loaded:
                warnings.warn(f"gitmodels: skipping serializer {where}: the name {serializer.name!r} is taken",
                              stacklevel=3)
                continue
            loaded[serializer.name] = serializer
        _plugins = loaded
        return _plugins


def register(serializer: Serializer | type[Serializer], *, replace: bool = False) -> Serializer:
    """Register a serializer in this process (entry points are the way for installed packages)."""
    instance = _instantiate(serializer, repr(serializer))
    with _lock:
        taken = instance.name in _load_builtins() or instance.name in _registered
        if taken and not replace:
            raise SerializerError(f"a serializer named {instance.name!r} is already registered",
                                  "pick another name, or pass replace=True")
        if instance.name in _load_builtins():
            _load_builtins().pop(instance.name)
        _registered[instance.name] = instance
    return instance


def reset_registry() -> None:
    """Forget registered and plugin serializers (entry points are read again on next use)."""
    global _builtins, _plugins
    with _lock:
        _builtins = None
        _plugins = None
        _registered.clear()


def _candidates(include_plugins: bool) -> list[Serializer]:
    out = list(_load_builtins().values()) + list(_registered.values())
    if include_plugins:
        out += list(_load_plugins().values())
    return out


def available() -> list[str]:
    """Names of every serializer, built-in, registered and installed through entry points."""
    return [s.name for s in _candidates(include_plugins=True)]


def get_serializer(name: str) -> Serializer:
    """The serializer called `name`; SerializerError when there is none."""
    with _lock:
        found = _registered.get(name) or _load_builtins().get(name)
        if found is None:
            found = _load_plugins().get(name)
    if found is None:
        raise SerializerError(
            f"no serializer named {name!r} (known: {', '.join(available())})",
            f"install the package that provides the {name!r} serializer "
            f"(it registers through the `{ENTRY_POINT_GROUP}` entry point group)",
        )
    return found


def find_serializer(obj: Any, name: str | None = None) -> Serializer:
    """The serializer for `obj`: the one named `name`, else the most specific one that handles it."""
    if name is not None:
        serializer = get_serializer(name)
        if not serializer.handles(obj):
            raise SerializerError(f"the {name} serializer cannot save a {class_path(type(obj))} object",
                                  "leave serializer= out to pick one from the object's type")
        return serializer
    depth = len(type_names(obj))
    ranked: list[tuple[int, int, int, Serializer]] = []
    for order, serializer in enumerate(_candidates(include_plugins=True)):
        try:
            if not serializer.handles(obj):
                continue
            rank = serializer.match(obj)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not hide the built-ins
            warnings.warn(f"gitmodels: serializer {serializer.name!r} failed on a type check: {exc}", stacklevel=2)
            continue
        ranked.append((depth if rank is None else rank, -serializer.priority, order, serializer))
    if not ranked:
        raise SerializerError(
            f"don't know how to save a {class_path(type(obj))} object",
            "supported: scikit-learn, XGBoost, PyTorch, Keras, CatBoost, LightGBM, ONNX, Hugging Face "
            "transformers, statsmodels and serializers installed through "
            f"the `{ENTRY_POINT_GROUP}` entry points (known: {', '.join(available())}); or write the model "
            "to a file yourself and track it with `gitmodels add PATH`",
        )
    ranked.sort(key=lambda r: r[:3])
    return ranked[0][3]


# --------------------------------------------------------------------------- save / load a directory


def _files_under(directory: str) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), directory).replace(os.sep, "/"))
    return sorted(out)


def _check_target(directory: str) -> None:
    if os.path.lexists(directory):
        if not os.path.isdir(directory) or os.path.islink(directory):
            raise SerializerError(f"{directory} exists and is not a directory",
                                  "save to a new path, or remove it first")
        if os.listdir(directory):
            raise SerializerError(f"{directory} is not empty",
                                  "save to a new or empty directory (its old content would be mixed in)")


def _describe(serializer: Serializer, obj: Any) -> dict[str, Any]:
    try:
        info = dict(serializer.describe(obj) or {})
    except Exception as exc:  # noqa: BLE001 - describing is best effort; saving must still work
        warnings.warn(f"gitmodels: could not describe the {class_path(type(obj))} object: {exc}", stacklevel=3)
        info = {}
    info.setdefault("class", class_path(type(obj)))
    return info


def descriptor_bytes(model: dict[str, Any], files: list[str]) -> bytes:
    """The descriptor file: the [model] table without saved_at/signature, plus the file list.

    Deterministic: sorted keys, fixed separators, no timestamps.
    """
    doc = {k: v for k, v in model.items() if k not in ("saved_at", "signature")}
    doc["files"] = list(files)
    doc["gitmodels_descriptor"] = DESCRIPTOR_VERSION
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def save_to_dir(obj: Any, directory: str | os.PathLike, *, serializer: str | Serializer | None = None,
                format: str | None = None) -> dict[str, Any]:
    """Serialize `obj` into `directory` (which must not exist, or be empty).

    Files are written into a temporary sibling folder that is renamed into
    place at the end: `directory` either appears complete or not at all.

    Returns the pointer tables::

        {"model": {"framework", "class", "format", "saved_at", <serializer fields>,
                   "signature": {...}},
         "runtime": {"python", "implementation", "platform"},
         "dependencies": {dist: version},
         "params": {name: scalar}}

    plus "fallback" (why) when the default format could not hold the object and another was written.
    """
    from gitmodels.storage.fileio import tmp_name_for
    from gitmodels.metadata import runtime_info, utc_now_iso

    if isinstance(serializer, Serializer):
        ser = serializer
    else:
        ser = find_serializer(obj, serializer)
    fmt = ser.check_format(format)
    fallback = None
    directory = os.path.abspath(os.fspath(directory))
    _check_target(directory)

    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tmp_name_for(directory)
    os.mkdir(tmp)
    try:
        try:
            fields = dict((ser.save(obj, tmp, fmt) if format is not None else ser.save_default(obj, tmp, fmt))
                          or {})
        except GitModelsError:
            raise
        except Exception as exc:
            raise SerializerError(f"could not save the {class_path(type(obj))} object with the {ser.name} "
                                  f"serializer: {type(exc).__name__}: {exc}",
                                  "check that the model is fitted/built; pass serializer= or format= to "
                                  "choose another way") from exc
        fmt = ser.check_format(fields.pop("format", None) or fmt)
        fallback = fields.pop("fallback", None)
        info = _describe(ser, obj)
        files = _files_under(tmp)
        if DESCRIPTOR in files:
            raise SerializerError(f"the {ser.name} serializer wrote {DESCRIPTOR}, a name gitmodels reserves")
        model: dict[str, Any] = {"framework": ser.name, "class": info["class"], "format": fmt}
        extras = {k: v for k, v in info.items() if k not in ("class", "params", "signature")}
        extras.update(fields)
        model.update(clean_table({k: v for k, v in extras.items() if k not in model}))
        with open(os.path.join(tmp, DESCRIPTOR), "wb") as f:
            f.write(descriptor_bytes(model, files))
        try:
            os.replace(tmp, directory)
        except OSError:
            # not POSIX, or the empty target appeared meanwhile
            _check_target(directory)
            if os.path.isdir(directory):
                os.rmdir(directory)
            os.rename(tmp, directory)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)

    model["saved_at"] = utc_now_iso()
    ordered = {k: model[k] for k in ("framework", "class", "format", "saved_at")}
    ordered.update({k: v for k, v in model.items() if k not in ordered})
    signature = clean_table(dict(info.get("signature") or {}))
    if signature:
        ordered["signature"] = signature
    tables: dict[str, Any] = {
        "model": ordered,
        "runtime": runtime_info(),
        "dependencies": ser.dependencies(fmt),
        "params": clean_table(dict(info.get("params") or {})),
    }
    if fallback:
        tables["fallback"] = str(fallback)
    return tables


def runs_code(model_meta: dict[str, Any]) -> bool:
    """Does loading this [model] table's format run code from the file (whatever the load arguments)?"""
    try:
        ser = get_serializer(str(model_meta.get("framework")))
    except SerializerError:
        return False
    return model_meta.get("format") in ser.pickle_formats


def read_descriptor(directory: str | os.PathLike) -> dict[str, Any]:
    """The descriptor of a `save_to_dir` directory; SerializerError when absent or unreadable."""
    path = os.path.join(os.fspath(directory), DESCRIPTOR)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(1024 * 1024).decode("utf-8"))
    except FileNotFoundError:
        raise SerializerError(f"{os.fspath(directory)} has no {DESCRIPTOR}: not a saved model directory",
                              "pass the pointer's [model] table, or load the files with their framework") from None
    except (OSError, ValueError) as exc:
        raise SerializerError(f"{path}: unreadable descriptor ({exc})",
                              "restore the directory with `gitmodels checkout`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("framework"), str):
        raise SerializerError(f"{path}: not a gitmodels descriptor", "restore it with `gitmodels checkout`")
    version = doc.get("gitmodels_descriptor", 1)
    if not isinstance(version, int) or version > DESCRIPTOR_VERSION:
        raise SerializerError(f"{path}: descriptor version {version!r} is newer than this gitmodels understands",
                              "upgrade gitmodels: pip install -U gitmodels")
    return doc


def load_from_dir(directory: str | os.PathLike, model_meta: dict[str, Any] | None = None, *,
                  allow_pickle: bool = True, **kwargs: Any) -> Any:
    """Load the model saved in `directory`.

    `model_meta` is the pointer's [model] table; without it, the directory's
    descriptor is read. `allow_pickle=False` refuses any load that would
    unpickle (joblib, a full torch module, Keras with safe_mode=False).
    Other keyword arguments go to the serializer's `load` (e.g. `into=` for torch).
    """
    directory = os.fspath(directory)
    ser, meta = resolve(directory, model_meta)
    fmt, framework = meta["format"], meta["framework"]
    if not allow_pickle and ser.uses_pickle(meta, **kwargs):
        raise SerializerError(f"{directory}: loading this {framework} model ({fmt}) would unpickle, "
                              "and allow_pickle=False",
                              "load it from a verified pointer, or use a non-pickle way (torch: into=MODEL)")
    try:
        return ser.load(directory, meta, **kwargs)
    except GitModelsError:
        raise
    except Exception as exc:
        raise SerializerError(f"could not load the {meta.get('class', framework)} model in {directory}: "
                              f"{type(exc).__name__}: {exc}",
                              "check the recorded versions with `gitmodels show`; the model's own classes "
                              "must be importable") from exc


def resolve(directory: str | os.PathLike, model_meta: dict[str, Any] | None = None) -> tuple[Serializer, dict]:
    """(serializer, [model] table) that `load_from_dir` would load `directory` with."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise SerializerError(f"{directory} is not a directory", "run `gitmodels checkout` to restore it")
    if model_meta:
        # the pointer's table wins; the descriptor (inside the same verified bytes) fills gaps
        try:
            meta = {**read_descriptor(directory), **model_meta}
        except SerializerError:
            meta = dict(model_meta)
    else:
        meta = read_descriptor(directory)
    framework = meta.get("framework")
    if not isinstance(framework, str) or not framework:
        raise SerializerError(f"{directory}: the model metadata names no framework",
                              "the pointer's [model] table is missing `framework`")
    ser = get_serializer(framework)
    fmt = meta.get("format")
    if fmt not in ser.formats:
        raise SerializerError(f"{directory}: the {framework} format {fmt!r} is unknown to this gitmodels",
                              f"known formats: {', '.join(ser.formats)}; upgrading gitmodels may help")
    return ser, meta


__all__ = [
    "BUILTINS",
    "DESCRIPTOR",
    "ENTRY_POINT_GROUP",
    "Serializer",
    "available",
    "entry_points",
    "find_serializer",
    "get_serializer",
    "load_from_dir",
    "read_descriptor",
    "register",
    "reset_registry",
    "resolve",
    "runs_code",
    "save_to_dir",
]
