"""LightGBM: Booster and sklearn wrappers through save_model text, the wrappers rebuilt without pickle."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gitmodels.errors import SerializerError
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import file_bytes, predict_in_fresh_process, toml_roundtrip

lightgbm = require_module("lightgbm")
FAST = dict(n_estimators=5, num_leaves=4, min_child_samples=2, n_jobs=1, random_state=0, verbose=-1)


@pytest.fixture(scope="module")
def classifier(tiny_xy):
    pd = require_module("pandas", "pip install pandas")
    X, y = tiny_xy
    labels = np.array(["no", "yes"])[y]
    return lightgbm.LGBMClassifier(**FAST).fit(pd.DataFrame(X, columns=["a", "b", "c"]), labels)


def test_classifier_reloads_in_fresh_process_as_the_same_class(tmp_path, classifier, tiny_xy):
    import pandas as pd

    X, _ = tiny_xy
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    result = save_to_dir(classifier, tmp_path / "m")
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert find_serializer(classifier).name == "lightgbm"
    assert model["framework"] == "lightgbm"
    assert model["class"] == "lightgbm.LGBMClassifier"
    assert model["format"] == "txt"
    assert model["num_iterations"] == 5 and model["num_trees"] == 5
    assert model["signature"] == {"n_features": 3, "feature_names": ["a", "b", "c"], "classes": ["no", "yes"]}
    assert tables["params"]["n_estimators"] == 5 and tables["params"]["num_leaves"] == 4
    assert "n_jobs" not in tables["params"]
    assert tables["dependencies"]["lightgbm"] == lightgbm.__version__
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.txt", "wrapper.json"]
    assert not any(b"pickle" in data for data in file_bytes(tmp_path / "m").values())

    expected = classifier.predict_proba(df)
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", model, X, "predict_proba",
                                        columns=["a", "b", "c"], kwargs={"allow_pickle": False})
    assert cls == "lightgbm.sklearn.LGBMClassifier"
    assert np.array_equal(got, expected)
    loaded = load_from_dir(tmp_path / "m", allow_pickle=False)
    assert list(loaded.predict(df)) == list(classifier.predict(df))
    assert loaded.classes_.dtype == classifier.classes_.dtype
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]
    assert loaded.get_params() == classifier.get_params()


def test_booster_keeps_its_best_iteration(tmp_path, tiny_xy):
    X, y = tiny_xy
    train = lightgbm.Dataset(X[:20], label=y[:20], params={"verbose": -1})
    valid = lightgbm.Dataset(X[20:], label=y[20:], reference=train)
    booster = lightgbm.train({"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 2, "verbose": -1,
                              "num_threads": 1, "learning_rate": 0.5},
                             train, num_boost_round=30, valid_sets=[valid], keep_training_booster=True,
                             callbacks=[lightgbm.early_stopping(2, verbose=False)])
    assert 0 < booster.best_iteration < booster.current_iteration()
    result = save_to_dir(booster, tmp_path / "m")
    assert result["model"]["class"] == "lightgbm.Booster"
    assert result["model"]["best_iteration"] == booster.best_iteration
    assert result["model"]["num_iterations"] == booster.current_iteration()
    assert result["model"]["signature"] == {"n_features": 3}  # LightGBM's Column_0.. names say nothing
    assert result["params"]["objective"] == "binary" and "verbose" not in result["params"]
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", None, X, "predict")
    assert cls == "lightgbm.basic.Booster"
    assert np.array_equal(got, booster.predict(X))
    # every iteration is in the file, not just the best one
    loaded = load_from_dir(tmp_path / "m")
    full = booster.current_iteration()
    assert np.array_equal(loaded.predict(X, num_iteration=full), booster.predict(X, num_iteration=full))


def test_regressor_and_ranker_keep_their_class(tmp_path, tiny_xy):
    X, y = tiny_xy
    reg = lightgbm.LGBMRegressor(**FAST).fit(X, y.astype("float64"))
    ranker = lightgbm.LGBMRanker(**FAST).fit(X, y, group=[10, 10, 10])
    for name, model in (("reg", reg), ("ranker", ranker)):
        save_to_dir(model, tmp_path / name)
        loaded = load_from_dir(tmp_path / name)
        assert type(loaded) is type(model)
        assert np.array_equal(loaded.predict(X), model.predict(X))
        assert loaded.objective_ == model.objective_


def test_integer_classes_and_a_class_weight_dict_round_trip(tmp_path, tiny_xy):
    X, y = tiny_xy
    labels = y + 3
    clf = lightgbm.LGBMClassifier(class_weight={3: 1.0, 4: 2.0}, **FAST).fit(X, labels)
    save_to_dir(clf, tmp_path / "m")
    loaded = load_from_dir(tmp_path / "m")
    assert loaded.class_weight == {3: 1.0, 4: 2.0}
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert np.array_equal(loaded.predict(X), clf.predict(X))


def test_a_callable_param_is_refused_rather_than_pickled(tmp_path, tiny_xy):
    X, y = tiny_xy

    def objective(y_true, y_pred):
        grad = y_pred - y_true
        return grad, np.ones_like(grad)

    reg = lightgbm.LGBMRegressor(objective=objective, **FAST).fit(X, y.astype("float64"))
    with pytest.raises(SerializerError, match="'objective'.*only pickle") as err:
        save_to_dir(reg, tmp_path / "m")
    assert "booster_" in err.value.hint
    assert not (tmp_path / "m").exists()
    save_to_dir(reg.booster_, tmp_path / "b")
    assert np.array_equal(load_from_dir(tmp_path / "b").predict(X), reg.booster_.predict(X))


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, classifier):
    save_to_dir(classifier, tmp_path / "a")
    save_to_dir(classifier, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    state = json.loads((tmp_path / "a" / "wrapper.json").read_text())
    assert state["classes"] == ["no", "yes"] and state["fitted_with_feature_names"] is True


def test_a_class_outside_lightgbm_is_never_imported(tmp_path, classifier):
    result = save_to_dir(classifier, tmp_path / "m")
    meta = dict(result["model"], **{"class": "os.system"})
    with pytest.raises(SerializerError, match="refusing to restore class 'os.system'"):
        load_from_dir(tmp_path / "m", meta)
