"""statsmodels: results objects, saved by pickle (its only format), so loaded from a teammate only
through the trust policy; real git clones, a real OLS and GLM fitted in the test."""

from __future__ import annotations

import importlib.metadata
import os

import numpy as np
import pytest

import gitmodels
from gitmodels.errors import SerializerError, UntrustedModel
from gitmodels.serializers import find_serializer, load_from_dir, runs_code, save_to_dir
from tests.gitutil import commit_all, git
from tests.gitutil import gitmodels as gm
from tests.requires import require_module

from .helpers import predict_in_fresh_process, toml_roundtrip

sm = require_module("statsmodels.api", "pip install statsmodels")
pd = require_module("pandas", "pip install pandas")
MALLORY = {"GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": "mallory@example.com"}


def _data(tiny_xy):
    X, y = tiny_xy
    df = pd.DataFrame(X.astype("float64"), columns=["age", "tenure", "spend"])
    df["target"] = X[:, 0] * 2.0 - X[:, 2] + 0.1 * np.sin(np.arange(len(X)))
    df["churn"] = y
    return df


@pytest.fixture(scope="module")
def ols(tiny_xy):
    df = _data(tiny_xy)
    return sm.OLS(df["target"], sm.add_constant(df[["age", "tenure", "spend"]])).fit(), df


def test_ols_results_round_trip_in_a_fresh_process(tmp_path, ols, tiny_xy):
    results, df = ols
    assert find_serializer(results).name == "statsmodels"
    tables = toml_roundtrip(save_to_dir(results, tmp_path / "m"))
    meta = tables["model"]
    assert meta["framework"] == "statsmodels"
    assert meta["class"].endswith("RegressionResultsWrapper")
    assert meta["model_class"].endswith(".OLS")
    assert meta["format"] == "pickle" and meta["nobs"] == 30
    assert meta["signature"] == {"n_features": 4, "feature_names": ["const", "age", "tenure", "spend"],
                                 "target": "target"}
    assert tables["dependencies"]["statsmodels"] == importlib.metadata.version("statsmodels")
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "results.pickle"]
    assert runs_code(meta)

    exog = sm.add_constant(df[["age", "tenure", "spend"]]).to_numpy()
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", meta, exog, "predict")
    assert cls.endswith("RegressionResultsWrapper")
    assert np.array_equal(got, results.predict(exog))
    with pytest.raises(SerializerError, match="would unpickle"):
        load_from_dir(tmp_path / "m", allow_pickle=False)


def test_a_formula_glm_keeps_its_formula(tmp_path, tiny_xy):
    smf = require_module("statsmodels.formula.api", "pip install statsmodels")
    df = _data(tiny_xy)
    results = smf.glm("churn ~ age + spend", data=df, family=sm.families.Binomial()).fit()
    result = save_to_dir(results, tmp_path / "a")
    assert result["model"]["formula"] == "churn ~ age + spend"
    assert result["model"]["model_class"].endswith(".GLM")
    assert result["model"]["signature"]["feature_names"] == ["Intercept", "age", "spend"]
    loaded = load_from_dir(tmp_path / "a")
    assert np.array_equal(loaded.predict(df), results.predict(df))
    assert np.array_equal(loaded.params.to_numpy(), results.params.to_numpy())


def test_a_teammates_results_are_refused_until_trusted(world, tmp_path, tiny_xy, monkeypatch):
    """The pickle is the point: statsmodels has no other format, so the trust decision is the only gate."""
    owner = world.first_clone("owner")
    mallory = world.clone("mallory")
    monkeypatch.chdir(mallory)
    df = _data(tiny_xy)
    exog = sm.add_constant(df[["age", "tenure", "spend"]])
    results = sm.OLS(df["target"], exog).fit()
    gitmodels.save(results, "models/ols")
    commit_all(mallory, "ols", extra_env=MALLORY)
    git(mallory, "push", "-q", "origin", "main")
    gm(mallory, "push")
    # saved in her clone: she loads it without a question
    assert np.array_equal(gitmodels.load("models/ols").predict(exog), results.predict(exog))

    git(owner, "pull", "-q", "origin", "main")
    monkeypatch.chdir(owner)
    with pytest.raises(UntrustedModel) as err:
        gitmodels.load("models/ols")
    assert "statsmodels model (format pickle)" in str(err.value)
    assert "Mallory <mallory@example.com>" in str(err.value)
    assert "statsmodels saves only by pickle" in err.value.hint
    assert "gitmodels trust add mallory@example.com" in err.value.hint

    assert np.array_equal(gitmodels.load("models/ols", trust=True).predict(exog), results.predict(exog))
    gm(owner, "trust", "add", "mallory@example.com")
    assert np.array_equal(gitmodels.load("models/ols").predict(exog), results.predict(exog))
