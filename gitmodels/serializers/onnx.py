"""ONNX: `onnx.ModelProto` saved as a `.onnx` protobuf file, loaded back as a ModelProto or an
`onnxruntime.InferenceSession` (`load(..., session=True)`).

A `.onnx` file is a protobuf message: parsing it runs no code, so it is safe to
load from anyone (operators are run by onnxruntime's own kernels; a custom-op
library is loaded only when the caller registers one in its session options).
A model over protobuf's 2 GiB limit is saved with its tensors in one
`model.onnx.data` file next to it, as `onnx.save_model` does; `onnx.load_model`
reads them back from the same folder. The graph's inputs and outputs (names,
element types, shapes with symbolic dimensions) are the signature.
"""

from __future__ import annotations

import os
from typing import Any

from gitmodels.errors import SerializerError
from gitmodels.serializers.base import Serializer, class_path

FILES = {"onnx": "model.onnx"}
EXTERNAL_DATA = "model.onnx.data"
PROTOBUF_LIMIT = 2**31 - 2**20  # leave room under protobuf's 2 GiB for the graph itself
EXTERNAL_MIN_BYTES = 1024  # onnx's default: smaller tensors stay inside model.onnx


def _shape(value_info: Any) -> tuple[str, str] | None:
    """(element type, "(N, 3)") of a tensor ValueInfoProto, None for sequences/maps."""
    import onnx

    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        return None
    tensor = value_info.type.tensor_type
    dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
    if not tensor.HasField("shape"):
        return dtype, "?"
    dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return dtype, "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class OnnxSerializer(Serializer):
    name = "onnx"
    formats = ("onnx",)
    extra = "gitmodels[onnx]"
    modules = ("onnx",)
    base_classes = ("onnx.onnx_ml_pb2.ModelProto", "onnx.onnx_pb2.ModelProto")
    requires = ("onnx", "protobuf", "numpy")

    def save(self, obj: Any, directory: str, format: str) -> dict[str, Any]:
        onnx = self.import_module("onnx")
        from onnx import external_data_helper

        tensors = list(external_data_helper._get_all_tensors(obj))
        if any(external_data_helper.uses_external_data(t) for t in tensors):
            raise SerializerError("this ONNX model refers to tensors in external files it does not hold",
                                  "load it with onnx.load(path) (load_external_data=True) before saving it")
        path = os.path.join(directory, FILES[format])
        if obj.ByteSize() < PROTOBUF_LIMIT:
            onnx.save_model(obj, path)
            return {"format": format}
        copy = onnx.ModelProto()
        copy.CopyFrom(obj)  # save_model moves tensors out of the proto it is given: not the caller's
        onnx.save_model(copy, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=EXTERNAL_DATA, size_threshold=EXTERNAL_MIN_BYTES)
        return {"format": format, "external_data": True}

    def load(self, directory: str, model_meta: dict[str, Any], *, session: bool = False,
             providers: list[Any] | None = None, sess_options: Any = None, **kwargs: Any) -> Any:
        if kwargs:
            raise SerializerError(f"unexpected arguments for an ONNX model: {', '.join(sorted(kwargs))}",
                                  "session=True returns an onnxruntime.InferenceSession (providers=, "
                                  "sess_options=); without it, an onnx.ModelProto")
        path = os.path.join(directory, FILES[model_meta.get("format", "onnx")])
        if session:
            ort = self.import_module("onnxruntime", extra="gitmodels[onnx]")
            return ort.InferenceSession(path, sess_options=sess_options,
                                        providers=list(providers or ["CPUExecutionProvider"]))
        if providers is not None or sess_options is not None:
            raise SerializerError("providers= and sess_options= need session=True")
        onnx = self.import_module("onnx")
        return onnx.load_model(path)

    def describe(self, obj: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"class": class_path(type(obj))}
        info["ir_version"] = int(obj.ir_version)
        if obj.producer_name:
            info["producer"] = f"{obj.producer_name} {obj.producer_version}".strip()
        info["opsets"] = [f"{o.domain or 'ai.onnx'}={o.version}" for o in obj.opset_import]
        graph = obj.graph
        info["params"] = {p.key: p.value for p in obj.metadata_props}
        if graph.name:
            info["params"].setdefault("graph_name", graph.name)
        initializers = {t.name for t in graph.initializer}
        sig: dict[str, Any] = {}
        for side, values in (("input", [v for v in graph.input if v.name not in initializers]),
                             ("output", list(graph.output))):
            shapes = [_shape(v) for v in values]
            sig[f"{side}_names"] = [v.name for v in values]
            if shapes and all(s is not None for s in shapes):
                sig[f"{side}_dtypes"] = [s[0] for s in shapes]
                sig[f"{side}_shapes"] = [s[1] for s in shapes]
        inputs = [v for v in graph.input if v.name not in initializers]
        if len(inputs) == 1 and inputs[0].type.WhichOneof("value") == "tensor_type":
            dims = inputs[0].type.tensor_type.shape.dim
            if len(dims) == 2 and dims[1].HasField("dim_value"):
                sig["n_features"] = int(dims[1].dim_value)
        info["signature"] = sig
        return info

    def dependencies(self, format: str | None = None) -> dict[str, str]:
        from gitmodels.metadata import dependency_versions

        return dependency_versions(self.requires + ("onnxruntime",))
