"""LightGBM: `Booster` and the scikit-learn wrappers (LGBMClassifier, LGBMRegressor, LGBMRanker).

Saved with LightGBM's own text format (`Booster.save_model`, `model.txt`),
every iteration, no pickle; the best iteration found by early stopping is
recorded and set again on load, so the default predictions are the same. A
wrapper is rebuilt from its booster plus `wrapper.json`: its constructor
params and what `fit` learnt outside the booster (classes, objective, whether
it saw feature names). Params that JSON cannot hold (a callable objective, a
`RandomState`) would need pickle, so such a wrapper is refused: save its
`booster_` instead. Classes are imported only from the `lightgbm` package.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, resolve_class, scalar_params, type_names

FILES = {"txt": "model.txt"}
WRAPPER_FILE = "wrapper.json"
BOOSTER = "lightgbm.basic.Booster"
CLASS_DTYPE_KINDS = "biufUO"  # label dtypes a JSON list gives back exactly
QUIET_PARAMS = ("verbose", "verbosity", "num_threads", "n_jobs")  # how it ran, not what it learnt


def _is_booster(obj: Any) -> bool:
    return any(f"{m}.{q}" == BOOSTER for m, q in type_names(obj))


def _plain(value: Any, name: str) -> Any:
    """`value` as JSON (numpy scalars unwrapped; dicts with non-string keys as tagged pairs)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _plain(item(), name)
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _plain(v, name) for k, v in value.items()}
        return {"__pairs__": [[_plain(k, name), _plain(v, name)] for k, v in value.items()]}
    raise SerializerError(f"the LightGBM param {name!r} is a {class_path(type(value))}, which only pickle could "
                          "save", "save the model's booster_ instead (gitmodels.save(model.booster_, ...)), "
                                  "or set the param to a plain value")


def _unplain(value: Any) -> Any:
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__pairs__"}:
            return {_unplain(k) if not isinstance(k, list) else tuple(k): _unplain(v) for k, v in value["__pairs__"]}
        return {k: _unplain(v) for k, v in value.items()}
    return value


def _default_names(names: list[str]) -> bool:
    return names == [f"Column_{i}" for i in range(len(names))]


class LightGBMSerializer(Serializer):
    name = "lightgbm"
    formats = ("txt",)
    extra = "gitmodels[lightgbm]"
    modules = ("lightgbm",)
    base_classes = (BOOSTER, "lightgbm.sklearn.LGBMModel")
    requires = ("lightgbm", "numpy", "scipy")

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"format": format, **self.loads_as(obj)}
        if _is_booster(obj):
            booster = obj
        else:
            booster = obj.booster_  # raises when unfitted
            state: dict[str, Any] = {
                "params": {k: _plain(v, k) for k, v in sorted(obj.get_params(deep=False).items())},
                "objective": _plain(obj.objective_, "objective"),
                "n_features_in": int(obj.n_features_in_),
                "fitted_with_feature_names": bool(getattr(obj, "_fitted_with_feature_names", False)),
                "best_iteration": int(getattr(obj, "_best_iteration", -1) or -1),
            }
            classes = getattr(obj, "_classes", None)
            if classes is not None:
                if classes.dtype.kind not in CLASS_DTYPE_KINDS or (
                        classes.dtype.kind == "O" and not all(isinstance(c, str) for c in classes)):
                    raise SerializerError(f"the classes of this {class_path(type(obj))} ({classes.dtype}) cannot be "
                                          "saved without pickle", "save its booster_ instead")
                state["classes"] = [_plain(c, "classes") for c in classes]
                state["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else "O"
            with open(os.path.join(directory, WRAPPER_FILE), "w", encoding="utf-8") as f:
                json.dump(state, f, sort_keys=True, indent=1, allow_nan=False)
        booster.save_model(os.path.join(directory, FILES[format]), num_iteration=-1)
        best = int(getattr(booster, "best_iteration", 0) or 0)
        if best > 0:
            fields["best_iteration"] = best
        return fields

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for a LightGBM model: {', '.join(sorted(kwargs))}")
        lightgbm = self.import_module("lightgbm")
        cls = resolve_class(model_meta.get("loads_as") or model_meta.get("class") or "lightgbm.Booster",
                            self.modules, self)
        booster = lightgbm.Booster(model_file=os.path.join(directory, FILES[model_meta.get("format", "txt")]))
        best = model_meta.get("best_iteration")
        if isinstance(best, int) and best > 0:
            booster.best_iteration = best
        if issubclass(cls, lightgbm.Booster):
            return booster
        if not issubclass(cls, lightgbm.LGBMModel):
            raise SerializerError(f"{class_path(cls)} is not a LightGBM model class")
        with open(os.path.join(directory, WRAPPER_FILE), encoding="utf-8") as f:
            state = json.load(f)
        return _rebuild(cls, booster, state)

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        sig: dict[str, Any] = {}
        if _is_booster(obj):
            booster = obj
            params = dict(getattr(booster, "params", None) or {})
        else:
            booster = obj.booster_
            params = obj.get_params(deep=False)
            classes = getattr(obj, "_classes", None)
            if classes is not None:
                sig["classes"] = classes
        info["params"] = scalar_params({k: v for k, v in params.items() if k not in QUIET_PARAMS})
        sig["n_features"] = int(booster.num_feature())
        names = list(booster.feature_name())
        if names and not _default_names(names):
            sig["feature_names"] = names
        info["num_trees"] = int(booster.num_trees())
        info["num_iterations"] = int(booster.current_iteration())
        info["signature"] = sig
        return info


def _rebuild(cls: type, booster: Any, state: dict[str, Any]) -> Any:
    """A fitted wrapper around `booster`: what `LGBMModel.fit` sets besides the booster, from `state`."""
    import numpy as np

    model = cls(**_unplain(state.get("params") or {}))
    model._Booster = booster
    model.fitted_ = True
    model._n_features = booster.num_feature()
    model.n_features_in_ = int(state.get("n_features_in", booster.num_feature()))
    model._fitted_with_feature_names = bool(state.get("fitted_with_feature_names"))
    model._objective = _unplain(state.get("objective"))
    model._best_iteration = int(state.get("best_iteration", -1))
    model._best_score = {}
    model._evals_result = {}
    if "classes" in state:
        from lightgbm.compat import _LGBMLabelEncoder

        classes = np.asarray(state["classes"], dtype=np.dtype(state.get("classes_dtype") or "O"))
        model._le = _LGBMLabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(model._classes)
        model._class_map = dict(zip(model._le.classes_, model._le.transform(model._le.classes_)))
        if isinstance(model.class_weight, dict):
            model._class_weight = {model._class_map[k]: v for k, v in model.class_weight.items()}
    return model
