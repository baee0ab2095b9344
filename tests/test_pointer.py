import pytest

from gitmodels.storage import pointer
from gitmodels.errors import BadPointer

OID = "a" * 64


def test_round_trip_keeps_metadata_tables_in_stable_order():
    meta = {"params": {"n_estimators": 200}, "model": {"framework": "sklearn", "signature": {"n_features": 3}},
            "custom": {"owner": "team-a"}, "metrics": {"auc": 0.912}}
    p = pointer.Pointer(oid=OID, size=10, kind="dir", files=3, meta=meta)
    text = p.dumps()
    assert text.splitlines()[0].startswith("# Managed by gitmodels")
    again = pointer.parse(text.encode())
    assert again == p
    assert again.dumps() == text
    order = [line for line in text.splitlines() if line.startswith("[")]
    assert order == ["[model]", "[model.signature]", "[metrics]", "[params]", "[custom]"]


def test_core_keys_first():
    text = pointer.Pointer(oid=OID, size=1).dumps()
    keys = [line.split(" =")[0] for line in text.splitlines() if "=" in line]
    assert keys == ["version", "oid", "size", "kind"]


@pytest.mark.parametrize("text,needle", [
    ("version = 1\noid = 'sha256:%s'\nsize = 1\n" % ("A" * 64), "bad oid"),
    ("version = 1\noid = 'md5:abc'\nsize = 1\n", "bad oid"),
    ("version = 2\noid = 'sha256:%s'\nsize = 1\n" % OID, "newer than this gitmodels"),
    ("oid = 'sha256:%s'\nsize = 1\n" % OID, "missing `version`"),
    ("version = 1\noid = 'sha256:%s'\nsize = -1\n" % OID, "size"),
    ("version = 1\noid = 'sha256:%s'\nsize = 1\nkind = 'blob'\n" % OID, "unknown kind"),
    ("version = 1\noid = 'sha256:%s\n" % OID, "not valid TOML"),
    ("<<<<<<< HEAD\nversion = 1\n=======\nversion = 1\n>>>>>>> branch\n", "conflict markers"),
])
def test_broken_pointers_name_the_file_and_the_fix(text, needle):
    with pytest.raises(BadPointer) as info:
        pointer.parse(text.encode(), "models/churn.gitmodel")
    assert "models/churn.gitmodel" in str(info.value)
    assert needle in str(info.value)
    assert info.value.hint


def test_truncated_pointer():
    text = pointer.Pointer(oid=OID, size=1).dumps().encode()
    with pytest.raises(BadPointer):
        pointer.parse(text[: len(text) // 2], "x.gitmodel")


def test_binary_or_huge_content_is_not_a_pointer():
    with pytest.raises(BadPointer, match="binary"):
        pointer.parse(b"\x80\x81\x00" * 10, "m.gitmodel")
    with pytest.raises(BadPointer, match="too large"):
        pointer.parse(b"x" * (pointer.MAX_SIZE + 1), "m.gitmodel")


def test_paths():
    assert pointer.pointer_path_for("models/churn/") == "models/churn.gitmodel"
    assert pointer.artifact_path_for("w.safetensors.gitmodel") == "w.safetensors"


EDGE_DOCS = [
    'a = 1\na = 2\n', '[t]\nx = 1\n[t]\ny = 2\n', 'a = 01\n', 'a = "x\n', 'a = 1 # note\n', 'a = +1\nb = -0\n',
    'a = 1.\n', 'a = .5\n', 'a = 1e5\nb = 1E-5\nc = -0.0\n', 'a = inf\nb = -inf\nc = +nan\n', 'a = [1, 2,]\n',
    'a = [1, [2]]\n', 'a = [null]\n', 'a = ["x", "y\\"z"]\n', 'a = {x = 1}\n', 'a.b = 1\n', '"a" = 1\n',
    '[a.b]\nc = 1\n[a]\nd = 2\n', '[a]\nb = 1\n[a.b]\nc = 2\n', 'a = 1\n[a]\n', '[ a . b ]\nc = true\n',
    '<<<<<<< HEAD\na = 1\n=======\na = 2\n>>>>>>> x\n', 'a = "tab\there"\n', 'a = "x"\r\nb = 2\r\n',
    'a = 2026-01-01\n', "a = 'lit'\n", 'a = """x"""\n', '[[t]]\na = 1\n', 'a = 1_000\n', 'a = 0x1f\n',
    '# only a comment\n\n   \n', 'a = "unicode é ✓"\n', 'a = "ctrl \x01"\n', 'a = [ ]\n', 'a=1\n', '\ta = 1\n',
    'a = true\nb = false\nc = truex\n', 'a = "#not a comment"\n', 'a = [1, "a,b", true, 2.5e-3]\n',
]


def _same(a, b) -> bool:
    import math

    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _check(text: str) -> bool:
    import tomllib

    fast = pointer._fast_toml(text.encode("utf-8"))
    try:
        strict = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert fast is None, f"fast path accepted invalid TOML: {text!r}"
        return False
    assert fast is None or _same(fast, strict), f"fast path disagrees on {text!r}: {fast} != {strict}"
    return fast is not None


def test_fast_pointer_reader_agrees_with_tomllib():
    import datetime
    import random

    from gitmodels.storage.pointer import Pointer

    for doc in EDGE_DOCS:
        _check(doc)
    rng = random.Random(7)
    scalars = [0, -3, 7, 10**15, 0.5, -2.25, 1e-05, 1.5e20, float("inf"), float("nan"), True, False, "", "plain",
               "with space", "a,b", "quote\"inside", "back\\slash", "é✓", "tab\tin", "line\nbreak",
               datetime.date(2026, 1, 2), [1, 2], ["x", "y"], [], [1, "a", True], [[1], [2]], {"k": 1}]
    fast_hits = 0
    for i in range(400):
        meta = {}
        for table in rng.sample(["model", "runtime", "metrics", "params", "tags", "custom-x"], rng.randint(0, 4)):
            meta[table] = {f"k{j}": rng.choice(scalars) for j in range(rng.randint(0, 5))}
            if rng.random() < 0.3:
                meta[table]["sub"] = {"n": rng.choice(scalars), "deeper": {"m": rng.choice(scalars)}}
        p = Pointer(oid=f"{i:064x}", size=rng.randint(0, 10**12), kind=rng.choice(["file", "dir"]),
                    files=rng.choice([None, 3]), meta=meta)
        fast_hits += _check(p.dumps())
    assert fast_hits > 100  # the common case takes the fast path
