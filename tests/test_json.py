"""`--json` of every command is a stable, documented shape (docs/json.md).

Each test runs the real CLI on a scratch repository (real git, a directory
remote), parses what it prints, and checks the exact keys and the form of the
values: `format_version`, oids as `sha256:<hex>`, sizes as integer bytes,
status states named as the text names them. The examples in docs/json.md
must have the same keys as the real output.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from gitmodels.workspace.status import STATES
from tests.gitutil import add_model, git, gitmodels, model_bytes
from tests.requires import require_module

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"
OID = re.compile(r"sha256:[0-9a-f]{64}\Z")
COMMIT = re.compile(r"[0-9a-f]{40}\Z")


def run_json(work, *args: str, expect: int = 0) -> dict:
    proc = gitmodels(work, *args, "--json", check=False)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict) and next(iter(doc)) == "format_version" and doc["format_version"] == 1
    check_forms(doc)
    return doc


def check_forms(value, key: str = "") -> None:
    """Every oid is `sha256:<hex>`, every size an integer, every commit a full sha, every state a STATES name."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_forms(v, k)
        return
    if isinstance(value, list):
        for item in value:
            check_forms(item, key)
        return
    if value is None:
        return
    if key == "oid" or key.endswith(("_oid", "_oids")) or key in ("affects", "chunk_recipes_delete",
                                                                    "chunk_packs_delete"):
        assert isinstance(value, str) and OID.match(value), f"{key}: {value!r} is not sha256:<hex>"
    elif key in ("size", "bytes") or key.endswith(("_size", "_bytes", "size_delta")):
        assert type(value) is int, f"{key}: {value!r} is not integer bytes"
    elif key == "commit" or key.endswith("_commit"):
        assert isinstance(value, str) and COMMIT.match(value), f"{key}: {value!r}"
    elif key == "state":
        assert value in STATES, f"state {value!r} is not one of {sorted(STATES)}"


def keys_of(doc, opaque: tuple[str, ...] = ()) -> set[str]:
    """Dotted key paths (lists as `[]`), not descending into free-form tables (metrics, settings...)."""
    out: set[str] = set()

    def walk(value, prefix: str) -> None:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                continue
            for k, v in item.items():
                path = f"{prefix}{'[]' if isinstance(value, list) else ''}.{k}".lstrip(".")
                out.add(path)
                if k not in opaque:
                    walk(v, path)

    walk(doc, "")
    return out


def documented(command: str) -> dict:
    """The first JSON example under docs/json.md's `## gitmodels <command>` heading."""
    text = DOC.read_text()
    m = re.search(r"^## `gitmodels " + re.escape(command) + r"`.*?^```json\n(.*?)^```", text, re.S | re.M)
    assert m, f"docs/json.md has no example for `gitmodels {command}`"
    return json.loads(m.group(1))


def expect_keys(command: str, doc: dict, expected: set[str], opaque: tuple[str, ...] = ()) -> None:
    assert keys_of(doc, opaque) == expected
    assert keys_of(documented(command), opaque) == expected, f"docs/json.md's {command} example drifted"


@pytest.fixture
def models(repo):
    """Two versions of a file model with metrics and params, and a directory model; v1.0 tags the first."""
    oids = {"v1": add_model(repo, "models/churn.bin", model_bytes("churn-1"),
                            {"metrics": {"auc": 0.8}, "params": {"depth": 3}}),
            "enc": add_model(repo, "models/enc", {"vocab.txt": b"a\nb\n", "w.bin": model_bytes("w", 3000)})}
    git(repo, "commit", "-qm", "train v1")
    git(repo, "tag", "v1.0")
    oids["v2"] = add_model(repo, "models/churn.bin", model_bytes("churn-2"),
                           {"metrics": {"auc": 0.85}, "params": {"depth": 5}})
    git(repo, "commit", "-qm", "train v2")
    return repo, oids


MODEL_STATUS = {"path", "pointer_path", "state", "oid", "size", "kind", "in_cache", "error"}


