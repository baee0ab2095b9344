"""scikit-learn: skops by default (where installed), joblib on request or as a fallback, and a safe
trusted-types policy for skops."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gitmodels.errors import FrameworkMissing, SerializerError
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from gitmodels.serializers.sklearn import is_trusted_type
from tests.requires import require_module

from .helpers import (
    file_bytes,
    missing_framework_code,
    predict_in_fresh_process,
    run_python,
    toml_roundtrip,
)


@pytest.fixture(scope="module")
def pipeline(tiny_xy):
    pd = require_module("pandas", "pip install pandas")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = tiny_xy
    df = pd.DataFrame(X, columns=["age", "tenure", "spend"])
    return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=4, random_state=0)).fit(df, y)


def test_joblib_pipeline_reloads_in_fresh_process_with_identical_predictions(tmp_path, pipeline, tiny_xy):
    X, _ = tiny_xy
    result = save_to_dir(pipeline, tmp_path / "model", format="joblib")
    assert "fallback" not in result  # asked for: no reason to give
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert model["framework"] == "sklearn"
    assert model["class"] == "sklearn.pipeline.Pipeline"
    assert model["format"] == "joblib"
    assert model["signature"] == {"n_features": 3, "feature_names": ["age", "tenure", "spend"], "classes": [0, 1]}
    assert model["steps"] == ["standardscaler=sklearn.preprocessing.StandardScaler",
                              "randomforestclassifier=sklearn.ensemble.RandomForestClassifier"]
    assert tables["params"]["randomforestclassifier__n_estimators"] == 4
    import sklearn

    assert tables["dependencies"]["scikit-learn"] == sklearn.__version__
    assert sorted(os.listdir(tmp_path / "model")) == ["gitmodels-model.json", "model.joblib"]

    expected = pipeline.predict_proba(_frame(X))
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "model", model, X, "predict_proba",
                                        columns=["age", "tenure", "spend"])
    assert cls == "sklearn.pipeline.Pipeline"
    assert np.array_equal(got, expected)


def test_skops_format_reloads_in_fresh_process_without_unpickling(tmp_path, pipeline, tiny_xy):
    require_module("skops")
    X, _ = tiny_xy
    result = save_to_dir(pipeline, tmp_path / "model", format="skops")
    assert result["model"]["format"] == "skops"
    assert "skops" in result["dependencies"]
    assert sorted(os.listdir(tmp_path / "model")) == ["gitmodels-model.json", "model.skops"]
    # the random forest's trees are a type skops reports as unknown; the policy trusts sklearn's own
    expected = pipeline.predict_proba(_frame(X))
    got, _ = predict_in_fresh_process(tmp_path, tmp_path / "model", None, X, "predict_proba",
                                      columns=["age", "tenure", "spend"], kwargs={"allow_pickle": False})
    assert np.array_equal(got, expected)


def test_default_format_is_skops_and_loads_without_unpickling(tmp_path, pipeline, tiny_xy):
    X, _ = tiny_xy
    result = save_to_dir(pipeline, tmp_path / "model")
    assert result["model"]["format"] == "skops"
    assert "fallback" not in result
    assert "skops" in result["dependencies"]
    assert sorted(os.listdir(tmp_path / "model")) == ["gitmodels-model.json", "model.skops"]
    loaded = load_from_dir(tmp_path / "model", allow_pickle=False)
    assert np.array_equal(loaded.predict_proba(_frame(X)), pipeline.predict_proba(_frame(X)))


def test_default_falls_back_to_joblib_when_skops_would_need_untrusted_types(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    result = save_to_dir(FunctionTransformer(os.system), tmp_path / "model")
    assert result["model"]["format"] == "joblib"
    assert "outside scikit-learn/NumPy/SciPy" in result["fallback"] and "system" in result["fallback"]
    assert sorted(os.listdir(tmp_path / "model")) == ["gitmodels-model.json", "model.joblib"]
    assert load_from_dir(tmp_path / "model").func is os.system


def test_default_is_joblib_without_skops(tmp_path, tiny_xy, monkeypatch):
    import sys

    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    monkeypatch.setitem(sys.modules, "skops", None)
    result = save_to_dir(LogisticRegression().fit(X, y), tmp_path / "m")
    assert result["model"]["format"] == "joblib"
    assert "skops is not installed" in result["fallback"]


def test_skops_refuses_types_outside_the_policy(tmp_path):
    require_module("skops")
    from sklearn.preprocessing import FunctionTransformer

    save_to_dir(FunctionTransformer(os.system), tmp_path / "model", format="skops")
    with pytest.raises(SerializerError) as err:
        load_from_dir(tmp_path / "model")
    assert "system" in str(err.value)
    assert "trusted=" in err.value.hint
    # an explicit, exact opt-in is honoured
    name = f"{os.system.__module__}.system"
    loaded = load_from_dir(tmp_path / "model", trusted=[name])
    assert loaded.func is os.system


@pytest.mark.parametrize("name, trusted", [
    ("sklearn.tree._tree.Tree", True),
    ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
    ("numpy.float64", True),
    ("scipy.sparse._csr.csr_matrix", True),
    ("posix.system", False),
    ("builtins.eval", False),
    ("sklearn_evil.Tree", False),
    ("numpy.load", False),
    ("numpy.lib._npyio_impl.loadtxt", False),
    ("numpy.memmap", False),
    ("numpy.fromfile", False),
    ("scipy.io.loadmat", False),
    ("sklearn.datasets.fetch_openml", False),
    ("nodots", False),
])
def test_trusted_type_policy(name, trusted):
    assert is_trusted_type(name) is trusted


def test_describe_plain_estimator(tiny_xy):
    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    clf = LogisticRegression(C=0.5).fit(X, y)
    info = find_serializer(clf).describe(clf)
    assert info["class"] == "sklearn.linear_model.LogisticRegression"
    assert info["params"]["C"] == 0.5
    assert info["signature"]["n_features"] == 3
    assert "feature_names" not in info["signature"]  # fitted on a plain array: sklearn has none


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, pipeline):
    save_to_dir(pipeline, tmp_path / "a", format="joblib")
    save_to_dir(pipeline, tmp_path / "b", format="joblib")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_allow_pickle_false_refuses_joblib(tmp_path, tiny_xy):
    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    save_to_dir(LogisticRegression().fit(X, y), tmp_path / "m", format="joblib")
    with pytest.raises(SerializerError, match="unpickle"):
        load_from_dir(tmp_path / "m", allow_pickle=False)


def test_sklearn_missing_at_load_names_the_extra(tmp_path, tiny_xy):
    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    save_to_dir(LogisticRegression().fit(X, y), tmp_path / "m")
    out = json.loads(run_python(missing_framework_code(["sklearn"]), str(tmp_path / "m")).stdout)
    assert out["error"] == "FrameworkMissing"
    assert "pip install 'gitmodels[sklearn]'" in out["message"]
    assert out["hint"] == "pip install 'gitmodels[sklearn]'"


def test_skops_missing_at_save_names_its_extra(tmp_path, tiny_xy, monkeypatch):
    import sys

    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(FrameworkMissing) as err:
        save_to_dir(LogisticRegression().fit(X, y), tmp_path / "m", format="skops")
    assert err.value.hint == "pip install 'gitmodels[skops]'"
    assert not (tmp_path / "m").exists()


def _frame(X):
    import pandas as pd

    return pd.DataFrame(X, columns=["age", "tenure", "spend"])
