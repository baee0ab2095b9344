"""ONNX: a ModelProto built with onnx.helper, saved as .onnx, run by onnxruntime before and after."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gitmodels.errors import SerializerError
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import file_bytes, run_python, toml_roundtrip

onnx = require_module("onnx")
onnxruntime = require_module("onnxruntime")


@pytest.fixture(scope="module")
def tiny_onnx(tiny_xy):
    """A logistic regression fitted by least squares in the test: sigmoid(X @ W + B), X float[N, 3]."""
    from onnx import TensorProto, helper, numpy_helper

    X, y = tiny_xy
    design = np.hstack([X, np.ones((len(X), 1), dtype="float32")])
    coef, *_ = np.linalg.lstsq(design, y.astype("float32") * 2 - 1, rcond=None)
    weights = coef[:3].reshape(3, 1).astype("float32")
    bias = coef[3:].astype("float32")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Z0"]),
         helper.make_node("Add", ["Z0", "B"], ["Z"]),
         helper.make_node("Sigmoid", ["Z"], ["P"])],
        "tiny_logit",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("P", TensorProto.FLOAT, ["N", 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, producer_name="gitmodels-test", producer_version="1",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"trained_on": "tiny_xy"})
    onnx.checker.check_model(model)
    return model


def _run(model_or_path, X):
    source = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else model_or_path
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})[0]


_FRESH = r'''
import json, sys
import numpy as np
from gitmodels.serializers import load_from_dir
spec = json.loads(sys.argv[1])
X = np.load(spec["x"], allow_pickle=False)
session = load_from_dir(spec["dir"], allow_pickle=False, session=True)
proto = load_from_dir(spec["dir"], allow_pickle=False)
np.save(spec["out"], session.run(None, {"X": X})[0], allow_pickle=False)
print(json.dumps({"session": type(session).__name__, "proto": type(proto).__name__,
                  "inputs": [i.name for i in session.get_inputs()]}))
'''


def test_a_model_round_trips_with_equal_outputs_in_a_fresh_process(tmp_path, tiny_onnx, tiny_xy):
    X, _ = tiny_xy
    expected = _run(tiny_onnx, X)
    assert expected.shape == (30, 1) and len(np.unique(expected)) > 10  # a real model, not a constant

    assert find_serializer(tiny_onnx).name == "onnx"
    result = save_to_dir(tiny_onnx, tmp_path / "m")
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert model["framework"] == "onnx"
    assert model["class"] == "onnx.ModelProto"
    assert model["format"] == "onnx"
    assert model["ir_version"] == 8
    assert model["opsets"] == ["ai.onnx=17"]
    assert model["producer"] == "gitmodels-test 1"
    assert model["signature"] == {"input_names": ["X"], "input_dtypes": ["float"], "input_shapes": ["(N, 3)"],
                                  "output_names": ["P"], "output_dtypes": ["float"], "output_shapes": ["(N, 1)"],
                                  "n_features": 3}
    assert tables["params"] == {"trained_on": "tiny_xy", "graph_name": "tiny_logit"}
    assert tables["dependencies"]["onnx"] == onnx.__version__
    assert tables["dependencies"]["onnxruntime"] == onnxruntime.__version__
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.onnx"]

    spec = {"dir": str(tmp_path / "m"), "x": str(tmp_path / "x.npy"), "out": str(tmp_path / "out.npy")}
    np.save(spec["x"], X, allow_pickle=False)
    out = json.loads(run_python(_FRESH, json.dumps(spec)).stdout.strip().splitlines()[-1])
    assert out == {"session": "InferenceSession", "proto": "ModelProto", "inputs": ["X"]}
    assert np.array_equal(np.load(spec["out"]), expected)

    loaded = load_from_dir(tmp_path / "m")
    assert loaded == tiny_onnx
    assert np.array_equal(_run(loaded, X), expected)


def test_resaving_gives_the_same_bytes_and_a_model_with_missing_external_data_is_refused(tmp_path, tiny_onnx):
    save_to_dir(tiny_onnx, tmp_path / "a")
    save_to_dir(tiny_onnx, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")

    # saved elsewhere with its weights outside, and loaded without them: the proto only points at a file
    copy = onnx.ModelProto()
    copy.CopyFrom(tiny_onnx)  # save_model moves the tensors out of the proto it is given
    onnx.save_model(copy, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    location="ext.data", size_threshold=0)
    pointing = onnx.load_model(str(tmp_path / "ext.onnx"), load_external_data=False)
    with pytest.raises(SerializerError, match="external files") as err:
        save_to_dir(pointing, tmp_path / "c")
    assert "load_external_data=True" in err.value.hint
    assert not (tmp_path / "c").exists()


def test_load_options_are_checked(tmp_path, tiny_onnx):
    save_to_dir(tiny_onnx, tmp_path / "m")
    with pytest.raises(SerializerError, match="need session=True"):
        load_from_dir(tmp_path / "m", providers=["CPUExecutionProvider"])
    with pytest.raises(SerializerError, match="unexpected arguments"):
        load_from_dir(tmp_path / "m", into=object())


def test_a_model_over_the_protobuf_limit_keeps_its_tensors_in_one_data_file(tmp_path, tiny_onnx, tiny_xy,
                                                                          monkeypatch):
    from gitmodels.serializers import onnx as onnx_serializer

    X, _ = tiny_xy
    monkeypatch.setattr(onnx_serializer, "PROTOBUF_LIMIT", 0)  # the 2 GiB path, without 2 GiB
    monkeypatch.setattr(onnx_serializer, "EXTERNAL_MIN_BYTES", 0)
    before = tiny_onnx.SerializeToString()
    result = save_to_dir(tiny_onnx, tmp_path / "m")
    assert result["model"]["external_data"] is True
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "model.onnx", "model.onnx.data"]
    assert tiny_onnx.SerializeToString() == before  # the caller's proto still holds its tensors
    loaded = load_from_dir(tmp_path / "m")
    assert np.array_equal(_run(loaded, X), _run(tiny_onnx, X))
    session = load_from_dir(tmp_path / "m", session=True)
    assert np.array_equal(session.run(None, {"X": X})[0], _run(tiny_onnx, X))
