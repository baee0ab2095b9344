"""Helpers shared by the serializer tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "keras", "xgboost", "catboost", "tensorflow", "jax", "lightgbm", "onnx", "onnxruntime",
         "transformers", "statsmodels")


def run_python(code: str, *args: str, env: dict[str, str] | None = None, check: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the repository importable."""
    full_env = dict(os.environ)
    full_env.setdefault("KERAS_BACKEND", "torch")
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [full_env.get("PYTHONPATH")] if p])
    full_env["PYTHONWARNINGS"] = "ignore"
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=str(REPO), env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


_PREDICT = r'''
import json, sys
import numpy as np
spec = json.loads(sys.argv[1])
from gitmodels.serializers import load_from_dir
model = load_from_dir(spec["dir"], spec["meta"], **spec.get("kwargs", {}))
X = np.load(spec["x"], allow_pickle=False)
if spec.get("columns"):
    import pandas as pd
    X = pd.DataFrame(X, columns=spec["columns"])
how = spec["how"]
if how == "torch":
    import torch
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
elif how == "keras":
    out = model.predict(X, verbose=0)
elif how == "booster":
    import xgboost
    out = model.predict(xgboost.DMatrix(X))
else:
    out = getattr(model, how)(X)
np.save(spec["out"], np.asarray(out), allow_pickle=False)
print(json.dumps({"class": type(model).__module__ + "." + type(model).__qualname__}))
'''


def predict_in_fresh_process(tmp_path: Path, directory: Path, meta: dict[str, Any] | None, X: Any, how: str,
                             columns: list[str] | None = None, kwargs: dict | None = None) -> tuple[Any, str]:
    """Load the model saved in `directory` in a new interpreter, predict on X; (predictions, class)."""
    import numpy as np

    x_path = tmp_path / "x.npy"
    out_path = tmp_path / "out.npy"
    np.save(x_path, np.asarray(X), allow_pickle=False)
    spec = {"dir": str(directory), "meta": meta, "x": str(x_path), "out": str(out_path), "how": how,
            "columns": columns, "kwargs": kwargs or {}}
    proc = run_python(_PREDICT, json.dumps(spec))
    cls = json.loads(proc.stdout.strip().splitlines()[-1])["class"]
    return np.load(out_path, allow_pickle=False), cls


def toml_roundtrip(tables: dict[str, Any]) -> dict[str, Any]:
    """Write the returned tables with the pointer's TOML writer and read them back."""
    import tomllib

    from gitmodels.storage import tomlwriter

    text = tomlwriter.dumps({k: v for k, v in tables.items() if v != {}})
    return tomllib.loads(text)


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def missing_framework_code(blocked: list[str]) -> str:
    """Code that makes `blocked` modules fail to import, then loads argv[1] and reports the error."""
    return (
        "import sys, json\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"
        "from gitmodels.errors import FrameworkMissing\n"
        "from gitmodels.serializers import load_from_dir\n"
        "try:\n"
        "    load_from_dir(sys.argv[1])\n"
        "except FrameworkMissing as exc:\n"
        "    print(json.dumps({'error': type(exc).__name__, 'message': str(exc), 'hint': exc.hint}))\n"
        "else:\n"
        "    print(json.dumps({'error': None}))\n"
    )
