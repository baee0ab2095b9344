"""PyTorch: state_dict in a weights-only file, plus the module structure for a class-free reload."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from gitmodels.errors import SerializerError
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir
from tests.requires import require_module

from .helpers import file_bytes, run_python, toml_roundtrip

torch = require_module("torch")
from . import torch_nets  # noqa: E402


@pytest.fixture(scope="module")
def sequential(tiny_xy):
    X, y = tiny_xy
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    return torch_nets.train(model, X, y)


@pytest.fixture(scope="module")
def tiny_net(tiny_xy):
    X, y = tiny_xy
    torch.manual_seed(0)
    return torch_nets.train(torch_nets.TinyNet(), X, y)


def _predict(model, X):
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


def test_models_reload_in_fresh_process_with_identical_outputs(tmp_path, sequential, tiny_net, tiny_xy):
    X, _ = tiny_xy
    result = save_to_dir(sequential, tmp_path / "seq")
    tables = toml_roundtrip(result)
    model = tables["model"]
    assert find_serializer(sequential).name == "torch"
    assert model["framework"] == "torch"
    assert model["class"] == "torch.nn.Sequential"
    assert model["format"] == "pt"
    assert model["n_parameters"] == 3 * 4 + 4 + 4 + 1
    assert model["signature"] == {"n_features": 3, "n_outputs": 1}
    assert tables["dependencies"]["torch"] == torch.__version__
    assert sorted(os.listdir(tmp_path / "seq")) == ["gitmodels-model.json", "module.pkl", "weights.pt"]
    custom = save_to_dir(tiny_net, tmp_path / "net")
    assert custom["model"]["class"] == "tests.serializers.torch_nets.TinyNet"

    # One fresh interpreter (torch is slow to import) checks three ways back:
    # a Sequential without its class, a custom module in full (buffers and
    # BatchNorm statistics included), and weights only into a new instance
    # with unpickling forbidden.
    code = (
        "import sys, json, numpy as np, torch\n"
        "from gitmodels.serializers import load_from_dir\n"
        "from tests.serializers.torch_nets import TinyNet\n"
        "seq_dir, net_dir, meta, x_path, out_dir = sys.argv[1:]\n"
        "X = torch.from_numpy(np.load(x_path))\n"
        "seq = load_from_dir(seq_dir, json.loads(meta))\n"
        "full = load_from_dir(net_dir)\n"
        "net = TinyNet()\n"
        "assert load_from_dir(net_dir, into=net, allow_pickle=False) is net\n"
        "net.eval()\n"
        "with torch.no_grad():\n"
        "    for name, m in (('seq', seq), ('full', full), ('into', net)):\n"
        "        np.save(f'{out_dir}/{name}.npy', m(X).numpy())\n"
        "print(json.dumps([type(seq).__qualname__, type(full).__module__ + '.' + type(full).__qualname__]))\n"
    )
    np.save(tmp_path / "x.npy", X)
    proc = run_python(code, str(tmp_path / "seq"), str(tmp_path / "net"), json.dumps(model),
                      str(tmp_path / "x.npy"), str(tmp_path))
    assert json.loads(proc.stdout) == ["Sequential", "tests.serializers.torch_nets.TinyNet"]
    assert np.array_equal(np.load(tmp_path / "seq.npy"), _predict(sequential, X))
    assert np.array_equal(np.load(tmp_path / "full.npy"), _predict(tiny_net, X))
    assert np.array_equal(np.load(tmp_path / "into.npy"), _predict(tiny_net, X))


def test_weights_file_is_plain_weights_only_torch_load(tmp_path, tiny_net):
    save_to_dir(tiny_net, tmp_path / "m")
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert set(state) == set(tiny_net.state_dict())
    assert torch.equal(state["head.weight"], tiny_net.head.weight.detach())
    weights = load_from_dir(tmp_path / "m", weights_only=True, allow_pickle=False)
    assert set(weights) == set(state)
    # the structure file holds no weight data
    assert os.path.getsize(tmp_path / "m" / "module.pkl") < 8 * 1024


def test_default_load_is_refused_when_pickle_is_not_allowed(tmp_path, sequential):
    save_to_dir(sequential, tmp_path / "m")
    with pytest.raises(SerializerError, match="unpickle"):
        load_from_dir(tmp_path / "m", allow_pickle=False)


def test_tied_weights_stay_tied(tmp_path, tiny_xy):
    X, y = tiny_xy
    net = torch_nets.train(torch_nets.TiedNet(), X, y)
    save_to_dir(net, tmp_path / "m")
    loaded = load_from_dir(tmp_path / "m")
    assert loaded.enc.weight is loaded.dec.weight
    assert isinstance(loaded.enc.weight, torch.nn.Parameter) and loaded.enc.weight.requires_grad
    assert np.array_equal(_predict(loaded, X), _predict(net, X))
    if importlib.util.find_spec("safetensors") is not None:
        with pytest.raises(SerializerError, match="tied"):
            save_to_dir(net, tmp_path / "st", format="safetensors")
        assert not (tmp_path / "st").exists()


def test_safetensors_format(tmp_path, tiny_net, tiny_xy):
    require_module("safetensors")
    X, _ = tiny_xy
    result = save_to_dir(tiny_net, tmp_path / "m", format="safetensors")
    assert result["model"]["format"] == "safetensors"
    assert "safetensors" in result["dependencies"]
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "module.pkl", "weights.safetensors"]
    into = torch_nets.TinyNet()
    load_from_dir(tmp_path / "m", into=into).eval()
    assert np.array_equal(_predict(into, X), _predict(tiny_net, X))
    assert np.array_equal(_predict(load_from_dir(tmp_path / "m"), X), _predict(tiny_net, X))
    save_to_dir(tiny_net, tmp_path / "again", format="safetensors")
    assert file_bytes(tmp_path / "m") == file_bytes(tmp_path / "again")


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, tiny_net):
    save_to_dir(tiny_net, tmp_path / "a")
    save_to_dir(tiny_net, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_unpicklable_module_still_saves_its_weights(tmp_path, tiny_xy):
    X, y = tiny_xy
    net = torch_nets.TinyNet()
    net.callback = lambda x: x  # a lambda cannot be pickled
    with pytest.warns(UserWarning, match="into="):
        result = save_to_dir(net, tmp_path / "m")
    assert result["model"]["full_module"] is False
    assert sorted(os.listdir(tmp_path / "m")) == ["gitmodels-model.json", "weights.pt"]
    with pytest.raises(SerializerError) as err:
        load_from_dir(tmp_path / "m")
    assert "into=" in err.value.hint
    fresh = load_from_dir(tmp_path / "m", into=torch_nets.TinyNet()).eval()
    net.eval()
    assert np.array_equal(_predict(fresh, X), _predict(net, X))


def test_torch_missing_at_load_names_the_extra(tmp_path, sequential):
    from .helpers import missing_framework_code

    save_to_dir(sequential, tmp_path / "m")
    out = json.loads(run_python(missing_framework_code(["torch"]), str(tmp_path / "m")).stdout)
    assert out["error"] == "FrameworkMissing"
    assert "pip install 'gitmodels[torch]'" in out["message"]
