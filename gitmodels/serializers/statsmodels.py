"""statsmodels: fitted results objects (`sm.OLS(y, X).fit()`, GLM, Logit, ARIMA, ...).

statsmodels has one way to save a results object: its own `save`, which
pickles it (`results.pickle`), data included, so that `predict`, `summary`
and the tests keep working. Loading a pickle runs code from the file, so the
format is declared unsafe (`pickle_formats`): `gitmodels.load` reads a
teammate's file only through the trust policy (gitmodels/trust.py), and
`load_from_dir(..., allow_pickle=False)` refuses it. There is no safe
alternative to fall back on: the formulas and fitted parameters alone do not
rebuild a results object.
"""

from __future__ import annotations

import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, output_file, scalar_params

FILES = {"pickle": "results.pickle"}
PICKLE_PROTOCOL = 4


class StatsmodelsSerializer(Serializer):
    name = "statsmodels"
    formats = ("pickle",)
    extra = "gitmodels[statsmodels]"
    modules = ("statsmodels",)
    base_classes = ("statsmodels.base.wrapper.ResultsWrapper", "statsmodels.base.model.Results")
    requires = ("statsmodels", "numpy", "scipy", "pandas", "patsy")
    pickle_formats = ("pickle",)

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        import pickle

        self.import_module("statsmodels")
        with output_file(os.path.join(directory, FILES[format])) as f:
            # what results.save() writes, at a fixed protocol so that a newer Python gives the same bytes
            pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)
        return {"format": format}

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for a statsmodels model: {', '.join(sorted(kwargs))}")
        self.import_module("statsmodels")
        smpickle = self.import_module("statsmodels.iolib.smpickle")
        return smpickle.load_pickle(os.path.join(directory, FILES[model_meta.get("format", "pickle")]))

    def uses_pickle(self, model_meta: dict[str, Any], **kwargs: Any) -> bool:
        return True  # its only format

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        model = getattr(obj, "model", None)
        params: dict[str, Any] = {}
        sig: dict[str, Any] = {}
        if model is not None:
            info["model_class"] = class_path(type(model))
            formula = getattr(model, "formula", None)
            if isinstance(formula, str):
                info["formula"] = formula
            try:
                params.update(model._get_init_kwds())
            except Exception:  # noqa: BLE001 - a model without init keywords
                pass
            exog = getattr(model, "exog_names", None)
            if isinstance(exog, list):
                sig["n_features"] = len(exog)
                sig["feature_names"] = exog
            endog = getattr(model, "endog_names", None)
            if isinstance(endog, str):
                sig["target"] = endog
        for attr in ("cov_type", "method"):
            value = getattr(obj, attr, None)
            if isinstance(value, str):
                params[attr] = value
        try:
            nobs = float(obj.nobs)
            info["nobs"] = int(nobs) if nobs.is_integer() else nobs
        except Exception:  # noqa: BLE001
            pass
        info["params"] = scalar_params(params)
        info["signature"] = sig
        return info
