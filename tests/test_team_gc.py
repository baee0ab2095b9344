"""Remote gc with many clones: its keep set is the team's (every ref on the git server, whole history), an
upload younger than the grace period survives whoever made it, and deletion takes two gcs (mark, then delete)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gitmodels.sync import pushlog
from tests.gitutil import Sandbox, remote_oids, sha256

DAY = 86400


def _clone(sb, root: Path, name: str, store: Path) -> Path:
    work = root / name
    sb.git(root, "clone", "-q", "origin.git", str(work))
    sb.gm(work, "init", "--no-hooks", "--remote", str(store))
    return work


def _backdate_logs(store: Path, oid: str, when: float) -> None:
    """Make every push log naming `oid` look written at `when` (what a real push that long ago leaves)."""
    for path in list(Path(store, "log").glob("*.json")):
        if oid in json.loads(path.read_text())["oids"]:
            doc = json.loads(path.read_text())
            doc["time"] = when
            path.unlink()
            Path(store, pushlog.new_key(pushlog.LOG_PREFIX, when)).write_text(json.dumps(doc))


def _mark(store: Path, oids: list[str], when: float) -> None:
    """A mark an earlier gc (on any clone) wrote at `when`."""
    key = Path(store, pushlog.new_key(pushlog.MARK_PREFIX, when))
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps({"version": 1, "kind": "gc-mark", "time": when, "oids": oids}))


def _refs(sb, work: Path) -> str:
    return sb.git(work, "for-each-ref", "--format=%(objectname) %(refname)")


def test_remote_gc_keeps_what_any_clone_or_server_ref_needs_and_deletes_only_aged_marked_garbage(tmp_path,
                                                                                                 monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    store = tmp_path / "store"
    store.mkdir()
    sb.git(tmp_path, "init", "-q", "--bare", "-b", "main", "origin.git")
    a = tmp_path / "a"
    sb.git(tmp_path, "init", "-q", "-b", "main", str(a))
    sb.git(a, "remote", "add", "origin", "../origin.git")
    sb.gm(a, "init", "--no-hooks", "--remote", str(store))
    a1 = sb.add(a, "a.bin", b"a one")
    sb.git(a, "add", "-A")
    sb.git(a, "commit", "-q", "-m", "a1")
    a1_commit = sb.git(a, "rev-parse", "HEAD")
    sb.gm(a, "push")
    sb.git(a, "push", "-q", "-u", "origin", "main")
    b, c = _clone(sb, tmp_path, "b", store), _clone(sb, tmp_path, "c", store)

    # A: a second version of a.bin on main (a1 is now only in history), and two uploads nobody will ever commit.
    a2 = sb.add(a, "a.bin", b"a two")
    sb.git(a, "commit", "-q", "-am", "a2")
    sb.gm(a, "push")
    sb.git(a, "push", "-q", "origin", "main")
    sb.git(a, "checkout", "-q", "-b", "throwaway")
    g1 = sb.add(a, "g.bin", b"garbage one")
    g2 = sb.add(a, "h.bin", b"garbage two")
    sb.git(a, "commit", "-q", "-m", "garbage")
    sb.gm(a, "push")
    # C: a branch pushed, then tagged and deleted on the server (only the tag keeps c1); an unpushed branch.
    sb.git(c, "checkout", "-q", "-b", "feat-c")
    c1 = sb.add(c, "c.bin", b"c one")
    sb.git(c, "commit", "-q", "-m", "c1")
    sb.gm(c, "push")
    sb.git(c, "push", "-q", "origin", "feat-c")
    sb.git(c, "tag", "v1")
    sb.git(c, "push", "-q", "origin", "v1")
    sb.git(c, "push", "-q", "origin", ":feat-c")
    # B: a branch pushed to the server; then an upload whose git push has not happened yet.
    sb.git(b, "checkout", "-q", "-b", "feat-b")
    b1 = sb.add(b, "b.bin", b"b one")
    sb.git(b, "commit", "-q", "-m", "b1")
    sb.gm(b, "push")
    sb.git(b, "push", "-q", "origin", "feat-b")

    # All of that was pushed a month ago, and an earlier gc (run from a clone that saw none of the refs)
    # marked it twenty days ago, g2 excepted: only the refs keep it now.
    now = time.time()
    for oid in (a1, a2, b1, c1, g1, g2):
        _backdate_logs(store, oid, now - 30 * DAY)
    _mark(store, [a1, a2, b1, c1, g1], now - 20 * DAY)
    # Today: C commits on a branch it never pushes to git, B uploads a model whose git push has not happened yet.
    sb.git(c, "checkout", "-q", "-b", "local-c")
    u1 = sb.add(c, "u.bin", b"unpushed branch")
    sb.git(c, "commit", "-q", "-m", "u1")
    sb.gm(c, "push")  # on the model remote; git push never happens
    w1 = sb.add(b, "b.bin", b"b in flight")
    sb.git(b, "commit", "-q", "-am", "w1")
    sb.gm(b, "push")
    every = {a1, a2, b1, c1, u1, w1, g1, g2}
    assert every <= remote_oids(store)
    before_refs = _refs(sb, b)

    # B's remote-tracking refs know nothing of the tag or of A's second version: the server's refs count.
    sb.git(b, "remote", "add", "gone", str(tmp_path / "nowhere.git"))
    refused = sb.gm(b, "gc", "--remote", "--yes", expect=1)
    assert "cannot read the refs of git remote gone" in refused.err and "nothing was deleted" in refused.err
    assert every <= remote_oids(store) and len(list(Path(store, "gc/marks").glob("*"))) == 1
    sb.git(b, "remote", "remove", "gone")
    before_refs = _refs(sb, b)
    dry = sb.gm(b, "gc", "--remote", "--dry-run")
    assert f"delete {g1}" in dry.out and "marked unreferenced by gc" in dry.out and f"mark   {g2}" in dry.out
    out = sb.gm(b, "gc", "--remote", "--yes", "--json").json()["plan"]["remote"]
    assert out["deleted_oids"] == ["sha256:" + g1]
    assert out["marked"] == ["sha256:" + g2]  # unreferenced, but marked only now: the next gc after 14 days
    assert set(out["young"]) == {"sha256:" + u1}  # C's unpushed branch: pushed within the grace period
    assert out["git_remotes"] == ["origin"]
    assert remote_oids(store) == (every | remote_oids(store)) - {g1}
    assert _refs(sb, b) == before_refs  # this clone's refs untouched, no private ref left behind
    # The same gc from another clone now deletes nothing more (g2's mark is too young).
    again = sb.gm(a, "gc", "--remote", "--yes", "--json").json()["plan"]["remote"]
    assert again["deleted_oids"] == [] and g2 in remote_oids(store)

    # Every ref on the server and the in-flight upload still pull, byte-identical.
    sb.git(b, "push", "-q", "origin", "feat-b")
    fresh = tmp_path / "fresh"
    sb.git(tmp_path, "clone", "-q", "origin.git", str(fresh))
    sb.gm(fresh, "init", "--no-hooks", "--remote", str(store))
    expect = {"main": {"a.bin": a2}, "feat-b": {"a.bin": a1, "b.bin": w1}, "v1": {"a.bin": a1, "c.bin": c1}}
    for ref, models in expect.items():
        sb.git(fresh, "checkout", "-q", ref)
        sb.gm(fresh, "pull")
        for path, oid in models.items():
            assert sha256(Path(fresh, path).read_bytes()) == oid
    sb.gm(fresh, "get", f"a.bin@{a1_commit}", "-o", str(tmp_path / "old"))
    assert sha256((tmp_path / "old").read_bytes()) == a1
    sb.git(fresh, "checkout", "-q", "feat-b~1")
    sb.gm(fresh, "pull")
    assert sha256(Path(fresh, "b.bin").read_bytes()) == b1
    assert os.path.isdir(store / "log")
