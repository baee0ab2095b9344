"""XGBoost: Booster and sklearn wrappers through save_model (UBJSON), restored to the same class."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import file_bytes, predict_in_fresh_process, toml_roundtrip

xgboost = require_module("xgboost")


@pytest.fixture(scope="module")
def classifier(tiny_xy):
    pd = require_module("pandas", "pip install pandas")
    X, y = tiny_xy
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    return xgboost.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1, random_state=0).fit(df, y)


def test_classifier_reloads_in_fresh_process_as_the_same_class(tmp_path, classifier, tiny_xy):
    import pandas as pd

    X, _ = tiny_xy
    result = save_to_dir(classifier, tmp_path / "m")
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert find_serializer(classifier).name == "xgboost"
    assert model["framework"] == "xgboost"
    assert model["class"] == "xgboost.XGBClassifier"
    assert model["format"] == "ubj"
    assert model["num_boosted_rounds"] == 4
    assert model["signature"] == {"n_features": 3, "feature_names": ["a", "b", "c"], "classes": [0, 1]}
    assert tables["params"]["n_estimators"] == 4 and tables["params"]["max_depth"] == 2
    assert tables["dependencies"]["xgboost"] == xgboost.__version__
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.ubj"]

    expected = classifier.predict_proba(pd.DataFrame(X, columns=["a", "b", "c"]))
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", model, X, "predict_proba",
                                        columns=["a", "b", "c"], kwargs={"allow_pickle": False})
    assert cls == "xgboost.sklearn.XGBClassifier"
    assert np.array_equal(got, expected)


def test_booster_reloads_in_fresh_process(tmp_path, tiny_xy):
    X, y = tiny_xy
    booster = xgboost.train({"max_depth": 2, "nthread": 1}, xgboost.DMatrix(X, label=y), num_boost_round=3)
    result = save_to_dir(booster, tmp_path / "m", format="json")
    assert result["model"]["class"] == "xgboost.Booster"
    assert result["model"]["format"] == "json"
    assert result["model"]["signature"] == {"n_features": 3}
    assert os.path.exists(tmp_path / "m" / "model.json")
    expected = booster.predict(xgboost.DMatrix(X))
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", None, X, "booster")
    assert cls == "xgboost.core.Booster"
    assert np.array_equal(got, expected)


def test_ranker_and_regressor_keep_their_class(tmp_path, tiny_xy):
    X, y = tiny_xy
    ranker = xgboost.XGBRanker(n_estimators=2, n_jobs=1).fit(X, y, qid=np.repeat([0, 1, 2], 10))
    reg = xgboost.XGBRegressor(n_estimators=2, n_jobs=1).fit(X, y.astype("float32"))
    for name, model in (("ranker", ranker), ("reg", reg)):
        save_to_dir(model, tmp_path / name)
        loaded = load_from_dir(tmp_path / name)
        assert type(loaded) is type(model)
        assert np.array_equal(loaded.predict(X), model.predict(X))


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, classifier):
    save_to_dir(classifier, tmp_path / "a")
    save_to_dir(classifier, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_a_pipeline_holding_xgboost_goes_to_sklearn(tiny_xy):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), xgboost.XGBClassifier(n_estimators=2))
    assert find_serializer(pipe).name == "sklearn"
    # and the wrapper itself can still be forced through joblib
    assert find_serializer(xgboost.XGBClassifier(), "sklearn").name == "sklearn"


class MyClassifier(xgboost.XGBClassifier):
    """A user subclass: it is restored as the nearest XGBoost class, user code is never imported."""


def test_a_user_subclass_is_restored_as_its_xgboost_base(tmp_path, tiny_xy):
    X, y = tiny_xy
    model = MyClassifier(n_estimators=2, n_jobs=1).fit(X, y)
    result = save_to_dir(model, tmp_path / "m")
    assert result["model"]["class"] == f"{__name__}.MyClassifier"
    assert result["model"]["loads_as"] == "xgboost.XGBClassifier"
    loaded = load_from_dir(tmp_path / "m", result["model"])
    assert type(loaded) is xgboost.XGBClassifier
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_class_outside_xgboost_is_never_imported(tmp_path, classifier):
    from gitmodels.errors import SerializerError

    result = save_to_dir(classifier, tmp_path / "m")
    meta = dict(result["model"], **{"class": "os.system"})
    with pytest.raises(SerializerError, match="refusing to restore class 'os.system'"):
        load_from_dir(tmp_path / "m", meta)
