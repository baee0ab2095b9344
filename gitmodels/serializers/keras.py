"""Keras 3 models: the native `.keras` format, loaded with `safe_mode=True`.

A `.keras` file is a zip of the model's JSON config and its weights (HDF5); no
pickle. `safe_mode=True` (the default here) refuses `Lambda` layers and other
config entries that would deserialize Python bytecode. Custom layers and
models must be registered (`keras.saving.register_keras_serializable`) or
passed as `custom_objects=` to load. The file holds a save date, so re-saving
an identical model does not give identical bytes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gitmodels.errors import FrameworkMissing
from gitmodels.serializers.base import Serializer, class_path

FILES = {"keras": "model.keras"}
BACKEND_DISTRIBUTIONS = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "numpy": "numpy"}
BACKEND_INSTALL = {"torch": "gitmodels[torch]", "tensorflow": "tensorflow", "jax": "jax", "numpy": "numpy"}


def _backend() -> str | None:
    keras = sys.modules.get("keras")
    if keras is not None:
        try:
            return str(keras.config.backend())
        except Exception:  # noqa: BLE001
            pass
    return os.environ.get("KERAS_BACKEND") or None


def _shape(shape: Any) -> str:
    """A shape as Keras prints it: "(None, 4)"."""
    dims = ["None" if d is None else str(d) for d in tuple(shape)]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class KerasSerializer(Serializer):
    name = "keras"
    formats = ("keras",)
    extra = "gitmodels[keras]"
    modules = ("keras",)
    base_classes = ("keras.src.models.model.Model",)
    requires = ("keras", "numpy", "h5py", "ml-dtypes")

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        obj.save(os.path.join(directory, FILES[format]))
        fields: dict[str, Any] = {"format": format}
        backend = _backend()
        if backend:
            fields["backend"] = backend
        return fields

    def load(self, directory: str, model_meta: dict[str, Any], *, safe_mode: bool = True, **kwargs: Any) -> Any:
        try:
            keras = self.import_module("keras")
        except FrameworkMissing as exc:
            cause = exc.__cause__
            missing = getattr(cause, "name", None)
            if missing and missing.split(".")[0] != "keras":  # keras is there, its backend is not
                backend = str(model_meta.get("backend") or missing.split(".")[0])
                install = BACKEND_INSTALL.get(backend, backend)
                raise FrameworkMissing(
                    f"keras cannot start: its backend `{missing}` is not installed ({cause}); "
                    f"this model was saved with the {backend} backend",
                    f"pip install '{install}' and set KERAS_BACKEND={backend}",
                ) from cause
            raise
        path = os.path.join(directory, FILES[model_meta.get("format", "keras")])
        return keras.saving.load_model(path, safe_mode=safe_mode, **kwargs)

    def uses_pickle(self, model_meta: dict[str, Any], *, safe_mode: bool = True, **kwargs: Any) -> bool:
        return not safe_mode  # safe_mode=False may deserialize Lambda bytecode

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        params: dict[str, Any] = {}
        try:
            info["n_parameters"] = int(obj.count_params())
        except Exception:  # noqa: BLE001 - an unbuilt model has no weights yet
            pass
        optimizer = getattr(obj, "optimizer", None)
        if optimizer is not None:
            params["optimizer"] = type(optimizer).__name__
        info["params"] = params
        sig: dict[str, Any] = {}
        try:
            inputs = list(obj.inputs or [])
            outputs = list(obj.outputs or [])
        except Exception:  # noqa: BLE001 - subclassed models have no symbolic inputs
            inputs, outputs = [], []
        if inputs:
            if len(inputs) == 1 and len(tuple(inputs[0].shape)) == 2 and inputs[0].shape[-1] is not None:
                sig["n_features"] = int(inputs[0].shape[-1])
            sig["input_shapes"] = [_shape(t.shape) for t in inputs]
            names = [getattr(t, "name", None) for t in inputs]
            if all(isinstance(n, str) for n in names) and len(inputs) > 1:
                sig["input_names"] = names
        if outputs:
            sig["output_shapes"] = [_shape(t.shape) for t in outputs]
        info["signature"] = sig
        return info

    def dependencies(self, format: str | None = None) -> dict[str, str]:
        from gitmodels.metadata import dependency_versions

        backend = BACKEND_DISTRIBUTIONS.get(_backend() or "")
        names = self.requires[:1] + ((backend,) if backend else ()) + self.requires[1:]
        return dependency_versions(names)