def test_status_names_states_as_the_text_does(models):
    work, oids = models
    for name, seed in (("modified", "m"), ("missing", "x"), ("uncached", "u")):
        add_model(work, f"models/{name}.bin", model_bytes(seed))
    Path(work, "models/modified.bin").unlink()
    Path(work, "models/modified.bin").write_bytes(b"changed by hand")
    Path(work, "models/missing.bin").unlink()
    uncached = Path(work, ".git/gitmodels/objects", sha(model_bytes("u"))[:2], sha(model_bytes("u")))
    uncached.unlink()
    Path(work, "models/bad.bin.gitmodel").write_text("<<<<<<< HEAD\noid = 1\n=======\n>>>>>>> x\n")
    git(work, "add", "models/bad.bin.gitmodel")

    doc = run_json(work, "status")
    assert keys_of(doc) == {"format_version", "models"} | {f"models[].{k}" for k in MODEL_STATUS}  # no `pushed`
    by = {m["path"]: m for m in doc["models"]}
    assert {p: m["state"] for p, m in by.items()} == {
        "models/bad.bin": "bad-pointer", "models/churn.bin": "up-to-date", "models/enc": "up-to-date",
        "models/missing.bin": "missing", "models/modified.bin": "modified", "models/uncached.bin": "not-in-cache"}
    assert by["models/churn.bin"]["oid"] == "sha256:" + oids["v2"] and by["models/churn.bin"]["size"] == 4096
    assert by["models/bad.bin"]["oid"] is None and by["models/bad.bin"]["error"]
    # The text prints, for each model, the label of the very state the JSON names.
    text = gitmodels(work, "status").stdout
    for path, m in by.items():
        (line,) = [ln for ln in text.splitlines() if ln.startswith(path + " ")]
        assert STATES[m["state"]] in line, line


def test_status_pushed_is_a_boolean_once_the_remote_is_checked(models):
    work, _ = models
    Path(work, "models/bad.bin.gitmodel").write_text("not a pointer\n")
    git(work, "add", "models/bad.bin.gitmodel")
    doc = run_json(work, "status", "--remote")
    expect_keys("status", doc,
                {"format_version", "remote", "models"} | {f"models[].{k}" for k in MODEL_STATUS | {"pushed"}})
    assert doc["remote"] == "origin"
    assert {m["path"]: m["pushed"] for m in doc["models"]} == {
        "models/bad.bin": None, "models/churn.bin": False, "models/enc": False}
    git(work, "rm", "-qf", "models/bad.bin.gitmodel")
    gitmodels(work, "push")
    # A model whose bytes left the cache is still checked on the remote.
    oid = {m["path"]: m for m in run_json(work, "status")["models"]}["models/churn.bin"]["oid"][len("sha256:"):]
    Path(work, ".git/gitmodels/objects", oid[:2], oid).unlink()
    doc = run_json(work, "status", "--remote")
    assert {m["path"]: (m["state"], m["pushed"]) for m in doc["models"]} == {
        "models/churn.bin": ("not-in-cache", True), "models/enc": ("up-to-date", True)}


def test_ls(models):
    work, oids = models
    doc = run_json(work, "ls")
    expect_keys("ls", doc, {"format_version", "rev", "models"} | {
        f"models[].{k}" for k in ("path", "oid", "size", "kind", "files", "framework", "in_cache")})
    assert [(m["path"], m["oid"], m["files"]) for m in doc["models"]] == [
        ("models/churn.bin", "sha256:" + oids["v2"], None), ("models/enc", "sha256:" + oids["enc"], 2)]
    assert run_json(work, "ls", "--rev", "v1.0")["models"][0]["oid"] == "sha256:" + oids["v1"]


def test_show(models):
    work, oids = models
    doc = run_json(work, "show", "models/churn.bin@v1.0")
    expect_keys("show", doc, {"format_version", "path", "pointer_path", "rev", "commit", "in_cache", "version",
                              "oid", "size", "kind", "files", "metrics", "params"}, opaque=("metrics", "params"))
    assert doc["oid"] == "sha256:" + oids["v1"] and doc["rev"] == "v1.0" and doc["metrics"] == {"auc": 0.8}
    assert f'oid = "{doc["oid"]}"' in git(work, "show", "v1.0:models/churn.bin.gitmodel").stdout  # as in pointers
    workspace = run_json(work, "show", "models/churn.bin")
    assert workspace["rev"] is None and workspace["commit"] is None


def test_log(models):
    work, oids = models
    doc = run_json(work, "log", "models/churn.bin")
    expect_keys("log", doc, {"format_version", "path", "rev", "versions"} | {
        f"versions[].{k}" for k in ("commit", "date", "author", "email", "summary", "path", "change", "oid", "size",
                                    "kind", "files", "metrics", "params", "renamed_from", "error")},
                opaque=("metrics", "params"))
    assert doc["rev"] == "HEAD"
    assert [(v["change"], v["oid"], v["summary"]) for v in doc["versions"]] == [
        ("modified", "sha256:" + oids["v2"], "train v2"), ("added", "sha256:" + oids["v1"], "train v1")]
    # The text table names its column as the JSON does.
    assert "summary" in gitmodels(work, "log", "models/churn.bin").stdout.splitlines()[0].split()


