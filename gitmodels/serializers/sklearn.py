"""scikit-learn estimators and pipelines: skops (default where installed) or joblib.

skops loads without unpickling. Its loader reports the types it does not know
as "untrusted"; gitmodels trusts a reported type only when `is_trusted_type`
accepts it (scikit-learn, NumPy and SciPy classes and functions, minus anything
that reads/writes files or runs code), and refuses the file otherwise, naming
the types. A caller who knows better passes `trusted=["module.Name", ...]` to
trust those exact names in addition.

joblib pickles: loading runs code from the file, so it is written only when
asked for (`format="joblib"`), or when skops is not installed or cannot hold
the object (it fails, or its file would need types outside the policy above),
and a teammate's joblib file loads only through the trust policy (trust.py).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, scalar_params

FILES = {"joblib": "model.joblib", "skops": "model.skops"}

TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")
# Inside the trusted roots, modules and names that touch files, load data or run code.
REFUSED_MODULES = (
    "numpy.lib.npyio", "numpy.lib._npyio_impl", "numpy.lib.format", "numpy.lib._datasource",
    "numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.memmap",
    "numpy.core.memmap", "numpy._core.memmap",
    "scipy.io", "scipy.weave", "scipy._lib._testutils",
    "sklearn.datasets", "sklearn.externals", "sklearn.utils._testing", "sklearn.utils._show_versions",
)
REFUSED_NAME_PREFIXES = ("load", "save", "fromfile", "tofile", "memmap", "open", "exec", "eval", "compile",
                         "system", "popen", "fetch", "genfromtxt", "fromregex", "loadtxt", "savetxt")


def is_trusted_type(name: str) -> bool:
    """The policy for types skops reports as unknown: trusted only inside sklearn/numpy/scipy,
    and never an I/O- or code-running module or name."""
    if not isinstance(name, str) or "." not in name:
        return False
    root = name.split(".", 1)[0]
    if root not in TRUSTED_ROOTS:
        return False
    if any(name == m or name.startswith(m + ".") for m in REFUSED_MODULES):
        return False
    last = name.rsplit(".", 1)[1].lower().lstrip("_")
    return not any(last.startswith(p) for p in REFUSED_NAME_PREFIXES)


class SklearnSerializer(Serializer):
    name = "sklearn"
    formats = ("skops", "joblib")
    extra = "gitmodels[sklearn]"
    modules = ("sklearn",)
    base_classes = ("sklearn.base.BaseEstimator",)
    requires = ("scikit-learn", "joblib", "numpy", "scipy")
    pickle_formats = ("joblib",)

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        path = os.path.join(directory, FILES[format])
        if format == "skops":
            sio = self.skops_io()
            sio.dump(obj, path)
        else:
            joblib = self.import_module("joblib")
            joblib.dump(obj, path)  # uncompressed: fastest, and the same model gives the same bytes
        return {"format": format}

    def skops_io(self) -> Any:
        """`skops.io`, imported without the frameworks behind scikit-learn's array-API shim.

        Importing skops.io lists every scikit-learn estimator (`all_estimators`), which walks
        and imports every sklearn package, `sklearn.externals.array_api_compat.torch` included:
        that imports torch (and cupy, dask, jax) when installed, seconds for a scikit-learn
        model. Those shim packages hold no estimator, so they are made to fail to import (a
        failure `all_estimators` ignores, and Python does not remember) while skops.io loads.
        """
        module = sys.modules.get("skops.io")
        if module is not None:
            return module
        guard = _SkipArrayApiBackends()
        sys.meta_path.insert(0, guard)
        try:
            return self.import_module("skops.io", extra="gitmodels[skops]")
        finally:
            sys.meta_path.remove(guard)

    def default_format(self) -> str:
        return "skops" if _installed("skops") else "joblib"

    def save_default(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        """skops when it can hold `obj` so that it loads back under the type policy; joblib otherwise."""
        if format != "skops":  # the default is joblib only when skops is missing
            self.save(obj, directory, format)
            return {"format": format, "fallback": "skops is not installed (pip install 'gitmodels[sklearn]')"}
        try:
            self.save(obj, directory, "skops")
            sio = self.skops_io()
            refused = _refused_types(sio, os.path.join(directory, FILES["skops"]), ())
            if not refused:
                return {"format": "skops"}
            why = f"skops would need types outside scikit-learn/NumPy/SciPy: {', '.join(refused[:5])}"
        except Exception as exc:  # noqa: BLE001 - any skops failure: joblib can still save it
            why = f"skops cannot save it ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        self.save(obj, directory, "joblib")
        return {"format": "joblib", "fallback": why}

    def load(self, directory: str, model_meta: dict[str, Any], *, trusted: list[str] | None = None,
             mmap_mode: str | None = None, **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for a scikit-learn model: {', '.join(sorted(kwargs))}")
        fmt = model_meta.get("format", "joblib")
        path = os.path.join(directory, FILES[fmt])
        self.import_module("sklearn")
        if fmt == "skops":
            sio = self.skops_io()
            unknown = sio.get_untrusted_types(file=path)
            refused = _refused_types(sio, path, trusted or (), unknown)
            if refused:
                raise SerializerError(
                    f"{path}: refusing to load types outside scikit-learn/NumPy/SciPy: {', '.join(refused)}",
                    "if you trust them, pass trusted=[...] with these exact names to load",
                )
            return sio.load(path, trusted=sorted(unknown))
        joblib = self.import_module("joblib")
        return joblib.load(path, mmap_mode=mmap_mode)

    def uses_pickle(self, model_meta: dict[str, Any], **kwargs: Any) -> bool:
        return model_meta.get("format", "joblib") == "joblib"

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        try:
            params = obj.get_params(deep=True)
        except Exception:  # noqa: BLE001 - a half-implemented third-party estimator
            params = {}
        info["params"] = scalar_params(params)
        steps = getattr(obj, "steps", None)
        if isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps):
            info["steps"] = [f"{n}={e}" if e is None or isinstance(e, str) else f"{n}={class_path(type(e))}"
                             for n, e in steps]
        info["signature"] = _signature(obj)
        return info

    def dependencies(self, format: str | None = None) -> dict[str, str]:
        from gitmodels.metadata import dependency_versions

        names = self.requires + (("skops",) if format == "skops" else ())
        return dependency_versions(names)


class _SkipArrayApiBackends:
    """A meta-path finder refusing scikit-learn's array-API shims for frameworks not yet imported."""

    PREFIX = "sklearn.externals.array_api_compat."
    BACKENDS = ("torch", "cupy", "dask", "jax", "paddle")

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.startswith(self.PREFIX) and name.count(".") == 3:
            backend = name.rsplit(".", 1)[1]
            if backend in self.BACKENDS and backend not in sys.modules:
                raise ImportError(f"{name} is not needed to load skops", name=name)
        return None


def _installed(name: str) -> bool:
    """Importable, without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _refused_types(sio: Any, path: str, trusted: Any, unknown: list[str] | None = None) -> list[str]:
    """The types the skops file at `path` needs that neither the policy nor `trusted` accepts."""
    if unknown is None:
        unknown = sio.get_untrusted_types(file=path)
    extra = set(trusted)
    return sorted(t for t in unknown if not is_trusted_type(t) and t not in extra)


def _signature(obj: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {}
    for attr, key in (("n_features_in_", "n_features"), ("feature_names_in_", "feature_names"),
                      ("classes_", "classes"), ("n_outputs_", "n_outputs")):
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - unfitted estimators raise AttributeError, some others more
            continue
        sig[key] = value
    return sig
