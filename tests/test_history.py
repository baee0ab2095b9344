"""log, diff, show and get over a real git history: renames, merges, tags, deletions, shallow clones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitmodels import history
from gitmodels.repo import Repo
from tests.gitutil import blob, cache_oids, flip_byte, object_path


def rows(sb, work, *args):
    return sb.gm(work, "log", *args, "--json").json()["versions"]


# -- log -----------------------------------------------------------------------------------------


def test_log_follows_the_model_through_rename_and_merge(built):
    sb, h = built
    got = rows(sb, h.work, "models/churn-model.bin")
    c = h.commits
    assert [(r["commit"], r["change"], r["path"]) for r in got] == [
        (c["c7"], "modified", "models/churn-model.bin"),
        (c["c6"], "modified", "models/churn-model.bin"),  # the merge brought exp's version in
        (c["c4"], "renamed", "models/churn-model.bin"),
        (c["c3"], "modified", "models/churn.bin"),
        (c["c2"], "modified", "models/churn.bin"),
        (c["c1"], "added", "models/churn.bin"),
    ]
    assert got[2]["renamed_from"] == "models/churn.bin"
    assert [r["metrics"]["auc"] for r in got] == [0.90, 0.87, 0.85, 0.87, 0.85, 0.80]
    assert [r["oid"] for r in got] == ["sha256:" + h.oids[k] for k in ("churn-v5", "churn-v3", "churn-v2", "churn-v3",
                                                             "churn-v2", "churn-v1")]
    assert got[0]["summary"] == "train v5 (unpushed)" and got[0]["author"] == "Hist Tester"
    assert got[0]["date"].endswith("+00:00") and got[0]["params"] == {"depth": 6}
    # The same history, asked for by the old name from a revision where it had it.
    old = rows(sb, h.work, "models/churn.bin", "--rev", "v1.0")
    assert [r["commit"] for r in old] == [c["c2"], c["c1"]]


def test_log_table_limit_and_the_real_entry_point(built):
    sb, h = built
    text = sb.gm(h.work, "log", "models/churn-model.bin").out
    header = text.splitlines()[0].split()
    assert header[:3] == ["commit", "date", "author"] and "auc" in header and "loss" in header
    assert "renamed (from models/churn.bin)" in text
    limited = sb.gm_proc(h.work, "log", "models/churn-model.bin", "-n", "2", "--json").json()["versions"]
    assert [r["commit"] for r in limited] == [h.commits["c7"], h.commits["c6"]]
    at_rev = sb.gm_proc(h.work, "log", "models/churn-model.bin@HEAD~1", "--json").json()["versions"]
    assert at_rev[0]["commit"] == h.commits["c6"]


def test_log_of_a_deleted_model_and_of_an_unknown_one(built):
    sb, h = built
    got = rows(sb, h.work, "models/old.bin")
    assert [(r["commit"], r["change"]) for r in got] == [(h.commits["c1"], "added")]
    missing = sb.gm(h.work, "log", "models/nope.bin", expect=2)
    assert "not a tracked model" in missing.err and "Traceback" not in missing.err


def test_log_in_a_shallow_clone_goes_as_far_as_history_goes(built, tmp_path):
    sb, h = built
    shallow = tmp_path / "shallow"
    sb.git(h.root, "clone", "-q", "--depth", "2", f"file://{h.origin}", str(shallow))
    got = rows(sb, shallow, "models/churn-model.bin")
    assert got[0]["commit"] == h.commits["c6"]
    assert got[-1]["change"] == "shallow"
    assert {r["commit"] for r in got} <= {h.commits[k] for k in ("c6", "c5", "c3")}
    assert "shallow clone" in sb.gm(shallow, "log", "models/churn-model.bin").out


def test_log_over_a_merge_keeps_both_lines_once(built):
    sb, h = built
    got = rows(sb, h.work, "models/enc")
    c = h.commits
    # The merge kept main's side (same as its first parent): no new version there.
    assert [r["commit"] for r in got] == [c["c5"], c["c4b"], c["c3"], c["c1"]]
    assert all(r["kind"] == "dir" and r["files"] == 2 for r in got)


# -- diff ----------------------------------------------------------------------------------------


def test_diff_between_two_revisions_with_metric_deltas_and_params(built):
    sb, h = built
    d = sb.gm(h.work, "diff", "v1.0", "exp", "--json").json()
    assert d["old_commit"] == h.commits["c2"] and d["new_commit"] == h.commits["c3"]
    by = {c["path"]: c for c in d["changes"]}
    assert set(by) == {"models/churn.bin", "models/enc"}
    churn = by["models/churn.bin"]
    assert churn["change"] == "modified" and churn["old_oid"] == "sha256:" + h.oids["churn-v2"]
    assert churn["new_oid"] == "sha256:" + h.oids["churn-v3"]
    assert {m["name"]: m["delta"] for m in churn["metrics"]} == {"auc": 0.02, "loss": -0.05}
    assert churn["params"] == [{"name": "depth", "old": 3, "new": 5}]
    assert by["models/enc"]["size_delta"] == 200 and by["models/enc"]["kind"] == "dir"
    text = sb.gm(h.work, "diff", "v1.0", "exp").out
    assert "metrics.auc  0.85 -> 0.87  (+0.02)" in text and "metrics.loss  0.4 -> 0.35  (-0.05)" in text
    assert "params.depth  3 -> 5" in text and "(+200 B)" in text


def test_diff_sees_renames_additions_and_removals(built):
    sb, h = built
    d = sb.gm(h.work, "diff", h.commits["c2"], h.commits["c4"], "--json").json()
    assert [(c["change"], c["old_path"], c["path"]) for c in d["changes"]] == \
        [("renamed", "models/churn.bin", "models/churn-model.bin")]
    d = sb.gm(h.work, "diff", "v1.0", "main", "--json").json()
    changes = {(c["change"], c["path"]) for c in d["changes"]}
    assert ("removed", "models/old.bin") in changes
    assert ("added", "models/churn-model.bin") in changes and ("removed", "models/churn.bin") in changes
    assert sb.gm(h.work, "diff", "main", "main").out.startswith("no model changes")


def test_diff_against_the_workspace(hist):
    sb, h = hist
    assert sb.gm(h.work, "diff", "--json").json()["changes"] == []
    new = sb.add(h.work, "models/churn-model.bin", blob("churn-next"), {"auc": 0.95, "loss": 0.3}, {"depth": 6})
    os.unlink(h.work / "models/enc.gitmodel")  # deleted in the working tree, still staged
    d = sb.gm(h.work, "diff", "--json").json()
    assert d["new"] == "workspace" and d["new_commit"] is None
    by = {c["path"]: c for c in d["changes"]}
    assert by["models/churn-model.bin"]["new_oid"] == "sha256:" + new
    assert by["models/churn-model.bin"]["metrics"] == [{"name": "auc", "old": 0.90, "new": 0.95, "delta": 0.05}]
    assert by["models/enc"]["change"] == "removed"
    # One revision: that revision against the workspace.
    d = sb.gm(h.work, "diff", "v1.0", "--json").json()
    assert {c["path"] for c in d["changes"]} >= {"models/churn-model.bin", "models/old.bin"}
    # A pointer left with conflict markers is reported, not a crash.
    (h.work / "models/churn-model.bin.gitmodel").write_text("<<<<<<< HEAD\noid = 1\n=======\n>>>>>>> x\n")
    res = sb.gm(h.work, "diff", "--json")
    assert res.json()["errors"][0]["path"] == "models/churn-model.bin"


def test_diff_is_read_from_git_objects_only(hist):
    sb, h = hist
    sb.add(h.work, "models/churn-model.bin", blob("churn-next"))
    d = sb.gm(h.work, "diff", "HEAD~1", "HEAD", "--json").json()
    assert [c["new_oid"] for c in d["changes"]] == ["sha256:" + h.oids["churn-v5"]]


# -- show ----------------------------------------------------------------------------------------


def test_show_at_a_revision_and_in_the_workspace(hist):
    sb, h = hist
    info = sb.gm(h.work, "show", "models/churn.bin@v1.0", "--json").json()
    assert info["oid"] == "sha256:" + h.oids["churn-v2"] and info["commit"] == h.commits["c2"]
    assert info["metrics"] == {"auc": 0.85, "loss": 0.4} and info["params"] == {"depth": 3}
    assert info["kind"] == "file" and info["rev"] == "v1.0" and info["in_cache"] is True
    enc = sb.gm(h.work, "show", "models/enc", "--rev", "v1.0", "--json").json()
    assert enc["kind"] == "dir" and enc["files"] == 2
    # The working tree changes; @HEAD still reads git, the bare path reads the workspace.
    new = sb.add(h.work, "models/churn-model.bin", blob("churn-next"), {"auc": 0.99})
    at_head = sb.gm(h.work, "show", "models/churn-model.bin@HEAD", "--json").json()
    assert at_head["oid"] == "sha256:" + h.oids["churn-v5"]
    assert sb.gm(h.work, "show", "models/churn-model.bin", "--json").json()["oid"] == "sha256:" + new
    text = sb.gm(h.work, "show", "models/churn-model.bin@HEAD").out
    assert "models/churn-model.bin @ HEAD" in text and "[metrics]" in text and "auc" in text
    err = sb.gm(h.work, "show", "models/old.bin@HEAD", expect=2).err
    assert "not a tracked model at HEAD" in err
    assert "unknown revision" in sb.gm(h.work, "show", "models/old.bin@nope", expect=2).err


# -- get -----------------------------------------------------------------------------------------


def test_get_writes_an_old_version_without_touching_the_checkout(hist):
    sb, h = hist
    status = sb.git(h.work, "status", "--porcelain")
    pointer = (h.work / "models/churn-model.bin.gitmodel").read_bytes()
    artifact = (h.work / "models/churn-model.bin").read_bytes()
    out = h.root / "out"
    out.mkdir()  # an existing directory: the models go into it, by name
    res = sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(out), "--json").json()
    assert res["dest"] == str(out / "churn.bin") and res["fetched"] == 0
    assert (out / "churn.bin").read_bytes() == blob("churn-2")
    sb.gm(h.work, "get", "models/enc@v1.0", "-o", str(out))
    assert (out / "enc/vocab.txt").read_bytes() == blob("enc-vocab-1")
    assert (out / "enc/weights.bin").read_bytes() == blob("enc-w-1", 5000)
    assert sb.git(h.work, "status", "--porcelain") == status
    assert (h.work / "models/churn-model.bin.gitmodel").read_bytes() == pointer
    assert (h.work / "models/churn-model.bin").read_bytes() == artifact
    again = sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(out), expect=2)
    assert "already exists" in again.err and "--force" in again.err
    sb.gm(h.work, "get", "models/churn.bin@HEAD~5", "-o", str(out), "--force")  # c2, by first parents
    clobber = sb.gm(h.work, "get", "models/churn-model.bin@HEAD~1", "-o", str(h.work / "models"), "--force",
                    expect=2)
    assert "would overwrite the workspace model" in clobber.err
    assert (h.work / "models/churn-model.bin").read_bytes() == artifact
    sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1'][:10]}", "-o", str(out), "--force")
    assert (out / "churn.bin").read_bytes() == blob("churn-1")


def test_get_out_is_the_destination_unless_an_existing_directory(hist):
    """`-o OUT` as `cp -r` and `dvc get -o`: OUT itself when absent, OUT/<name> when an existing directory."""
    sb, h = hist
    absent_file, absent_dir, nested = h.root / "churn-v1.bin", h.root / "enc-v1", h.root / "a/b/churn.bin"
    res = sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(absent_file), "--json").json()
    assert res["dest"] == str(absent_file) and absent_file.read_bytes() == blob("churn-2")
    sb.gm(h.work, "get", "models/enc@v1.0", "-o", str(absent_dir))
    assert sorted(p.name for p in absent_dir.iterdir()) == ["vocab.txt", "weights.bin"]
    assert (absent_dir / "vocab.txt").read_bytes() == blob("enc-vocab-1")
    sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(nested))
    assert nested.read_bytes() == blob("churn-2")

    existing = h.root / "existing"
    existing.mkdir()
    sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(existing))
    sb.gm(h.work, "get", "models/enc@v1.0", "-o", str(existing))
    assert sorted(p.name for p in existing.iterdir()) == ["churn.bin", "enc"]
    assert (existing / "churn.bin").read_bytes() == blob("churn-2")
    assert (existing / "enc/weights.bin").read_bytes() == blob("enc-w-1", 5000)
    sb.gm(h.work, "get", "models/enc@v1.0", "-o", f"{h.root}/new-dir/")  # a trailing '/' asks for a directory
    assert (h.root / "new-dir/enc/vocab.txt").read_bytes() == blob("enc-vocab-1")

    # An existing file is replaced only with --force (the destination itself, never a folder inside it).
    err = sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1']}", "-o", str(absent_file), expect=2).err
    assert f"{absent_file} already exists" in err and "--force" in err
    sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1']}", "-o", str(absent_file), "--force")
    assert absent_file.read_bytes() == blob("churn-1")
    with Repo(str(h.work)) as repo:  # the library, as the CLI
        result = history.get(repo, str(h.work / "models/churn.bin"), "v1.0", str(h.root / "lib.bin"))
    assert result.dest == str(h.root / "lib.bin") and (h.root / "lib.bin").read_bytes() == blob("churn-2")


def test_get_fetches_what_the_cache_lacks_and_verifies_it(hist):
    sb, h = hist
    sb.gm(h.work, "gc")  # churn v1 is only on the remote now
    assert h.oids["churn-v1"] not in cache_oids(h.work)
    out = h.root / "out"
    res = sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1']}", "-o", f"{out}/", "--json").json()
    assert res["fetched"] == 1 and (out / "churn.bin").read_bytes() == blob("churn-1")
    # A damaged cached copy is moved aside and fetched again.
    flip_byte(object_path(h.work, h.oids["churn-v2"]))
    sb.gm(h.work, "get", "models/churn.bin@v1.0", "-o", str(out / "again"))
    assert (out / "again").read_bytes() == blob("churn-2")  # OUT itself: it did not exist
    assert any(h.oids["churn-v2"] in p.name for p in (h.work / ".git/gitmodels/quarantine").iterdir())


def test_get_refuses_damaged_bytes_and_missing_objects(hist):
    sb, h = hist
    sb.gm(h.work, "gc")
    oid = h.oids["churn-v1"]
    flip_byte(Path(h.store, "objects", oid[:2], oid))
    out = h.root / "out"
    err = sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1']}", "-o", str(out), expect=5).err
    assert "corrupt" in err and not out.exists()
    assert oid not in cache_oids(h.work)
    os.unlink(Path(h.store, "objects", oid[:2], oid))
    err = sb.gm(h.work, "get", f"models/churn.bin@{h.commits['c1']}", "-o", str(out), expect=5).err
    assert "cannot get model" in err and "Traceback" not in err


def test_library_api(built, monkeypatch):
    sb, h = built
    monkeypatch.chdir(h.work / "models")  # paths are relative to the current directory, as in the CLI
    with Repo(".") as repo:
        versions = history.log(repo, "churn-model.bin", limit=1)
        assert versions[0].commit == h.commits["c7"] and versions[0].metrics["auc"] == 0.9
        result = history.diff(repo, "v1.0", "exp", paths=["enc"])
        assert [c.path for c in result.changes] == ["models/enc"]
        assert result.counts()["modified"] == 1
        assert history.show(repo, "churn.bin.gitmodel", "v1.0")["oid"] == h.oids["churn-v2"]
    assert history.parse_spec("a@b@v1") == ("a@b", "v1")
    assert history.parse_spec("plain") == ("plain", None)
    assert history.parse_spec("a@b.bin", "v1") == ("a@b.bin", "v1")
    assert json.dumps(versions[0].to_json())


# -- the pointer fast path -----------------------------------------------------------------------

