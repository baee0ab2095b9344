"""PyTorch `nn.Module`: weights in a weights-only file, plus the module's structure.

Files written:

- `weights.pt` (default, `format="pt"`): the `state_dict`, written by
  `torch.save` and read back with `torch.load(weights_only=True)`, which
  unpickles nothing but tensors and plain containers. `format="safetensors"`
  writes `weights.safetensors` instead (needs the `safetensors` package; no
  tied/shared weights, tensors only).
- `module.pkl`: the module object pickled *without its tensors*; each parameter
  and buffer is a reference into the weights file. This gives the whole model
  back without writing its class (the class must still be importable, as with
  any pickle), and costs only the size of the structure, so saving stays close
  to the cost of `torch.save` alone.

Loading:

- `load(..., into=module)` loads the weights into an existing instance
  (`load_state_dict`), unpickling nothing;
- `load(..., weights_only=True)` returns the state_dict;
- `load(...)` (default) unpickles `module.pkl`. This runs code from the file,
  so `uses_pickle` says so, and `gitmodels.load` does it only for bytes the
  trust policy accepts (saved in this clone, or committed by a trusted author
  or key: gitmodels/trust.py). `allow_pickle=False` in `load_from_dir` turns
  this default off.

`torch.save` is deterministic for the same tensors and file name, so re-saving
the same model gives the same bytes.
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path, output_file

FILES = {"pt": "weights.pt", "safetensors": "weights.safetensors"}
MODULE_FILE = "module.pkl"
PID_TAG = "gitmodels.state_dict"
PICKLE_PROTOCOL = 4


class _ModulePickler(pickle.Pickler):
    """Pickles a module with its state_dict tensors replaced by references to their keys."""

    def __init__(self, file: Any, refs: dict[int, str], tensor_type: type, parameter_type: type):
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._refs = refs
        self._tensor = tensor_type
        self._parameter = parameter_type

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, self._tensor):
            key = self._refs.get(id(obj))
            if key is not None:
                return (PID_TAG, key, isinstance(obj, self._parameter), bool(obj.requires_grad))
        return None


class _ModuleUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, weights: dict[str, Any], parameter_type: type):
        super().__init__(file)
        self._weights = weights
        self._parameter = parameter_type
        self._made: dict[str, Any] = {}  # tied weights: one object per key

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == PID_TAG):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _tag, key, is_parameter, requires_grad = pid
        if key in self._made:
            return self._made[key]
        if key not in self._weights:
            raise pickle.UnpicklingError(f"the weights file has no tensor {key!r}")
        tensor = self._weights[key]
        if is_parameter:
            tensor = self._parameter(tensor, requires_grad=bool(requires_grad))
        elif requires_grad:
            tensor.requires_grad_(True)
        self._made[key] = tensor
        return tensor


class TorchSerializer(Serializer):
    name = "torch"
    formats = ("pt", "safetensors")
    extra = "gitmodels[torch]"
    modules = ("torch",)
    base_classes = ("torch.nn.modules.module.Module",)
    requires = ("torch", "numpy")

    # -- save --------------------------------------------------------------------

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        torch = self.import_module("torch")
        state = obj.state_dict()
        path = os.path.join(directory, FILES[format])
        if format == "safetensors":
            st = self.import_module("safetensors.torch", extra="safetensors")
            st.save_file(_safetensors_ready(state, torch), path)
        else:
            with output_file(path) as f:  # hashed into the cache as torch writes it (gitmodels.save)
                torch.save(state, f)
        fields: dict[str, Any] = {"format": format}
        module_path = os.path.join(directory, MODULE_FILE)
        try:
            refs: dict[int, str] = {}
            for key, value in obj.state_dict(keep_vars=True).items():
                if isinstance(value, torch.Tensor):
                    refs.setdefault(id(value), key)
            with open(module_path, "wb") as f:
                _ModulePickler(f, refs, torch.Tensor, torch.nn.Parameter).dump(obj)
        except Exception as exc:  # noqa: BLE001 - the weights are saved; the full module is a bonus
            if os.path.exists(module_path):
                os.unlink(module_path)
            warnings.warn(f"gitmodels: the {class_path(type(obj))} module cannot be pickled ({exc}); only its "
                          "state_dict is saved: load it with into=YourModel(...)", stacklevel=4)
            fields["full_module"] = False
        return fields

    # -- load --------------------------------------------------------------------

    def load(self, directory: str, model_meta: dict[str, Any], *, into: Any = None, weights_only: bool = False,
             map_location: Any = "cpu", strict: bool = True) -> Any:
        torch = self.import_module("torch")
        fmt = model_meta.get("format", "pt")
        path = os.path.join(directory, FILES[fmt])
        if fmt == "safetensors":
            st = self.import_module("safetensors.torch", extra="safetensors")
            weights = st.load_file(path, device=str(map_location) if map_location is not None else "cpu")
        else:
            weights = torch.load(path, weights_only=True, map_location=map_location)
        if into is not None:
            if not isinstance(into, torch.nn.Module):
                raise SerializerError(f"into= must be a torch.nn.Module, not {class_path(type(into))}")
            into.load_state_dict(weights, strict=strict)
            return into
        if weights_only:
            return weights
        module_path = os.path.join(directory, MODULE_FILE)
        if not os.path.exists(module_path):
            raise SerializerError(f"{directory} holds only the weights of a {model_meta.get('class', 'torch')} "
                                  "model (its module could not be pickled when saved)",
                                  "build the model yourself and pass it: load(..., into=YourModel(...)), "
                                  "or weights_only=True for the state_dict")
        with open(module_path, "rb") as f:
            module = _ModuleUnpickler(f, weights, torch.nn.Parameter).load()
        if isinstance(map_location, (str, torch.device)):
            module = module.to(map_location)
        return module

    def uses_pickle(self, model_meta: dict[str, Any], *, into: Any = None, weights_only: bool = False,
                    **kwargs: Any) -> bool:
        return into is None and not weights_only

    # -- describe ----------------------------------------------------------------

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        params = list(obj.parameters())
        info["n_parameters"] = int(sum(p.numel() for p in params))
        trainable = int(sum(p.numel() for p in params if p.requires_grad))
        if trainable != info["n_parameters"]:
            info["n_trainable"] = trainable
        if params:
            info["dtype"] = str(params[0].dtype).replace("torch.", "")
        info["params"] = {}
        info["signature"] = _signature(obj)
        return info

    def dependencies(self, format: str | None = None) -> dict[str, str]:
        from gitmodels.metadata import dependency_versions

        names = self.requires + (("safetensors",) if format == "safetensors" else ())
        return dependency_versions(names)


def _safetensors_ready(state: dict[str, Any], torch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seen: dict[tuple[Any, int], str] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise SerializerError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor: "
                                  "safetensors stores tensors only", "use the default format (pt)")
        if value.numel():
            storage = (value.untyped_storage().data_ptr(), value.device.index or 0)
            if storage in seen:
                raise SerializerError(f"{key!r} shares memory with {seen[storage]!r} (tied weights): safetensors "
                                      "cannot store shared tensors", "use the default format (pt)")
            seen[storage] = key
        out[key] = value.contiguous()
    return out


def _signature(obj: Any) -> dict[str, Any]:
    """n_features / n_outputs when they can be read off the structure (Linear ends of a Sequential)."""
    import torch

    sig: dict[str, Any] = {}
    nn = torch.nn
    if isinstance(obj, nn.Linear):
        return {"n_features": int(obj.in_features), "n_outputs": int(obj.out_features)}
    if isinstance(obj, nn.Sequential) and len(obj):
        first, last = obj[0], obj[-1]
        while isinstance(first, nn.Sequential) and len(first):
            first = first[0]
        if isinstance(first, nn.Linear):
            sig["n_features"] = int(first.in_features)
        layers = [m for m in obj.modules() if isinstance(m, nn.Linear)]
        if layers and (last is layers[-1] or not any(True for _ in last.parameters())):
            sig["n_outputs"] = int(layers[-1].out_features)
    return sig
