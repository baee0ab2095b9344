"""CatBoost: CatBoostClassifier, CatBoostRegressor, CatBoostRanker and CatBoost.

Saved with CatBoost's own binary format (`model.cbm`, `save_model(format="cbm")`),
no pickle, and restored to the same class, imported only from the `catboost`
package itself. Re-saving the same fitted model gives the same bytes (a retrained
model does not: CatBoost stamps each training run).
"""

from __future__ import annotations

import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, resolve_class, scalar_params

FILES = {"cbm": "model.cbm"}


class CatBoostSerializer(Serializer):
    name = "catboost"
    formats = ("cbm",)
    extra = "gitmodels[catboost]"
    modules = ("catboost",)
    base_classes = ("catboost.core.CatBoost",)
    requires = ("catboost", "numpy", "pandas", "scipy")

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        obj.save_model(os.path.join(directory, FILES[format]), format=format)
        return {"format": format, **self.loads_as(obj)}

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for a CatBoost model: {', '.join(sorted(kwargs))}")
        catboost = self.import_module("catboost")
        fmt = model_meta.get("format", "cbm")
        cls = resolve_class(model_meta.get("loads_as") or model_meta.get("class") or "catboost.CatBoost",
                            self.modules, self)
        if not issubclass(cls, catboost.CatBoost):
            raise SerializerError(f"{class_path(cls)} is not a CatBoost model class")
        model = cls()
        model.load_model(os.path.join(directory, FILES[fmt]), format=fmt)
        return model

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        info["params"] = scalar_params(obj.get_params())
        sig: dict[str, Any] = {}
        names = list(getattr(obj, "feature_names_", None) or [])
        if names:
            sig["n_features"] = len(names)
            if names != [str(i) for i in range(len(names))]:  # CatBoost's own "0", "1", ... say nothing
                sig["feature_names"] = names
        try:
            cat = list(obj.get_cat_feature_indices())
            if cat:
                sig["cat_features"] = [int(i) for i in cat]
        except Exception:  # noqa: BLE001
            pass
        classes = getattr(obj, "classes_", None)
        if classes is not None and len(classes):
            sig["classes"] = classes
        try:
            info["tree_count"] = int(obj.tree_count_)
        except Exception:  # noqa: BLE001
            pass
        info["signature"] = sig
        return info