def test_diff(models):
    work, oids = models
    doc = run_json(work, "diff", "v1.0", "main")
    change = {f"changes[].{k}" for k in ("path", "change", "old_path", "old_oid", "new_oid", "old_size", "new_size",
                                         "size_delta", "kind", "metrics", "params", "meta")}
    expect_keys("diff", doc, {"format_version", "old", "new", "old_commit", "new_commit", "changes", "errors",
                              "changes[].metrics[].name", "changes[].metrics[].old", "changes[].metrics[].new",
                              "changes[].metrics[].delta", "changes[].params[].name", "changes[].params[].old",
                              "changes[].params[].new"} | change)
    (ch,) = doc["changes"]
    assert (ch["old_oid"], ch["new_oid"]) == ("sha256:" + oids["v1"], "sha256:" + oids["v2"])
    assert ch["metrics"] == [{"name": "auc", "old": 0.8, "new": 0.85, "delta": 0.05}]
    Path(work, "models/bad.bin.gitmodel").write_text("not a pointer\n")
    git(work, "add", "models/bad.bin.gitmodel")
    doc = run_json(work, "diff", "v1.0")
    assert doc["new"] == "workspace" and doc["new_commit"] is None
    assert [sorted(e) for e in doc["errors"]] == [["error", "path", "side"]]


def test_get(models, tmp_path):
    work, oids = models
    doc = run_json(work, "get", "models/churn.bin@v1.0", "-o", str(tmp_path / "out"))
    expect_keys("get", doc, {"format_version", "path", "dest", "commit", "oid", "kind", "size", "files", "fetched"})
    assert doc["oid"] == "sha256:" + oids["v1"] and Path(doc["dest"]).read_bytes() == model_bytes("churn-1")


def test_remote_list(models, tmp_path):
    work, _ = models
    gitmodels(work, "remote", "add", "cloud", "s3://bucket/prefix", "-s", "region=eu-west-1", "-s",
              "secret_access_key=hunter2", "--local")
    doc = run_json(work, "remote", "list")
    expect_keys("remote list", doc, {"format_version", "remotes"} | {
        f"remotes[].{k}" for k in ("name", "url", "default", "config", "settings")}, opaque=("settings",))
    assert [(r["name"], r["default"], r["config"], r["settings"]) for r in doc["remotes"]] == [
        ("cloud", False, "local", {"region": "eu-west-1", "secret_access_key": "***"}), ("origin", True, "shared", {})]
    assert "hunter2" not in json.dumps(doc)


def test_stats(models):
    require_module("pyfastcdc")
    work, _ = models
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\n")
    add_model(work, "big.bin", model_bytes("big", 300_000))
    git(work, "commit", "-qm", "big")
    gitmodels(work, "push")
    cache = {f"cache.{k}" for k in ("cache_dir", "objects", "bytes", "quarantined", "stale_tmp", "spares",
                                    "spare_bytes")}
    assert keys_of(run_json(work, "stats")) == {"format_version", "cache"} | cache
    doc = run_json(work, "stats", "--remote")
    expect_keys("stats", doc, {"format_version", "cache", "remote"} | cache | {
        f"remote.{k}" for k in ("name", "url", "objects", "bytes", "other_keys", "other_bytes", "chunking",
                                "models")} | {
        f"remote.chunking.{k}" for k in ("objects", "bytes_referenced", "bytes_stored", "packs", "pack_bytes",
                                         "recipe_bytes", "dedup_ratio")} | {
        f"remote.models[].{k}" for k in ("path", "size", "storage", "unique_bytes")})
    assert {m["path"]: m["storage"] for m in doc["remote"]["models"]}["big.bin"] == "chunked"


def test_fsck(models):
    work, oids = models
    gitmodels(work, "push")
    bad = Path(work, ".git/gitmodels/objects", oids["v2"][:2], oids["v2"])
    bad.chmod(0o644)
    bad.write_bytes(b"x" + bad.read_bytes()[1:])
    doc = run_json(work, "fsck", "--remote", expect=6)
    expect_keys("fsck", doc, {"format_version", "ok", "results"} | {
        f"results[].{k}" for k in ("scope", "checked", "bytes", "ok", "corrupt", "stray", "other_keys",
                                   "chunk_packs")} | {
        f"results[].corrupt[].{k}" for k in ("oid", "where", "error", "models", "refs", "quarantined_to",
                                             "repaired", "affects", "kind")})
    assert doc["ok"] is False and [r["scope"] for r in doc["results"]] == ["cache", "remote origin"]
    (problem,) = doc["results"][0]["corrupt"]
    assert problem["oid"] == "sha256:" + oids["v2"] and problem["affects"] == [problem["oid"]]


