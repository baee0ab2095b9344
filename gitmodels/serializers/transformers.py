"""Hugging Face transformers: PyTorch models, tokenizers, and pipelines (a model with its tokenizer).

Saved with `save_pretrained` into the model's directory: `config.json`,
`model.safetensors` (never a pickled `pytorch_model.bin`: a save that writes
one is refused) and the tokenizer's JSON/text files. Loaded with the recorded
class's `from_pretrained(directory, local_files_only=True, use_safetensors=True)`:
nothing is downloaded, no `*.bin` pickle is read, and no code from the folder
runs (`trust_remote_code` is never set; classes are imported only from the
`transformers` package). A pipeline comes back as `transformers.pipeline(task,
model=..., tokenizer=...)` built from the loaded objects.

To version a model with its tokenizer, save a pipeline:
`gitmodels.save(transformers.pipeline("text-classification", model=m, tokenizer=t), path)`.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, resolve_class, scalar_params, type_names

MODEL = "transformers.modeling_utils.PreTrainedModel"
TOKENIZER = "transformers.tokenization_utils_base.PreTrainedTokenizerBase"
PIPELINE = "transformers.pipelines.base.Pipeline"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
CONFIG_NOISE = ("transformers_version", "architectures", "id2label", "label2id", "auto_map")


def _kind(obj: Any) -> str | None:
    names = {f"{m}.{q}" for m, q in type_names(obj)}
    for kind, base in (("pipeline", PIPELINE), ("model", MODEL), ("tokenizer", TOKENIZER)):
        if base in names:
            return kind
    return None


def _nearest(obj: Any) -> str:
    """The class to record for `obj`: its own, or for a user subclass, the nearest transformers class."""
    for cls in type(obj).__mro__:
        if cls.__module__.split(".")[0] == "transformers":
            return class_path(cls)
    return class_path(type(obj))


class TransformersSerializer(Serializer):
    name = "transformers"
    formats = ("safetensors",)
    extra = "gitmodels[transformers]"
    modules = ("transformers",)
    base_classes = (MODEL, TOKENIZER, PIPELINE)
    requires = ("transformers", "torch", "safetensors", "tokenizers", "huggingface-hub", "numpy")

    # -- save --------------------------------------------------------------------

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        kind = _kind(obj)
        fields: dict[str, Any] = {"format": format, "kind": kind, **self.loads_as(obj)}
        if kind == "pipeline":
            if obj.model is None or _kind(obj.model) != "model":
                raise SerializerError("this pipeline holds no PyTorch transformers model",
                                      "only pipelines around a PreTrainedModel are saved")
            _save_model(obj.model, directory)
            fields["task"] = obj.task
            fields["model_class"] = _nearest(obj.model)
            if obj.tokenizer is not None:
                obj.tokenizer.save_pretrained(directory)
                fields["tokenizer_class"] = _nearest(obj.tokenizer)
        elif kind == "model":
            _save_model(obj, directory)
        else:
            obj.save_pretrained(directory)
        written = [name for name in os.listdir(directory) if name.endswith(PICKLE_SUFFIXES)]
        if written:
            raise SerializerError(f"save_pretrained wrote pickle files ({', '.join(sorted(written))})",
                                  "only safetensors weights are saved; update transformers")
        return fields

    # -- load --------------------------------------------------------------------

    def load(self, directory: str, model_meta: dict[str, Any], **kwargs: Any) -> Any:
        """The saved object; extra keyword arguments go to the model's `from_pretrained` (e.g. `dtype=`)."""
        for refused in ("trust_remote_code", "local_files_only", "use_safetensors"):
            if refused in kwargs:
                raise SerializerError(f"{refused}= cannot be changed: gitmodels loads the verified folder only, "
                                      "safetensors only, running no code from it")
        transformers = self.import_module("transformers")
        recorded = model_meta.get("loads_as") or model_meta.get("class") or ""
        kind = model_meta.get("kind")
        if kind == "pipeline":
            model = self._model(directory, str(model_meta.get("model_class") or ""), kwargs)
            tokenizer = None
            if model_meta.get("tokenizer_class"):
                tokenizer = self._tokenizer(directory, str(model_meta["tokenizer_class"]))
            return transformers.pipeline(str(model_meta.get("task")), model=model, tokenizer=tokenizer)
        if kind == "tokenizer":
            if kwargs:
                raise SerializerError(f"unexpected arguments for a tokenizer: {', '.join(sorted(kwargs))}")
            return self._tokenizer(directory, recorded)
        return self._model(directory, recorded, kwargs)

    def _model(self, directory: str, path: str, kwargs: dict[str, Any]) -> Any:
        transformers = self.import_module("transformers")
        cls = resolve_class(path or "transformers.AutoModel", self.modules, self)
        if not (issubclass(cls, transformers.PreTrainedModel) or cls.__name__.startswith("AutoModel")):
            raise SerializerError(f"{class_path(cls)} is not a transformers model class")
        return cls.from_pretrained(directory, local_files_only=True, use_safetensors=True, **kwargs)

    def _tokenizer(self, directory: str, path: str) -> Any:
        transformers = self.import_module("transformers")
        cls = resolve_class(path or "transformers.AutoTokenizer", self.modules, self)
        if not (issubclass(cls, transformers.PreTrainedTokenizerBase) or cls is transformers.AutoTokenizer):
            raise SerializerError(f"{class_path(cls)} is not a transformers tokenizer class")
        return cls.from_pretrained(directory, local_files_only=True)

    # -- describe ----------------------------------------------------------------

    def describe(self, obj: Any) -> dict[str, Any]:
        kind = _kind(obj)
        info: dict[str, Any] = {"class": class_path(type(obj))}
        if kind == "pipeline":
            info.update({k: v for k, v in _describe_model(obj.model).items() if k != "class"})
            if obj.tokenizer is not None:
                info["signature"].update(_describe_tokenizer(obj.tokenizer))
            return info
        if kind == "model":
            info.update({k: v for k, v in _describe_model(obj).items() if k != "class"})
            return info
        info["params"] = {}
        info["signature"] = _describe_tokenizer(obj)
        return info


def _save_model(model: Any, directory: str) -> None:
    accepted = inspect.signature(model.save_pretrained).parameters
    extra = {"safe_serialization": True} if "safe_serialization" in accepted else {}  # transformers 4.x
    model.save_pretrained(directory, **extra)


def _describe_model(model: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"class": class_path(type(model))}
    config = model.config
    info["model_type"] = getattr(config, "model_type", None)
    try:
        info["n_parameters"] = int(model.num_parameters())
    except Exception:  # noqa: BLE001
        pass
    info["dtype"] = str(getattr(model, "dtype", "")).replace("torch.", "") or None
    try:
        cfg = config.to_diff_dict()
    except Exception:  # noqa: BLE001
        cfg = {}
    info["params"] = scalar_params({k: v for k, v in cfg.items() if k not in CONFIG_NOISE})
    sig: dict[str, Any] = {"input_names": [str(getattr(model, "main_input_name", "input_ids"))]}
    if "Classification" in type(model).__name__:
        id2label = getattr(config, "id2label", None) or {}
        labels = [id2label[i] for i in sorted(id2label)]
        if labels:
            sig["labels"] = labels
    info["signature"] = sig
    return info


def _describe_tokenizer(tokenizer: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {}
    try:
        sig["vocab_size"] = int(len(tokenizer))
    except Exception:  # noqa: BLE001
        pass
    max_length = getattr(tokenizer, "model_max_length", None)
    if isinstance(max_length, int) and max_length < 10**9:  # transformers' "no limit" is a huge int
        sig["model_max_length"] = max_length
    return sig
