"""CatBoost: the native .cbm format, restored to the same class."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import file_bytes, predict_in_fresh_process, toml_roundtrip

catboost = require_module("catboost")
FAST = dict(iterations=5, depth=2, verbose=False, allow_writing_files=False, thread_count=1, random_seed=0)


@pytest.fixture(scope="module")
def classifier(tiny_xy):
    X, y = tiny_xy
    return catboost.CatBoostClassifier(**FAST).fit(X, y)


def test_classifier_reloads_in_fresh_process_as_the_same_class(tmp_path, classifier, tiny_xy):
    X, _ = tiny_xy
    result = save_to_dir(classifier, tmp_path / "m")
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert model["framework"] == "catboost"
    assert model["class"] == "catboost.CatBoostClassifier"
    assert model["format"] == "cbm"
    assert model["tree_count"] == 5
    # fitted on a plain array: CatBoost's own "0", "1", "2" names are not recorded
    assert model["signature"] == {"n_features": 3, "classes": [0, 1]}
    assert tables["params"]["iterations"] == 5
    assert tables["dependencies"]["catboost"] == catboost.__version__
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.cbm"]

    expected = classifier.predict_proba(X)
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", model, X, "predict_proba",
                                        kwargs={"allow_pickle": False})
    assert cls == "catboost.core.CatBoostClassifier"
    assert np.array_equal(got, expected)


def test_regressor_with_feature_names_keeps_class_and_names(tmp_path, tiny_xy):
    pd = require_module("pandas", "pip install pandas")
    X, y = tiny_xy
    df = pd.DataFrame(X, columns=["age", "tenure", "spend"])
    reg = catboost.CatBoostRegressor(**FAST).fit(df, y.astype("float64"))
    assert find_serializer(reg).name == "catboost"
    result = save_to_dir(reg, tmp_path / "m")
    assert result["model"]["class"] == "catboost.CatBoostRegressor"
    assert result["model"]["signature"] == {"n_features": 3, "feature_names": ["age", "tenure", "spend"]}
    loaded = load_from_dir(tmp_path / "m", result["model"])
    assert type(loaded) is catboost.CatBoostRegressor
    assert np.array_equal(loaded.predict(df), reg.predict(df))


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, classifier):
    save_to_dir(classifier, tmp_path / "a")
    save_to_dir(classifier, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