def test_gc_dry_run(models):
    work, oids = models
    gitmodels(work, "push")
    add_model(work, "models/churn.bin", model_bytes("scratch"))  # replaced before any commit: garbage
    add_model(work, "models/churn.bin", model_bytes("churn-2"))
    plan = {f"plan.{k}" for k in ("all_commits", "cache_objects", "cache_bytes", "keep", "keep_bytes", "delete",
                                  "delete_bytes", "protected", "protected_bytes", "checked_remote", "stale_tmp",
                                  "spares", "spare_bytes", "deleted_oids", "warnings")}
    top = {"format_version", "dry_run", "plan", "deleted", "deleted_bytes", "tmp_removed", "remote_deleted",
           "remote_deleted_bytes", "remote_failed"}
    local = run_json(work, "gc", "--dry-run")
    assert keys_of(local) == top | plan
    assert local["plan"]["deleted_oids"] == ["sha256:" + sha(model_bytes("scratch"))]
    doc = run_json(work, "gc", "--dry-run", "--remote")
    expect_keys("gc", doc, top | plan | {"plan.remote"} | {
        f"plan.remote.{k}" for k in ("name", "url", "objects", "bytes", "keep", "delete", "delete_bytes",
                                     "other_keys", "stray_keys", "deleted_oids", "chunk_recipes_delete",
                                     "chunk_packs_delete", "reasons", "git_remotes", "git_refs", "marked",
                                     "waiting", "young", "grace_days")})
    assert doc["dry_run"] is True and doc["plan"]["remote"]["name"] == "origin"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the registry (docs/registry.md) -----------------------------------------------------------


def test_registry_and_aliases(models):
    work, oids = models
    doc = run_json(work, "alias", "set", "models/churn.bin", "prod", "v1.0", "-m", "approved")
    expect_keys("alias set", doc, {"format_version", "path", "name", "commit", "previous", "changed", "tag", "number"})
    assert doc["tag"] == "alias/models/churn.bin#prod#1" and doc["changed"] is True
    run_json(work, "alias", "set", "models/churn.bin", "prod", "-m", "v2")
    alias_entry = {"commit", "oid", "size", "date", "tagger"}
    doc = run_json(work, "alias", "list")
    expect_keys("alias list", doc, {"format_version", "models", "models.models/churn.bin",
                                    "models.models/churn.bin.prod"} | {f"models.models/churn.bin.prod.{k}"
                                                                       for k in alias_entry})
    assert doc["models"]["models/churn.bin"]["prod"]["oid"] == "sha256:" + oids["v2"]
    doc = run_json(work, "alias", "log", "models/churn.bin")
    expect_keys("alias log", doc, {"format_version", "path", "events"} | {
        f"events[].{k}" for k in ("path", "name", "number", "action", "commit", "tagger", "email", "date", "message",
                                  "tag", "previous")})
    assert [e["message"] for e in doc["events"]] == ["v2", "approved"]
    doc = run_json(work, "registry")
    expect_keys("registry", doc, {"format_version", "rev", "models"} | {
        f"models[].{k}" for k in ("path", "commit", "date", "author", "oid", "size", "kind", "metrics", "aliases",
                                  "source", "error")} | {"models[].aliases.prod"} | {
        f"models[].aliases.prod.{k}" for k in alias_entry}, opaque=("metrics",))
    by = {m["path"]: m for m in doc["models"]}
    assert by["models/churn.bin"]["oid"] == "sha256:" + oids["v2"] and by["models/enc"]["aliases"] == {}


def test_import_and_update(models, tmp_path):
    work, oids = models
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    git(consumer, "init", "-q")
    gitmodels(consumer, "init", "--no-hooks", "--remote", str(tmp_path / "consumer-remote"))
    git(consumer, "commit", "-qm", "init")
    gitmodels(work, "push", "--rev", "v1.0")
    gitmodels(work, "push")
    doc = run_json(consumer, "import", str(work), "models/churn.bin@v1.0")
    keys = {"path", "url", "source_path", "rev", "commit", "old_commit", "oid", "size", "kind", "fetched", "updated",
            "change"}
    expect_keys("import", doc, {"format_version"} | keys)
    assert doc["oid"] == "sha256:" + oids["v1"] and doc["fetched"] == 1
    pointer = Path(consumer, "churn.bin.gitmodel")
    pointer.write_text(pointer.read_text().replace('rev = "v1.0"', 'rev = "main"'))
    doc = run_json(consumer, "update")
    change = {f"models[].change.{k}" for k in ("path", "change", "old_path", "old_oid", "new_oid", "old_size",
                                               "new_size", "size_delta", "kind", "metrics", "params", "meta")}
    expect_keys("update", doc, {"format_version", "models"} | {f"models[].{k}" for k in keys} | change,
                opaque=("metrics", "params", "meta"))
    (m,) = doc["models"]
    assert m["updated"] and m["oid"] == "sha256:" + oids["v2"] and m["change"]["new_oid"] == m["oid"]
