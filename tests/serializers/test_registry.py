"""The registry: selection by type, errors, entry-point plugins, lazy imports, save/load of a directory."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from gitmodels import serializers
from gitmodels.errors import FrameworkMissing, SerializerError
from gitmodels.serializers import (
    DESCRIPTOR,
    Serializer,
    available,
    find_serializer,
    get_serializer,
    load_from_dir,
    read_descriptor,
    register,
    save_to_dir,
)
from gitmodels.serializers.base import class_path
from tests.requires import require_module

from .helpers import HEAVY, REPO, missing_framework_code, run_python

# --------------------------------------------------------------------------- a third-party serializer


class Widget:
    """A model type that no built-in serializer handles."""

    def __init__(self, value: int):
        self.value = value


class WidgetSerializer(Serializer):
    name = "widget"
    formats = ("txt",)
    modules = (__name__,)
    base_classes = (f"{__name__}.Widget",)

    def save(self, obj, directory, format):
        Path(directory, "value.txt").write_text(str(obj.value))
        return {"format": format}

    def load(self, directory, model_meta, **kwargs):
        return Widget(int(Path(directory, "value.txt").read_text()))

    def describe(self, obj):
        return {"class": class_path(type(obj)), "params": {"value": obj.value}, "signature": {}}


class FakeEntryPoint:
    def __init__(self, name, target):
        self.name = name
        self.value = f"fake_plugin:{name}"
        self._target = target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def plugins(monkeypatch):
    """Replace the entry-point lookup; returns the list to fill and a call counter."""
    state = {"eps": [], "calls": 0}

    def fake():
        state["calls"] += 1
        return list(state["eps"])

    monkeypatch.setattr(serializers, "entry_points", fake)
    return state


# --------------------------------------------------------------------------- selection


def _objects():
    """name -> (factory, expected serializer); factories import lazily so missing frameworks skip."""

    def sk():
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression()

    def sk_subclass():
        from sklearn.linear_model import LogisticRegression

        class MyLogit(LogisticRegression):
            pass
        return MyLogit()

    def xgb(cls):
        def make():
            xgboost = require_module("xgboost")
            return getattr(xgboost, cls)()
        return make

    def cat():
        catboost = require_module("catboost")
        return catboost.CatBoostRegressor()

    def ker():
        keras = require_module("keras")
        return keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])

    def tor():
        require_module("torch")
        from .torch_nets import TinyNet
        return TinyNet()

    def lgbm():
        lightgbm = require_module("lightgbm")
        return lightgbm.LGBMClassifier()

    def onnx_model():
        onnx = require_module("onnx")
        return onnx.ModelProto()

    def bert():
        transformers = require_module("transformers")
        config = transformers.BertConfig(vocab_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                         intermediate_size=8)
        return transformers.BertModel(config)

    def ols():
        sm = require_module("statsmodels.api", "pip install statsmodels")
        import numpy as np
        return sm.OLS(np.arange(6.0), np.ones((6, 1))).fit()

    return {
        "LGBMClassifier (also an sklearn estimator)": (lgbm, "lightgbm"),
        "onnx ModelProto": (onnx_model, "onnx"),
        "transformers BertModel (also a torch Module)": (bert, "transformers"),
        "statsmodels results": (ols, "statsmodels"),
        "sklearn estimator": (sk, "sklearn"),
        "user subclass of an sklearn estimator": (sk_subclass, "sklearn"),
        "XGBClassifier (also an sklearn estimator)": (xgb("XGBClassifier"), "xgboost"),
        "XGBRegressor": (xgb("XGBRegressor"), "xgboost"),
        "XGBRanker": (xgb("XGBRanker"), "xgboost"),
        "xgboost Booster": (xgb("Booster"), "xgboost"),
        "CatBoostRegressor": (cat, "catboost"),
        "keras Sequential (a torch Module under the torch backend)": (ker, "keras"),
        "torch custom module": (tor, "torch"),
    }


@pytest.mark.parametrize("case", list(_objects()))
def test_the_most_specific_serializer_is_picked(case):
    factory, expected = _objects()[case]
    assert find_serializer(factory()).name == expected


@pytest.mark.parametrize("obj", [object(), "models/churn.pkl", {"weights": [1, 2]}, Widget(1)],
                         ids=["object", "str", "dict", "widget-without-plugin"])
def test_an_unknown_object_is_a_clear_serializer_error(obj, plugins):
    with pytest.raises(SerializerError) as err:
        find_serializer(obj)
    assert class_path(type(obj)) in str(err.value)
    assert "gitmodels add" in err.value.hint
    assert err.value.exit_code == 8


def test_an_unknown_object_is_refused_by_save_to_dir(tmp_path, plugins):
    with pytest.raises(SerializerError):
        save_to_dir(object(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_explicit_serializer_must_handle_the_object():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(SerializerError, match="torch serializer cannot save"):
        find_serializer(LogisticRegression(), "torch")


def test_unknown_serializer_name_and_format(tmp_path, plugins):
    with pytest.raises(SerializerError, match="no serializer named 'mxnet'"):
        get_serializer("mxnet")
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(SerializerError, match="no format 'pmml'") as err:
        save_to_dir(LogisticRegression(), tmp_path / "m", format="pmml")
    assert "joblib" in err.value.hint


# --------------------------------------------------------------------------- save_to_dir / load_from_dir


@pytest.fixture
def fitted(tiny_xy):
    from sklearn.linear_model import LogisticRegression

    X, y = tiny_xy
    return LogisticRegression().fit(X, y)


def test_target_must_be_new_or_empty(tmp_path, fitted):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.bin").write_bytes(b"x")
    with pytest.raises(SerializerError, match="not empty"):
        save_to_dir(fitted, tmp_path / "full")
    assert os.listdir(tmp_path / "full") == ["old.bin"]
    (tmp_path / "afile").write_bytes(b"x")
    with pytest.raises(SerializerError, match="not a directory"):
        save_to_dir(fitted, tmp_path / "afile")
    (tmp_path / "empty").mkdir()
    save_to_dir(fitted, tmp_path / "empty")
    assert sorted(os.listdir(tmp_path / "empty")) == [DESCRIPTOR, "model.skops"]
    save_to_dir(fitted, tmp_path / "new" / "nested")
    assert (tmp_path / "new" / "nested" / "model.skops").exists()


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    xgboost = require_module("xgboost")
    with pytest.raises(SerializerError, match="could not save"):
        save_to_dir(xgboost.XGBClassifier(), tmp_path / "m")  # not fitted
    assert os.listdir(tmp_path) == []


def test_descriptor_is_deterministic_and_makes_the_directory_self_describing(tmp_path, fitted, tiny_xy):
    X, _ = tiny_xy
    first = save_to_dir(fitted, tmp_path / "a")
    save_to_dir(fitted, tmp_path / "b")
    a = (tmp_path / "a" / DESCRIPTOR).read_bytes()
    assert a == (tmp_path / "b" / DESCRIPTOR).read_bytes()
    doc = json.loads(a)
    assert doc == {"class": "sklearn.linear_model.LogisticRegression", "files": ["model.skops"],
                   "format": "skops", "framework": "sklearn", "gitmodels_descriptor": 1}
    assert read_descriptor(tmp_path / "a") == doc
    assert "saved_at" in first["model"] and "saved_at" not in doc
    assert list(first["model"])[:4] == ["framework", "class", "format", "saved_at"]
    assert set(first) == {"model", "runtime", "dependencies", "params"}
    loaded = load_from_dir(tmp_path / "a")  # no pointer metadata: the descriptor is enough
    assert (loaded.predict(X) == fitted.predict(X)).all()


def test_returned_tables_are_toml_friendly(tmp_path, fitted):
    result = save_to_dir(fitted, tmp_path / "m")

    def check(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, str), where
                check(v, f"{where}.{k}")
        elif isinstance(value, list):
            for v in value:
                check(v, where)
        else:
            assert type(value) in (str, int, float, bool), f"{where}: {type(value)}"

    check(result, "result")


def test_load_from_dir_errors(tmp_path, plugins):
    with pytest.raises(SerializerError, match="not a directory"):
        load_from_dir(tmp_path / "nope")
    (tmp_path / "bare").mkdir()
    with pytest.raises(SerializerError, match=f"no {DESCRIPTOR}"):
        load_from_dir(tmp_path / "bare")
    with pytest.raises(SerializerError, match="no serializer named 'mxnet'"):
        load_from_dir(tmp_path / "bare", {"framework": "mxnet", "format": "params"})
    with pytest.raises(SerializerError, match="format 'pickle' is unknown"):
        load_from_dir(tmp_path / "bare", {"framework": "sklearn", "format": "pickle"})
    (tmp_path / "bare" / DESCRIPTOR).write_text(json.dumps({"framework": "sklearn", "gitmodels_descriptor": 99}))
    with pytest.raises(SerializerError, match="newer"):
        load_from_dir(tmp_path / "bare")
    (tmp_path / "bare" / DESCRIPTOR).write_text("{not json")
    with pytest.raises(SerializerError, match="unreadable"):
        load_from_dir(tmp_path / "bare")


def test_a_load_failure_is_a_serializer_error(tmp_path, fitted):
    save_to_dir(fitted, tmp_path / "m", format="joblib")
    (tmp_path / "m" / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(SerializerError, match="could not load"):
        load_from_dir(tmp_path / "m")
    with pytest.raises(SerializerError, match="unexpected arguments"):
        save_to_dir(fitted, tmp_path / "n")
        load_from_dir(tmp_path / "n", into=object())


# --------------------------------------------------------------------------- missing frameworks


FAKE_SAVES = {
    "sklearn": ("joblib", "sklearn.linear_model.LogisticRegression", ["sklearn"]),
    "xgboost": ("ubj", "xgboost.XGBClassifier", ["xgboost"]),
    "torch": ("pt", "torch.nn.Sequential", ["torch"]),
    "keras": ("keras", "keras.Sequential", ["keras"]),
    "catboost": ("cbm", "catboost.CatBoostClassifier", ["catboost"]),
    "lightgbm": ("txt", "lightgbm.LGBMClassifier", ["lightgbm"]),
    "onnx": ("onnx", "onnx.ModelProto", ["onnx"]),
    "transformers": ("safetensors", "transformers.BertModel", ["transformers"]),
    "statsmodels": ("pickle", "statsmodels.regression.linear_model.RegressionResultsWrapper", ["statsmodels"]),
}


@pytest.mark.parametrize("framework", list(FAKE_SAVES))
def test_a_framework_missing_at_load_names_the_extra(tmp_path, framework):
    fmt, cls, blocked = FAKE_SAVES[framework]
    d = tmp_path / "m"
    d.mkdir()
    (d / DESCRIPTOR).write_text(json.dumps({"framework": framework, "format": fmt, "class": cls,
                                            "files": [], "gitmodels_descriptor": 1}))
    out = json.loads(run_python(missing_framework_code(blocked), str(d)).stdout)
    assert out["error"] == "FrameworkMissing", out
    assert f"pip install 'gitmodels[{framework}]'" in out["message"]
    assert out["hint"] == f"pip install 'gitmodels[{framework}]'"


def test_framework_missing_is_a_serializer_error():
    assert issubclass(FrameworkMissing, SerializerError)


# --------------------------------------------------------------------------- imports stay light


def test_serializers_import_no_framework_until_one_is_used(tmp_path):
    code = textwrap.dedent(f"""
        import json, sys
        heavy = {HEAVY!r}
        import gitmodels.serializers as s, gitmodels.metadata
        after_import = sorted(m for m in sys.modules if m.split(".")[0] in heavy + ("sklearn", "numpy"))
        s.get_serializer("torch"); s.available()
        after_registry = sorted(m for m in sys.modules if m.split(".")[0] in heavy + ("sklearn", "numpy"))
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        X = np.arange(12.0).reshape(6, 2); y = [0, 1] * 3
        clf = LogisticRegression().fit(X, y)
        assert s.find_serializer(clf).name == "sklearn"
        try:
            s.find_serializer(object())
        except s.SerializerError:
            pass
        s.save_to_dir(clf, sys.argv[1])
        s.load_from_dir(sys.argv[1])
        gitmodels.metadata.environment_requirements()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        print(json.dumps([after_import, after_registry, loaded]))
    """)
    after_import, after_registry, loaded = json.loads(run_python(code, str(tmp_path / "m")).stdout)
    assert after_import == []
    assert after_registry == []
    assert loaded == []


# --------------------------------------------------------------------------- plugins


def test_an_entry_point_serializer_is_found_and_used(tmp_path, plugins):
    plugins["eps"] = [FakeEntryPoint("widget", WidgetSerializer)]
    assert find_serializer(Widget(7)).name == "widget"
    assert "widget" in available()
    result = save_to_dir(Widget(7), tmp_path / "m")
    assert result["model"]["framework"] == "widget"
    assert result["model"]["class"] == f"{__name__}.Widget"
    assert result["params"] == {"value": 7}
    assert load_from_dir(tmp_path / "m").value == 7


def test_entry_points_are_read_lazily_and_once(plugins, fitted):
    plugins["eps"] = [FakeEntryPoint("widget", WidgetSerializer)]
    assert get_serializer("sklearn").name == "sklearn"  # a built-in name: no plugin scan
    assert plugins["calls"] == 0
    find_serializer(fitted)
    find_serializer(Widget(1))
    get_serializer("widget")
    assert plugins["calls"] == 1


def test_a_broken_or_clashing_plugin_is_skipped_with_a_warning(plugins, fitted):
    class Clash(WidgetSerializer):
        name = "sklearn"

    plugins["eps"] = [FakeEntryPoint("broken", ImportError("no module named widgets")),
                      FakeEntryPoint("clash", Clash),
                      FakeEntryPoint("notaserializer", object)]
    with pytest.warns(UserWarning) as record:
        assert find_serializer(fitted).name == "sklearn"
    text = " ".join(str(w.message) for w in record)
    assert "broken" in text and "taken" in text and "notaserializer" in text
    assert type(get_serializer("sklearn")).__name__ == "SklearnSerializer"


def test_priority_breaks_a_tie_between_equally_specific_serializers(plugins, fitted):
    class OnnxSklearn(Serializer):
        name = "sklearn-onnx"
        formats = ("onnx",)
        modules = ("sklearn",)
        base_classes = ("sklearn.base.BaseEstimator",)
        priority = 10

    plugins["eps"] = [FakeEntryPoint("sklearn-onnx", OnnxSklearn)]
    assert find_serializer(fitted).name == "sklearn-onnx"
    assert find_serializer(fitted, "sklearn").name == "sklearn"


def test_register_in_process(plugins):
    register(WidgetSerializer)
    assert find_serializer(Widget(3)).name == "widget"
    with pytest.raises(SerializerError, match="already registered"):
        register(WidgetSerializer)


def test_a_real_installed_entry_point_is_discovered(tmp_path):
    site = tmp_path / "site"
    (site / "gm_widget_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "gm_widget_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gm-widget-plugin\nVersion: 1.0\n")
    (site / "gm_widget_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[gitmodels.serializers]\nwidget = gm_widget_plugin:WidgetSerializer\n")
    (site / "gm_widget_plugin.py").write_text(textwrap.dedent("""
        from pathlib import Path
        from gitmodels.serializers.base import Serializer

        class Widget:
            def __init__(self, value):
                self.value = value

        class WidgetSerializer(Serializer):
            name = "widget"
            formats = ("txt",)
            modules = ("gm_widget_plugin",)
            requires = ("gm-widget-plugin",)

            def save(self, obj, directory, format):
                Path(directory, "value.txt").write_text(str(obj.value))
                return {"format": format}

            def load(self, directory, model_meta, **kwargs):
                return Widget(int(Path(directory, "value.txt").read_text()))
    """))
    code = textwrap.dedent("""
        import json, sys
        from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
        from gm_widget_plugin import Widget
        result = save_to_dir(Widget(41), sys.argv[1])
        print(json.dumps([find_serializer(Widget(1)).name, result["dependencies"],
                          load_from_dir(sys.argv[1]).value]))
    """)
    out = run_python(code, str(tmp_path / "m"), env={"PYTHONPATH": f"{site}{os.pathsep}{REPO}"})
    assert json.loads(out.stdout) == ["widget", {"gm-widget-plugin": "1.0"}, 41]
