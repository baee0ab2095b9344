"""The model registry across repositories (docs/registry.md): import, update, aliases, registry, load by URL.

Two real repositories, each with its own bare git server and directory model remote, driven through the
real CLI and git, as a producer team and a consumer team would.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gitmodels.registry import aliases
from tests.gitutil import World, commit_all, git, gitmodels, model_bytes, rev, sha256_of


def gm_json(cwd, *args, expect: int = 0) -> dict:
    proc = gitmodels(cwd, *args, "--json", check=False)
    assert proc.returncode == expect, proc.output
    doc = json.loads(proc.stdout)
    assert doc["format_version"] == 1
    return doc


def gm_fail(cwd, *args) -> str:
    proc = gitmodels(cwd, *args, check=False)
    assert proc.returncode != 0, proc.output
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("gitmodels: ") and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.fixture
def two(tmp_path, isolated_git):
    """(producer world, producer clone, consumer world, consumer clone): each its own server and model remote."""
    (tmp_path / "p").mkdir()
    (tmp_path / "c").mkdir()
    pw = World(tmp_path / "p", isolated_git).setup()
    cw = World(tmp_path / "c", isolated_git).setup()
    producer = pw.first_clone("train")
    consumer = cw.first_clone("serve")
    return pw, producer, cw, consumer


def train(world, work, data: bytes, auc: float, message: str, tag: str | None = None) -> str:
    world.add_model(work, "models/churn.bin", data)
    ptr = work / "models/churn.bin.gitmodel"
    ptr.write_text(ptr.read_text() + f"\n[metrics]\nauc = {auc}\n")
    commit_all(work, message)
    if tag:
        git(work, "tag", tag)
    git(work, "push", "-q", "origin", "main", "--tags")
    return rev(work)


def test_import_update_alias_and_a_clone_that_never_sees_the_producers_remote(two, tmp_path):
    pw, producer, cw, consumer = two
    v1 = model_bytes("churn-v1", 5000)
    c1 = train(pw, producer, v1, 0.81, "train v1", tag="v1")

    # Import at a tag, from the producer's git server (not a working copy).
    doc = gm_json(consumer, "import", str(pw.server), "models/churn.bin@v1", "-o", "models/")
    assert doc["path"] == "models/churn.bin" and doc["commit"] == c1 and doc["rev"] == "v1"
    assert (consumer / "models/churn.bin").read_bytes() == v1
    pointer = (consumer / "models/churn.bin.gitmodel").read_text()
    assert '[import]' in pointer and f'commit = "{c1}"' in pointer and f'url = "{pw.server}"' in pointer
    assert 'auc = 0.81' in pointer  # the source's metadata comes along
    commit_all(consumer, "import churn v1")
    # Pinned to the tag: an update while the tag has not moved changes nothing.
    c2 = train(pw, producer, model_bytes("churn-v2", 5000), 0.85, "train v2")
    up = gm_json(consumer, "update")
    assert [m["updated"] for m in up["models"]] == [False]

    # Follow the producer's alias instead; the producer aliases v2 as prod.
    gm_json(producer, "alias", "set", "models/churn.bin", "prod", "-m", "v2 wins")
    git(producer, "push", "-q", "--follow-tags", "origin", "main")
    doc = gm_json(consumer, "import", str(pw.server), "models/churn.bin@prod", "-o", "models/churn.bin", "--force")
    assert doc["commit"] == c2
    commit_all(consumer, "follow prod")

    # The producer trains v3 and moves prod to it; the consumer's update follows, showing the metric change.
    v3 = model_bytes("churn-v3", 6000)
    c3 = train(pw, producer, v3, 0.9, "train v3")
    gm_json(producer, "alias", "set", "models/churn.bin", "prod")
    git(producer, "push", "-q", "--follow-tags", "origin", "main")
    text = gitmodels(consumer, "update").stdout
    assert f"{c2[:8]} -> {c3[:8]}" in text and "metrics.auc  0.85 -> 0.9" in text
    assert (consumer / "models/churn.bin").read_bytes() == v3
    commit_all(consumer, "churn v3")
    git(consumer, "push", "-q", "origin", "main")  # pre-push copies the imported bytes to the consumer's remote
    assert (cw.models / "objects" / sha256_of(consumer / "models/churn.bin")[:2]).exists()

    # The producer's model remote (and git server) move away: a fresh clone of the consumer still gets the model.
    shutil.move(str(pw.models), str(tmp_path / "moved-models"))
    shutil.move(str(pw.server), str(tmp_path / "moved-server"))
    fresh = cw.clone("fresh")
    assert (fresh / "models/churn.bin").read_bytes() == v3
    # ... and the consumer itself works offline from its cache: get, load-by-show, update --frozen.
    gm_json(consumer, "get", "models/churn.bin@HEAD~1", "-o", str(tmp_path / "old.bin"))
    assert (tmp_path / "old.bin").read_bytes() == model_bytes("churn-v2", 5000)  # HEAD~1: prod was v2
    assert gm_json(consumer, "update", "--frozen")["models"][0]["updated"] is False
    # Now the source is gone, a moving update says so in one line.
    err = gm_fail(consumer, "update")
    assert "cannot read the git repository" in err


def test_clone_needs_the_producer_remote_when_copying_is_switched_off(two, tmp_path):
    pw, producer, cw, consumer = two
    train(pw, producer, model_bytes("a", 3000), 0.7, "train", tag="v1")
    cfg = consumer / "gitmodels.toml"
    cfg.write_text(cfg.read_text() + "\n[imports]\ncopy_objects = false\n")
    gm_json(consumer, "import", str(pw.server), "models/churn.bin@v1")
    commit_all(consumer, "import")
    git(consumer, "push", "-q", "origin", "main")
    oid = sha256_of(consumer / "churn.bin")
    assert not (cw.models / "objects" / oid[:2] / oid).exists()  # not copied
    fresh = cw.clone("fresh")
    assert not (fresh / "churn.bin").exists()
    doc = gm_json(fresh, "update", "--frozen")  # the bytes come from the producer's remote instead
    assert doc["models"][0]["fetched"] >= 1 and sha256_of(fresh / "churn.bin") == oid


def test_get_and_load_from_another_repository(two, tmp_path):
    pw, producer, cw, consumer = two
    c1 = train(pw, producer, model_bytes("a", 3000), 0.7, "train", tag="v1")
    train(pw, producer, model_bytes("b", 3000), 0.8, "train 2")
    gm_json(producer, "alias", "set", "models/churn.bin", "prod", "v1")
    git(producer, "push", "-q", "origin", "refs/tags/alias/*")
    # Outside any repository: the user cache (XDG_CACHE_HOME) holds the mirror and the bytes.
    outside = tmp_path / "outside"
    outside.mkdir()
    doc = gm_json(outside, "get", str(pw.server), "models/churn.bin@prod", "-o", str(outside / "m.bin"))
    assert doc["commit"] == c1 and (outside / "m.bin").read_bytes() == model_bytes("a", 3000)
    doc = gm_json(consumer, "get", str(pw.server), "models/churn.bin", "-o", str(tmp_path / "head.bin"))
    assert (tmp_path / "head.bin").read_bytes() == model_bytes("b", 3000)
    # The old form still works.
    assert gm_fail(consumer, "get", "models/churn.bin", "-o", str(tmp_path / "x"))


def test_load_from_another_repository_and_the_signature_check(two, tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import gitmodels as api
    from gitmodels.errors import SignatureMismatch

    pw, producer, cw, consumer = two
    X = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [3.0, 2.0, 1.0]])
    clf = LogisticRegression().fit(X, [0, 1, 0, 1])
    cwd = os.getcwd()
    try:
        os.chdir(producer)
        api.save(clf, "models/clf", metrics={"auc": 0.5})
    finally:
        os.chdir(cwd)
    commit_all(producer, "clf")
    git(producer, "push", "-q", "origin", "main")
    gm_json(producer, "alias", "set", "models/clf", "prod")
    git(producer, "push", "-q", "origin", "refs/tags/alias/*")
    shown = gitmodels(producer, "show", "models/clf@prod").stdout
    assert "[model.signature]" in shown and "n_features  3" in shown
    os.chdir(consumer)
    try:
        model = api.load(f"file://{pw.server}#models/clf", rev="prod")
        assert list(model.predict(X)) == list(clf.predict(X))
        model = api.load("models/clf", rev="prod", source=str(pw.server), example=X)
        with pytest.raises(SignatureMismatch, match="expects 3 features, the example has 2"):
            api.load("models/clf", rev="prod", source=str(pw.server), example=X[:, :2])
    finally:
        os.chdir(cwd)


def test_alias_history_survives_push_and_a_fresh_clone(world):
    work = world.first_clone("alice")
    commits = []
    for i in range(3):
        world.add_model(work, "models/deep/churn.bin", model_bytes(f"v{i}"))
        commit_all(work, f"v{i}")
        commits.append(rev(work))
    env = {"GIT_COMMITTER_NAME": "Rita Release", "GIT_COMMITTER_EMAIL": "rita@example.com"}
    gitmodels(work, "alias", "set", "models/deep/churn.bin", "prod", commits[0], "-m", "first", extra_env=env)
    gitmodels(work, "alias", "set", "models/deep/churn.bin", "prod", commits[1], "-m", "second")
    gitmodels(work, "alias", "set", "models/deep/churn.bin", "prod", "HEAD", "-m", "third", extra_env=env)
    gitmodels(work, "alias", "set", "models/deep/churn.bin", "staging", "HEAD~1")
    # Same target again: no new tag.
    assert gm_json(work, "alias", "set", "models/deep/churn.bin", "staging", "HEAD~1")["changed"] is False
    git(work, "push", "-q", "--follow-tags", "origin", "main")
    clone = world.clone("bob")
    log = gm_json(clone, "alias", "log", "models/deep/churn.bin", "-a", "prod")["events"]
    assert [(e["commit"], e["previous"], e["message"], e["tagger"]) for e in log] == [
        (commits[2], commits[1], "third", "Rita Release"),
        (commits[1], commits[0], "second", "Test Committer"),
        (commits[0], None, "first", "Rita Release"),
    ]
    assert log[0]["tag"] == "alias/models/deep/churn.bin#prod#3" and log[0]["email"] == "rita@example.com"
    text = gitmodels(clone, "alias", "log", "models/deep/churn.bin").stdout
    assert "Rita Release" in text and "third" in text
    # The alias is a revision of that model everywhere.
    assert gm_json(clone, "show", "models/deep/churn.bin@prod")["commit"] == commits[2]
    assert gm_json(clone, "log", "models/deep/churn.bin", "--rev", "staging")["versions"][0]["commit"] == commits[1]
    d = gm_json(clone, "diff", "staging", "prod", "-p", "models/deep/churn.bin")
    assert d["old_commit"] == commits[1] and d["new_commit"] == commits[2] and d["changes"][0]["change"] == "modified"
    out = clone / "out.bin"
    gm_json(clone, "get", "models/deep/churn.bin@staging", "-o", str(out))
    assert out.read_bytes() == model_bytes("v1")
    listed = gm_json(clone, "alias", "list")["models"]["models/deep/churn.bin"]
    assert listed["prod"]["commit"] == commits[2]
    assert listed["prod"]["oid"] == "sha256:" + sha256_of(clone / "models/deep/churn.bin")
    # Remove: recorded, and the alias no longer resolves.
    gm_json(clone, "alias", "remove", "models/deep/churn.bin", "staging", "-m", "retired")
    err = gm_fail(clone, "show", "models/deep/churn.bin@staging")
    assert "alias 'staging' of models/deep/churn.bin was removed by" in err
    events = gm_json(clone, "alias", "log", "models/deep/churn.bin", "-a", "staging")["events"]
    assert [e["action"] for e in events] == ["remove", "set"]
    # The web UI's function: aliases per model with their versions.
    from gitmodels.repo import Repo

    with Repo(str(clone)) as r:
        assert set(aliases.with_versions(r)["models/deep/churn.bin"]) == {"prod"}


def test_tag_names_for_awkward_paths_are_valid_and_round_trip(tmp_path):
    for path in ["models/churn", "a b/.hidden/x.lock", "m#1/prod!", "ü/..x.", "weird%/@{x}"]:
        tag = aliases.tag_name(path, "prod", 12)
        assert git(tmp_path, "check-ref-format", f"refs/tags/{tag}", check=False).returncode == 0, tag
        assert aliases.parse_tag(tag) == (path, "prod", 12, False)
    assert aliases.parse_tag("v1.0") is None


def test_registry_lists_models_aliases_and_metrics(world):
    work = world.first_clone("alice")
    world.add_model(work, "models/a.bin", model_bytes("a1"))
    world.add_model(work, "models/b.bin", model_bytes("b1"))
    commit_all(work, "both")
    first = rev(work)
    world.add_model(work, "models/a.bin", model_bytes("a2"))
    p = work / "models/a.bin.gitmodel"
    p.write_text(p.read_text() + "\n[metrics]\nauc = 0.9\n")
    commit_all(work, "a2")
    (work / "README").write_text("x")
    commit_all(work, "unrelated")
    gitmodels(work, "alias", "set", "models/a.bin", "prod", "HEAD~2")
    doc = gm_json(work, "registry")
    by = {m["path"]: m for m in doc["models"]}
    assert by["models/a.bin"]["commit"] == rev(work, "HEAD~1") and by["models/a.bin"]["metrics"] == {"auc": 0.9}
    assert by["models/b.bin"]["commit"] == first
    assert by["models/a.bin"]["aliases"]["prod"]["commit"] == first
    assert by["models/a.bin"]["aliases"]["prod"]["oid"] == "sha256:" + __import__("hashlib").sha256(
        model_bytes("a1")).hexdigest()
    text = gitmodels(work, "registry").stdout
    assert "prod=" + first[:8] in text and "auc=0.9" in text


def test_one_line_errors(two, tmp_path):
    pw, producer, cw, consumer = two
    train(pw, producer, model_bytes("a", 3000), 0.7, "train", tag="v1")
    assert "cannot read the git repository" in gm_fail(consumer, "import", str(tmp_path / "nope"), "models/x")
    assert "is not a model in" in gm_fail(consumer, "import", str(pw.server), "models/other.bin")
    err = gm_fail(consumer, "import", str(pw.server), "models/churn.bin@nosuch")
    assert "neither an alias of models/churn.bin nor a revision" in err
    err = gm_fail(producer, "show", "models/churn.bin@nosuch")
    assert "unknown revision 'nosuch': neither an alias of models/churn.bin nor a git revision" in err
    assert "has no alias 'prod'" in gm_fail(producer, "alias", "remove", "models/churn.bin", "prod")
    assert "not a valid alias name" in gm_fail(producer, "alias", "set", "models/churn.bin", "bad#name")
    shutil.move(str(pw.models), str(tmp_path / "elsewhere"))  # the source's model remote is unreachable
    err = gm_fail(consumer, "import", str(pw.server), "models/churn.bin@v1")
    assert "model remote" in err and str(pw.server) in err
    assert not (consumer / "churn.bin.gitmodel").exists()
    # The local override (credentials and moved remotes stay local) reaches it.
    local = consumer / ".git/gitmodels/config.toml"
    local.write_text((local.read_text() if local.exists() else "") +
                     f'\n[imports.sources."{pw.server}"]\nurl = "{tmp_path / "elsewhere"}"\n')
    assert gm_json(consumer, "import", str(pw.server), "models/churn.bin@v1")["fetched"] >= 1


def test_signature_check_names_counts_and_dtypes():
    import numpy as np

    from gitmodels.errors import SignatureMismatch
    from gitmodels.registry.signature import check

    meta = {"model": {"signature": {"n_features": 2, "feature_names": ["age", "spend"],
                                    "dtypes": ["float64", "float64"]}}}
    check(meta, [{"age": 1.0, "spend": 2.0}], "m")
    check(meta, np.zeros((3, 2)), "m")
    with pytest.raises(SignatureMismatch, match=r"missing \['spend'\]; unexpected \['tenure'\]"):
        check(meta, [{"age": 1.0, "tenure": 2.0}], "m")
    with pytest.raises(SignatureMismatch, match="feature age has dtype int64, the model expects float64"):
        check(meta, np.zeros((3, 2), dtype=np.int64), "m")
    with pytest.raises(SignatureMismatch, match="expects 2 features, the example has 3"):
        check(meta, [[1, 2, 3]], "m")
    check({"model": {}}, [[1, 2, 3]], "m")  # no signature recorded: nothing to check


def test_registry_benchmark_runs_small(tmp_path):
    """benchmarks/registry_bench.py end to end on a small repository (no timing asserted: the numbers are in
    docs/registry.md); it checks every model got a latest version and half of them their aliases."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "registry_bench.py"), "--commits", "60",
                           "--models", "10", "--repeat", "1"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["models"] == 10 and doc["models_with_aliases"] == 5
