import pytest

from gitmodels import pointer
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
