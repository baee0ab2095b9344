"""scikit-learn estimators and pipelines: joblib (default) or skops.

joblib pickles: loading runs code from the file, so gitmodels loads it only
after the caller verified the bytes against the committed pointer's hash.

skops (`format="skops"`) loads without unpickling. Its loader reports the types
it does not know as "untrusted"; gitmodels trusts a reported type only when
`is_trusted_type` accepts it (scikit-learn, NumPy and SciPy classes and
functions, minus anything that reads/writes files or runs code), and refuses
the file otherwise, naming the types. A caller who knows better passes
`trusted=["module.Name", ...]` to trust those exact names in addition.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SerializerError
from .base import Serializer, class_path, scalar_params

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
    formats = ("joblib", "skops")
    extra = "gitmodels[sklearn]"
    modules = ("sklearn",)
    base_classes = ("sklearn.base.BaseEstimator",)
    requires = ("scikit-learn", "joblib", "numpy", "scipy")
    pickle_formats = ("joblib",)

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        path = os.path.join(directory, FILES[format])
        if format == "skops":
            sio = self.import_module("skops.io", extra="gitmodels[skops]")
            sio.dump(obj, path)
        else:
            joblib = self.import_module("joblib")
            joblib.dump(obj, path)  # uncompressed: fastest, and the same model gives the same bytes
        return {"format": format}

    def load(self, directory: str, model_meta: dict[str, Any], *, trusted: list[str] | None = None,
             mmap_mode: str | None = None, **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for a scikit-learn model: {', '.join(sorted(kwargs))}")
        fmt = model_meta.get("format", "joblib")
        path = os.path.join(directory, FILES[fmt])
        self.import_module("sklearn")
        if fmt == "skops":
            sio = self.import_module("skops.io", extra="gitmodels[skops]")
            unknown = sio.get_untrusted_types(file=path)
            extra_trusted = set(trusted or ())
            refused = sorted(t for t in unknown if not is_trusted_type(t) and t not in extra_trusted)
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
        from ..metadata import dependency_versions

        names = self.requires + (("skops",) if format == "skops" else ())
        return dependency_versions(names)


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
