"""XGBoost: `Booster` and the scikit-learn wrappers (XGBClassifier, XGBRegressor, XGBRanker, ...).

Saved with XGBoost's own `save_model`: UBJSON (`model.ubj`, the default) or
JSON (`format="json"`); no pickle. The wrappers store their scikit-learn
attributes (classes, feature names) inside the model file, and are restored to
the same class, imported only from the `xgboost` package itself.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, resolve_class, scalar_params, type_names

FILES = {"ubj": "model.ubj", "json": "model.json"}


def _is_booster(obj: Any) -> bool:
    return any(f"{m}.{q}" == "xgboost.core.Booster" for m, q in type_names(obj))


class XGBoostSerializer(Serializer):
    name = "xgboost"
    formats = ("ubj", "json")
    extra = "gitmodels[xgboost]"
    modules = ("xgboost",)
    base_classes = ("xgboost.core.Booster", "xgboost.sklearn.XGBModel")
    requires = ("xgboost", "numpy", "scipy")

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        obj.save_model(os.path.join(directory, FILES[format]))
        return {"format": format, **self.loads_as(obj)}

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for an XGBoost model: {', '.join(sorted(kwargs))}")
        xgboost = self.import_module("xgboost")
        path = os.path.join(directory, FILES[model_meta.get("format", "ubj")])
        cls = resolve_class(model_meta.get("loads_as") or model_meta.get("class") or "xgboost.Booster",
                            self.modules, self)
        if issubclass(cls, xgboost.Booster):
            booster = cls()
            booster.load_model(path)
            return booster
        if not issubclass(cls, xgboost.XGBModel):
            raise SerializerError(f"{class_path(cls)} is not an XGBoost model class")
        model = cls()
        model.load_model(path)
        return model

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        sig: dict[str, Any] = {}
        if _is_booster(obj):
            booster = obj
            params: dict[str, Any] = {}
            try:
                learner = json.loads(booster.save_config())["learner"]
                params["objective"] = learner["objective"]["name"]
                params["booster"] = learner["gradient_booster"]["name"]
            except Exception:  # noqa: BLE001
                pass
            info["params"] = params
        else:
            info["params"] = scalar_params(obj.get_params())
            booster = obj.get_booster()  # raises when unfitted: save_model would fail the same way
            for attr, key in (("n_features_in_", "n_features"), ("feature_names_in_", "feature_names"),
                              ("classes_", "classes")):
                try:
                    sig[key] = getattr(obj, attr)
                except Exception:  # noqa: BLE001
                    continue
        try:
            info["num_boosted_rounds"] = int(booster.num_boosted_rounds())
        except Exception:  # noqa: BLE001
            pass
        try:
            sig.setdefault("n_features", int(booster.num_features()))
        except Exception:  # noqa: BLE001
            pass
        if booster.feature_names:
            sig.setdefault("feature_names", list(booster.feature_names))
        info["signature"] = sig
        return info
