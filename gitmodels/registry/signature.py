"""`load(..., example=X)`: does X fit the model's recorded `[model.signature]`? Cheap, and without importing
numpy or pandas: X is inspected through the attributes those types have (shape, columns, dtypes)."""

from __future__ import annotations

from typing import Any

from gitmodels.errors import SignatureMismatch


def describe(x: Any) -> dict:
    """n_features, feature_names and dtypes of X, as far as they can be told."""
    out: dict[str, Any] = {}
    columns = getattr(x, "columns", None)
    if columns is not None and not callable(columns):
        names = [str(c) for c in list(columns)]
        out["n_features"] = len(names)
        out["feature_names"] = names
        dtypes = getattr(x, "dtypes", None)
        if dtypes is not None:
            out["dtypes"] = [str(d) for d in list(dtypes)]
        return out
    shape = getattr(x, "shape", None)
    if isinstance(shape, tuple) and shape:
        out["n_features"] = int(shape[1]) if len(shape) >= 2 else 1 if len(shape) == 1 else None
        dtype = getattr(x, "dtype", None)
        if dtype is not None and out["n_features"] is not None:
            out["dtypes"] = [str(dtype)] * out["n_features"]
        return out
    if isinstance(x, (list, tuple)) and x:
        row = x[0]
        if isinstance(row, dict):
            out["n_features"] = len(row)
            out["feature_names"] = [str(k) for k in row]
        elif isinstance(row, (list, tuple)):
            out["n_features"] = len(row)
    elif isinstance(x, dict):
        out["n_features"] = len(x)
        out["feature_names"] = [str(k) for k in x]
    return out


def check(meta: dict, x: Any, where: str) -> None:
    """Raise SignatureMismatch naming the first difference; a model with no recorded signature passes."""
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    sig = model.get("signature") if isinstance(model.get("signature"), dict) else {}
    if not sig:
        return
    got = describe(x)
    hint = f"compare with `gitmodels show {where}` ([model.signature])"
    want_n = sig.get("n_features")
    if isinstance(want_n, int) and got.get("n_features") is not None and got["n_features"] != want_n:
        raise SignatureMismatch(f"{where} expects {want_n} features, the example has {got['n_features']}", hint)
    want_names = sig.get("feature_names")
    if isinstance(want_names, list) and got.get("feature_names") is not None:
        names = got["feature_names"]
        if names != [str(n) for n in want_names]:
            missing = [n for n in want_names if str(n) not in names]
            extra = [n for n in names if n not in [str(w) for w in want_names]]
            detail = (f"missing {missing}" if missing else "") + ("; " if missing and extra else "") + \
                (f"unexpected {extra}" if extra else "")
            raise SignatureMismatch(f"{where}: the example's features differ from the recorded ones: "
                                    f"{detail or 'same names in another order'}", hint)
    want_dtypes = sig.get("dtypes")
    if isinstance(want_dtypes, list) and got.get("dtypes") is not None and len(want_dtypes) == len(got["dtypes"]):
        for i, (w, g) in enumerate(zip(want_dtypes, got["dtypes"])):
            if str(w) != g:
                name = want_names[i] if isinstance(want_names, list) and i < len(want_names) else f"#{i}"
                raise SignatureMismatch(f"{where}: feature {name} has dtype {g}, the model expects {w}", hint)
