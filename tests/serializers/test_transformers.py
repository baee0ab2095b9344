"""Hugging Face transformers: a tiny BERT built from a config and a tokenizer from a vocab written here;
nothing is downloaded (HF_HUB_OFFLINE=1), weights are safetensors, outputs equal before and after."""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported: before transformers is

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gitmodels.errors import SerializerError  # noqa: E402
from gitmodels.serializers import find_serializer, load_from_dir, save_to_dir  # noqa: E402
from tests.requires import require_module  # noqa: E402

from .helpers import file_bytes, run_python, toml_roundtrip  # noqa: E402

torch = require_module("torch")
transformers = require_module("transformers")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "film", "the", "a", "very", "plot"]
TEXTS = ["good movie", "bad film", "the plot very bad", "a good good film"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tok = transformers.BertTokenizer(vocab=str(vocab))
    assert tok("good movie")["input_ids"] == [2, 5, 7, 3]  # the vocab is really used, no [UNK]
    return tok


@pytest.fixture(scope="module")
def model():
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=32,
                                     num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    torch.manual_seed(0)
    net = transformers.BertForSequenceClassification(config).eval()
    # a few training steps in the test, so that the saved weights are not just the initialisation
    tok = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    batch = tok(TEXTS, return_tensors="pt", padding=True)
    labels = torch.tensor([1, 0, 0, 1])
    optim = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for _ in range(3):
        optim.zero_grad()
        net(**batch, labels=labels).loss.backward()
        optim.step()
    return net.eval()


def _named(cls) -> set[str]:
    """The names a class may be recorded under: its public one, or its defining module's (transformers'
    lazy top-level module does not always hold the class in its __dict__, and class_path never imports)."""
    return {f"transformers.{cls.__name__}", f"{cls.__module__}.{cls.__qualname__}"}


def _logits(net, tok):
    with torch.no_grad():
        return net(**tok(TEXTS, return_tensors="pt", padding=True)).logits.numpy()


_FRESH = r'''
import json, sys
import numpy as np
import torch
from gitmodels.serializers import load_from_dir
spec = json.loads(sys.argv[1])
pipe = load_from_dir(spec["dir"], allow_pickle=False)
with torch.no_grad():
    logits = pipe.model(**pipe.tokenizer(spec["texts"], return_tensors="pt", padding=True)).logits.numpy()
np.save(spec["out"], logits, allow_pickle=False)
print(json.dumps({"pipeline": type(pipe).__name__, "model": type(pipe.model).__name__,
                  "labels": [r["label"] for r in pipe(spec["texts"])]}))
'''


def test_a_pipeline_round_trips_with_its_tokenizer_in_a_fresh_offline_process(tmp_path, model, tokenizer):
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer)
    assert find_serializer(pipe).name == "transformers"
    expected = _logits(model, tokenizer)
    assert not np.allclose(expected[0], expected[1])

    tables = toml_roundtrip(save_to_dir(pipe, tmp_path / "m"))
    meta = tables["model"]
    assert meta["framework"] == "transformers"
    assert meta["class"] in _named(type(pipe))
    assert meta["format"] == "safetensors"
    assert meta["kind"] == "pipeline" and meta["task"] == "text-classification"
    assert meta["model_class"] in _named(type(model))
    assert meta["tokenizer_class"] in _named(type(tokenizer))
    assert meta["model_type"] == "bert" and meta["n_parameters"] == model.num_parameters()
    assert meta["signature"] == {"input_names": ["input_ids"], "labels": ["neg", "pos"],
                                 "vocab_size": len(VOCAB)}
    assert tables["params"]["hidden_size"] == 32 and tables["params"]["num_hidden_layers"] == 2
    assert tables["dependencies"]["transformers"] == transformers.__version__
    files = sorted(os.listdir(tmp_path / "m"))
    assert "model.safetensors" in files and "config.json" in files and "tokenizer_config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]

    spec = {"dir": str(tmp_path / "m"), "texts": TEXTS, "out": str(tmp_path / "out.npy")}
    out = json.loads(run_python(_FRESH, json.dumps(spec), env={"HF_HUB_OFFLINE": "1"}).stdout.splitlines()[-1])
    assert out["pipeline"] == "TextClassificationPipeline" and out["model"] == "BertForSequenceClassification"
    assert set(out["labels"]) <= {"neg", "pos"}
    assert np.array_equal(np.load(spec["out"]), expected)


def test_a_model_and_a_tokenizer_round_trip_alone(tmp_path, model, tokenizer):
    result = save_to_dir(model, tmp_path / "model")
    assert result["model"]["kind"] == "model" and result["model"]["class"] in _named(type(model))
    save_to_dir(tokenizer, tmp_path / "tok")
    loaded = load_from_dir(tmp_path / "model", allow_pickle=False)
    tok = load_from_dir(tmp_path / "tok", allow_pickle=False)
    assert type(loaded) is type(model) and type(tok) is type(tokenizer)
    assert tok(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]
    assert np.array_equal(_logits(loaded.eval(), tok), _logits(model, tokenizer))
    # from_pretrained arguments pass through; the ones that would loosen the rules do not
    half = load_from_dir(tmp_path / "model", dtype=torch.float64)
    assert half.dtype == torch.float64
    with pytest.raises(SerializerError, match="trust_remote_code= cannot be changed"):
        load_from_dir(tmp_path / "model", trust_remote_code=True)


def test_a_pickled_weights_file_in_the_folder_is_never_read(tmp_path, model, tokenizer):
    save_to_dir(model, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").rename(tmp_path / "m.safetensors")
    torch.save(model.state_dict(), tmp_path / "m" / "pytorch_model.bin")
    with pytest.raises(SerializerError, match="could not load"):
        load_from_dir(tmp_path / "m")


def test_resaving_the_same_model_gives_the_same_bytes(tmp_path, model):
    save_to_dir(model, tmp_path / "a")
    save_to_dir(model, tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_a_class_outside_transformers_is_never_imported(tmp_path, model):
    result = save_to_dir(model, tmp_path / "m")
    meta = dict(result["model"], **{"class": "os.system"})
    with pytest.raises(SerializerError, match="refusing to restore class 'os.system'"):
        load_from_dir(tmp_path / "m", meta)
