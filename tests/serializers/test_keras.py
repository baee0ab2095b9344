"""Keras 3: the native .keras format, loaded with safe_mode=True (torch backend in tests)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gitmodels.errors import SerializerError
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import predict_in_fresh_process, toml_roundtrip

keras = require_module("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras + numpy 2 noise


@pytest.fixture(scope="module")
def model(tiny_xy):
    X, y = tiny_xy
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    m.fit(X, y.astype("float32"), epochs=2, batch_size=10, verbose=0)
    return m


def test_sequential_reloads_in_fresh_process(tmp_path, model, tiny_xy):
    X, _ = tiny_xy
    assert find_serializer(model).name == "keras"  # not torch, although it is a torch Module here
    result = save_to_dir(model, tmp_path / "m")
    tables = toml_roundtrip(result)
    meta = tables["model"]
    assert meta["framework"] == "keras"
    assert meta["class"] == "keras.Sequential"
    assert meta["format"] == "keras"
    assert meta["backend"] == keras.config.backend()
    assert meta["n_parameters"] == 3 * 4 + 4 + 4 + 1
    assert meta["signature"] == {"n_features": 3, "input_shapes": ["(None, 3)"], "output_shapes": ["(None, 1)"]}
    assert tables["params"]["optimizer"] == "Adam"
    assert tables["dependencies"]["keras"] == keras.__version__
    assert keras.config.backend() in tables["dependencies"]
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.keras"]

    expected = model.predict(X, verbose=0)
    got, cls = predict_in_fresh_process(tmp_path, tmp_path / "m", meta, X, "keras", kwargs={"allow_pickle": False})
    assert cls == "keras.src.models.sequential.Sequential"
    assert np.array_equal(got, expected)


def test_functional_model_signature(tmp_path):
    a = keras.Input(shape=(2,), name="a")
    b = keras.Input(shape=(5,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    functional = keras.Model(inputs=[a, b], outputs=out)
    info = find_serializer(functional).describe(functional)
    assert info["class"] == "keras.Model" or info["class"].startswith("keras.")
    assert info["signature"]["input_shapes"] == ["(None, 2)", "(None, 5)"]
    assert info["signature"]["input_names"] == ["a", "b"]
    assert "n_features" not in info["signature"]


def test_lambda_layer_is_refused_by_safe_mode(tmp_path):
    m = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Lambda(lambda x: x * 2.0)])
    save_to_dir(m, tmp_path / "m")
    with pytest.raises(SerializerError, match="safe_mode|Lambda|lambda"):
        load_from_dir(tmp_path / "m")
    with pytest.raises(SerializerError, match="unpickle"):
        load_from_dir(tmp_path / "m", safe_mode=False, allow_pickle=False)


def test_a_missing_backend_names_the_backend(tmp_path, fresh_python):
    import json

    from .helpers import missing_framework_code

    d = tmp_path / "m"
    d.mkdir()
    (d / "gitmodels-model.json").write_text(json.dumps({"framework": "keras", "format": "keras", "backend": "torch",
                                                        "class": "keras.Sequential", "files": ["model.keras"]}))
    out = json.loads(fresh_python(missing_framework_code(["torch"]), str(d),
                                  env={"KERAS_BACKEND": "torch"}).stdout)
    assert out["error"] == "FrameworkMissing"
    assert "backend" in out["message"]
    assert out["hint"] == "pip install 'gitmodels[torch]' and set KERAS_BACKEND=torch"
