"""gc: in every state of a real git history, nothing a checkout needs is deleted; garbage is."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tests.gitutil import (
    Sandbox,
    blob,
    build_history,
    cache_oids,
    manifest_oids,
    object_path,
    remote_oids,
    sha256,
    verify_checkouts,
)
from tests.seeded import seeded_bytes


def enc_objects(h, label: str) -> set[str]:
    oid = h.oids[label]
    return {oid, *manifest_oids(h.work, oid)}


def test_gc_in_every_state_keeps_what_every_checkout_needs(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    states = []

    def gc_then_check(label: str) -> None:
        work = tmp_path / "r" / "work"
        before = cache_oids(work)
        sb.gm(work, "gc")
        after = cache_oids(work)
        assert after <= before
        checked = verify_checkouts(sb, work, tmp_path / "scratch")
        assert "HEAD" in checked and "refs/heads/main" in checked
        states.append((label, len(before - after), checked))

    h = build_history(sb, tmp_path / "r", after_step=gc_then_check)
    assert [s[0] for s in states] == ["c1", "c2", "c3", "c4b", "c5", "conflict", "c6", "c7", "c8", "stash",
                                      "loose"]
    cached = cache_oids(h.work)
    # What gc must have deleted: versions only pushed history uses, and the discarded ones.
    for label in ("churn-v1", "scratch1", "scratch2"):
        assert h.oids[label] not in cached, label
    # What it must have kept: every tip, the unpushed work, the stash, and history the remote lacks.
    for label in ("churn-v2", "churn-v3", "churn-v5", "churn-v6", "wip-v1", "old-v1", "enc-v1", "enc-v2", "enc-v4"):
        assert h.oids[label] in cached, label
    assert enc_objects(h, "enc-v3") <= cached  # pushed to git, never to the model remote
    final = dict((s[0], s[2]) for s in states)
    assert {"refs/heads/wip", "refs/tags/v1.0", "stash@{0}", "refs/heads/exp"} <= set(final["loose"])


def test_dry_run_deletes_nothing_then_gc_deletes_exactly_the_plan(hist):
    sb, h = hist
    before = cache_oids(h.work)
    plan = sb.gm(h.work, "gc", "--dry-run", "--json").json()
    assert cache_oids(h.work) == before
    expected = {h.oids["churn-v1"], h.oids["scratch1"], h.oids["scratch2"]}
    assert set(plan["plan"]["deleted_oids"]) == {"sha256:" + o for o in expected}
    assert plan["plan"]["protected"] == 2 and plan["plan"]["checked_remote"] == "origin"
    text = sb.gm(h.work, "gc", "--dry-run").out
    assert "delete  3 object(s)" in text and "dry run: nothing was deleted" in text
    sb.gm(h.work, "gc")
    assert cache_oids(h.work) == before - expected
    assert sb.gm(h.work, "gc", "--json").json()["deleted"] == 0  # idempotent
    verify_checkouts(sb, h.work, h.root / "scratch")


def test_history_the_remote_lacks_is_kept_until_pushed(hist):
    sb, h = hist
    enc3 = enc_objects(h, "enc-v3") - enc_objects(h, "enc-v1")  # its manifest and its own weights file
    assert len(enc3) == 2
    sb.gm(h.work, "gc")
    assert enc3 <= cache_oids(h.work)
    sb.gm(h.work, "push", "--rev", h.commits["c4b"])
    sb.gm(h.work, "gc")
    assert not enc3 & cache_oids(h.work)
    # ... and it can still be had from the remote.
    sb.gm(h.work, "get", f"models/enc@{h.commits['c4b']}", "-o", f"{h.root / 'out'}/")  # into out/
    assert (h.root / "out/enc/weights.bin").read_bytes() == blob("enc-w-3", 5300)


def test_offline_unreachable_or_no_remote_keeps_all_history(hist):
    sb, h = hist
    churn1 = h.oids["churn-v1"]
    sb.gm(h.work, "gc", "--offline")
    assert churn1 in cache_oids(h.work) and h.oids["scratch1"] not in cache_oids(h.work)
    os.rename(h.store, h.root / "store-gone")
    plan = sb.gm(h.work, "gc", "--dry-run", "--json").json()["plan"]
    assert "sha256:" + churn1 not in plan["deleted_oids"]
    os.rename(h.root / "store-gone", h.store)
    sb.gm(h.work, "remote", "remove", "origin")
    plan = sb.gm(h.work, "gc", "--dry-run", "--json").json()["plan"]
    assert "sha256:" + churn1 not in plan["deleted_oids"] and any("no model remote" in w for w in plan["warnings"])


def test_all_commits_keeps_every_version(hist):
    sb, h = hist
    sb.gm(h.work, "gc", "--all-commits")
    cached = cache_oids(h.work)
    assert h.oids["churn-v1"] in cached
    assert h.oids["scratch1"] not in cached and h.oids["scratch2"] not in cached


def test_reflog_and_stash_protect_unpushed_work_until_git_drops_them(hist):
    sb, h = hist
    v5, v6 = h.oids["churn-v5"], h.oids["churn-v6"]
    sb.gm(h.work, "checkout", "--force")
    v5b = sb.add(h.work, "models/churn-model.bin", blob("churn-5b"), {"auc": 0.905})
    sb.git(h.work, "commit", "-q", "--amend", "-m", "train v5b")
    amended = sb.git(h.work, "rev-parse", "HEAD")
    sb.add(h.work, "models/churn-model.bin", blob("churn-5c"), {"auc": 0.906})
    sb.git(h.work, "commit", "-q", "--amend", "-m", "train v5c")  # `amended` is now only in the reflog
    sb.gm(h.work, "gc")
    assert {v5b, v6} <= cache_oids(h.work)
    wt = h.root / "wt-amended"
    sb.git(h.work, "worktree", "add", "-q", "--detach", str(wt), amended)
    sb.gm(wt, "checkout", "--no-fetch")
    sb.git(h.work, "worktree", "remove", "--force", str(wt))
    sb.git(h.work, "stash", "drop", "-q")
    sb.git(h.work, "reflog", "expire", "--expire=now", "--all")
    sb.gm(h.work, "gc")
    cached = cache_oids(h.work)
    assert v5b not in cached and v6 not in cached
    assert v5 in cached  # the original c7 is still the parent of the unpushed wip branch
    verify_checkouts(sb, h.work, h.root / "scratch")


def test_worktrees_index_untracked_pointers_and_links_are_kept(hist):
    sb, h = hist
    churn1 = h.oids["churn-v1"]
    wt = h.root / "wt-c1"
    sb.git(h.work, "worktree", "add", "-q", "--detach", str(wt), h.commits["c1"])
    staged = sb.add(h.work, "models/churn-model.bin", blob("staged-only"))
    # The working tree goes back to HEAD's pointer; the index still has the new one.
    Path(h.work, "models/churn-model.bin.gitmodel").write_text(
        sb.git(h.work, "show", "HEAD:models/churn-model.bin.gitmodel") + "\n")
    Path(h.work, "models/new.bin").write_bytes(blob("untracked-pointer"))
    sb.gm(h.work, "add", "--no-stage", "models/new.bin")
    untracked = sha256(blob("untracked-pointer"))
    assert untracked in cache_oids(h.work)
    assert "new.bin.gitmodel" not in sb.git(h.work, "ls-files", "models")
    # Even a pointer that an ignore rule hides.
    Path(h.work, ".git/info/exclude").write_text("hidden.bin.gitmodel\n")
    Path(h.work, "hidden.bin").write_bytes(blob("ignored-pointer"))
    sb.gm(h.work, "add", "--no-stage", "hidden.bin")
    assert sb.git(h.work, "status", "--porcelain", "--", "hidden.bin.gitmodel") == ""
    scratch = h.oids["scratch1"]
    os.link(object_path(h.work, scratch), h.root / "hardlink-to-scratch1")
    sb.gm(h.work, "gc")
    cached = cache_oids(h.work)
    assert churn1 in cached            # HEAD of the linked worktree
    assert staged in cached            # staged in the index, though the file on disk says otherwise
    assert untracked in cached         # pointer written but not staged
    assert sha256(blob("ignored-pointer")) in cached
    assert scratch in cached           # something hardlinks to it
    assert h.oids["scratch2"] not in cached
    sb.gm(wt, "checkout", "--no-fetch")
    sb.git(h.work, "worktree", "remove", "--force", str(wt))
    os.unlink(h.root / "hardlink-to-scratch1")
    sb.gm(h.work, "gc")
    assert churn1 not in cache_oids(h.work) and scratch not in cache_oids(h.work)


def no_grace(work) -> None:
    """gc.grace_days = 0 in the clone's local config: a mark ages at once, so two gcs delete (tests only)."""
    config = Path(work, ".git/gitmodels/config.toml")
    config.write_text((config.read_text() if config.exists() else "") + "\n[gc]\ngrace_days = 0\n")


def test_remote_gc_needs_consent_and_keeps_every_version_the_team_can_check_out(hist, tmp_path):
    sb, h = hist
    stray = h.oids["scratch1"]  # on the remote, named by no commit anywhere
    on_store = Path(h.store, "objects", stray[:2], stray)
    on_store.parent.mkdir(exist_ok=True)
    shutil.copy(object_path(h.work, stray), on_store)
    on_remote, cached = remote_oids(h.store), cache_oids(h.work)
    refused = sb.gm_proc(h.work, "gc", "--remote", expect=2, stdin="y\n")
    assert "without confirmation" in refused.err and "--yes" in refused.err
    assert remote_oids(h.store) == on_remote and cache_oids(h.work) == cached  # nothing at all was deleted
    assert not Path(h.store, "gc").exists()  # not even marked
    plan = sb.gm(h.work, "gc", "--remote", "--dry-run", "--json").json()["plan"]
    assert plan["remote"]["delete"] == 0 and plan["remote"]["marked"] == ["sha256:" + stray]
    assert plan["remote"]["git_remotes"] == ["origin"] and not Path(h.store, "gc").exists()
    no_grace(h.work)
    first = sb.gm(h.work, "gc", "--remote", "--yes", "--json").json()["plan"]["remote"]
    assert first["deleted_oids"] == [] and first["marked"] == ["sha256:" + stray]
    assert remote_oids(h.store) == on_remote
    done = sb.gm(h.work, "gc", "--remote", "--yes", "--json").json()
    assert done["plan"]["remote"]["deleted_oids"] == ["sha256:" + stray]
    assert "marked unreferenced by gc" in done["plan"]["remote"]["reasons"]["sha256:" + stray]
    assert remote_oids(h.store) == on_remote - {stray}
    # A fresh clone restores every branch and tag from the remote alone, and every older version too.
    fresh = h.root / "fresh"
    sb.git(h.root, "clone", "-q", "origin.git", str(fresh))
    for ref in ("main", "exp", "v1.0"):
        sb.git(fresh, "checkout", "-q", ref)
        sb.gm(fresh, "pull")
        models = sb.gm(fresh, "status", "--json").json()["models"]
        assert models and all(s["state"] == "up-to-date" for s in models)
    sb.gm(fresh, "get", f"models/churn.bin@{h.commits['c1']}", "-o", str(tmp_path / "o"))
    assert sha256((tmp_path / "o").read_bytes()) == h.oids["churn-v1"]


def test_remote_gc_collects_chunk_packs_and_recipes(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    work, store = tmp_path / "work", tmp_path / "store"
    store.mkdir()
    sb.git(tmp_path, "init", "-q", "--bare", "origin.git")
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.git(work, "remote", "add", "origin", "../origin.git")
    sb.gm(work, "init", "--no-hooks", "--remote", "../store")
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\n")
    no_grace(work)
    big1 = seeded_bytes("big1", 600_000)
    big2 = big1[:300_000] + seeded_bytes("big2", 300_000)
    v1 = sb.add(work, "m.bin", big1)
    sb.git(work, "commit", "-q", "-m", "v1")
    sb.gm(work, "push")  # uploaded, but the commit is amended away before any git push
    v2 = sb.add(work, "m.bin", big2)
    sb.git(work, "commit", "-q", "--amend", "-m", "v2")
    sb.git(work, "reflog", "expire", "--expire=now", "--all")
    sb.gm(work, "push")
    sb.git(work, "push", "-q", "-u", "origin", "main")
    recipes = {p.name for p in store.glob("recipes/*/*")}
    assert {v1, v2} <= recipes
    pack_bytes = sum(p.stat().st_size for p in store.glob("packs/*/*"))
    marked = sb.gm(work, "gc", "--remote", "--yes", "--json").json()["plan"]["remote"]
    assert marked["marked"] == ["sha256:" + v1] and marked["chunk_recipes_delete"] == []
    out = sb.gm(work, "gc", "--remote", "--yes", "--json").json()
    assert out["plan"]["remote"]["chunk_recipes_delete"] == ["sha256:" + v1]
    assert {p.name for p in store.glob("recipes/*/*")} == recipes - {v1}
    # v1's pack also holds v2's first half: repacked to that half alone.
    assert sum(p.stat().st_size for p in store.glob("packs/*/*")) < pack_bytes - 250_000
    fresh = tmp_path / "fresh"
    sb.git(tmp_path, "clone", "-q", "origin.git", str(fresh))
    sb.gm(fresh, "pull")
    assert Path(fresh, "m.bin").read_bytes() == big2


def test_gc_refuses_when_a_kept_directory_manifest_is_missing(hist):
    sb, h = hist
    manifest = h.oids["enc-v4"]  # the enc model at HEAD
    path = object_path(h.work, manifest)
    os.chmod(path, 0o644)
    os.unlink(path)
    sb.gm(h.work, "gc")  # fetched back from the remote to learn its files
    assert manifest in cache_oids(h.work)
    os.unlink(object_path(h.work, manifest))
    os.unlink(Path(h.store, "objects", manifest[:2], manifest))
    before = cache_oids(h.work)
    refused = sb.gm(h.work, "gc", expect=1)
    assert "cannot tell which files" in refused.err and "--skip-unknown" in refused.err
    assert cache_oids(h.work) == before
    sb.gm(h.work, "gc", "--skip-unknown")


def test_gc_refuses_a_cache_other_repositories_may_share(hist):
    sb, h = hist
    shared = h.root / "shared-cache"
    shutil.copytree(h.work / ".git/gitmodels/objects", shared / "objects")
    Path(h.work, ".git/gitmodels/config.toml").write_text(f'[core]\ncache_dir = "{shared}"\n')
    refused = sb.gm(h.work, "gc", expect=1)
    assert "may be shared" in refused.err and "--shared-cache-ok" in refused.err
    sb.gm(h.work, "gc", "--shared-cache-ok")
    assert h.oids["scratch1"] not in {p.name for p in (shared / "objects").glob("*/*")}
    # A cache folder linked somewhere else is treated the same way.
    os.unlink(h.work / ".git/gitmodels/config.toml")
    objects = h.work / ".git/gitmodels/objects"
    shutil.rmtree(objects)
    os.symlink(shared / "objects", objects)
    assert "may be shared" in sb.gm(h.work, "gc", expect=1).err


def test_gc_refuses_when_git_history_is_broken(hist):
    sb, h = hist
    c1 = h.commits["c1"]
    loose = h.work / ".git/objects" / c1[:2] / c1[2:]
    assert loose.exists()
    os.chmod(loose, 0o644)
    os.unlink(loose)
    before = cache_oids(h.work)
    err = sb.gm(h.work, "gc", expect=1).err
    assert "history is incomplete" in err and "nothing was deleted" in err
    assert cache_oids(h.work) == before


def test_gc_removes_stale_temp_files_and_works_in_a_shallow_clone(hist):
    sb, h = hist
    tmp = h.work / ".git/gitmodels/tmp"
    tmp.mkdir(exist_ok=True)
    stale, fresh = tmp / "obj-stale", tmp / "obj-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    out = sb.gm(h.work, "gc", "--json").json()
    assert out["tmp_removed"] == 1 and not stale.exists() and fresh.exists()
    shallow = h.root / "shallow"
    sb.git(h.root, "clone", "-q", "--depth", "1", f"file://{h.origin}", str(shallow))
    sb.gm(shallow, "pull")
    sb.gm(shallow, "gc")
    sb.gm(shallow, "checkout", "--no-fetch")
    assert all(s["state"] == "up-to-date" for s in sb.gm(shallow, "status", "--json").json()["models"])


def _chunked_remote(sb, tmp_path):
    """A repository whose remote holds whole objects, chunk recipes and packs; v1 and small1 were pushed to the
    model remote, then amended away before any git push, and an earlier gc (grace 0) has marked them."""
    work, store = tmp_path / "work", tmp_path / "store"
    store.mkdir()
    sb.git(tmp_path, "init", "-q", "--bare", "origin.git")
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.git(work, "remote", "add", "origin", "../origin.git")
    sb.gm(work, "init", "--no-hooks", "--remote", "../store")
    Path(work, ".git/gitmodels/config.toml").write_text("[core]\nchunk_threshold = 65536\n")
    no_grace(work)
    big1 = os.urandom(600_000)
    sb.add(work, "base.txt", b"base")
    sb.git(work, "commit", "-q", "-m", "base")
    sb.gm(work, "push")
    sb.git(work, "push", "-q", "-u", "origin", "main")
    v1 = sb.add(work, "m.bin", big1)
    small1 = sb.add(work, "s.bin", b"small one")
    sb.git(work, "commit", "-q", "-m", "v1")
    c1 = sb.git(work, "rev-parse", "HEAD")
    sb.gm(work, "push")
    v2 = sb.add(work, "m.bin", big1[:300_000] + os.urandom(300_000))
    sb.add(work, "s.bin", b"small two")
    sb.git(work, "commit", "-q", "--amend", "-m", "v2")
    sb.git(work, "reflog", "expire", "--expire=now", "--all")
    sb.gm(work, "push")
    sb.git(work, "push", "-q", "origin", "main")
    marked = sb.gm(work, "gc", "--remote", "--yes", "--json").json()["plan"]["remote"]
    assert set(marked["marked"]) == {"sha256:" + v1, "sha256:" + small1}
    return work, store, v1, v2, small1, c1


def _count_remote_use(monkeypatch):
    """Count, on the real directory backend, how often each key kind is listed and how often one is opened."""
    from gitmodels.remotes.local import LocalBackend

    seen = {"objects/": 0, "recipes/": 0, "packs/": 0, "opened": 0}
    real_list, real_init = LocalBackend.list, LocalBackend.__init__

    def counting_list(self, prefix=""):
        for kind in ("objects/", "recipes/", "packs/"):
            if kind.startswith(prefix) or prefix.startswith(kind):
                seen[kind] += 1
        return real_list(self, prefix)

    def counting_init(self, *args, **kwargs):
        seen["opened"] += 1
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(LocalBackend, "list", counting_list)
    monkeypatch.setattr(LocalBackend, "__init__", counting_init)
    return seen


def test_remote_gc_opens_and_lists_the_remote_once(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path, monkeypatch)
    work, store, v1, v2, small1, _c1 = _chunked_remote(sb, tmp_path)
    seen = _count_remote_use(monkeypatch)
    out = sb.gm(work, "gc", "--remote", "--yes", "--json").json()
    # One listing plans the gc; recipes/ is asked once more right before packs go, for recipes a racing
    # push wrote since (tests/test_concurrency.py): no pack they read is deleted.
    assert seen == {"objects/": 1, "recipes/": 2, "packs/": 1, "opened": 1}
    assert out["plan"]["remote"]["chunk_recipes_delete"] == ["sha256:" + v1]
    assert out["plan"]["remote"]["deleted_oids"] == ["sha256:" + small1]
    assert {p.name for p in store.glob("recipes/*/*")} == {v2}


def test_confirmed_remote_gc_rechecks_only_what_changed_since_the_preview(tmp_path, monkeypatch):
    from gitmodels.housekeeping import gc as gc_mod
    from gitmodels.repo import Repo

    sb = Sandbox(tmp_path, monkeypatch)
    work, store, v1, v2, small1, c1 = _chunked_remote(sb, tmp_path)
    seen = _count_remote_use(monkeypatch)
    previews = []

    def confirm(preview):
        # Between the preview and the deletion, someone makes v1 needed again: a branch at its commit.
        previews.append(preview)
        sb.git(work, "branch", "keep-v1", c1)
        return True

    with Repo(str(work)) as repo:
        result = gc_mod.gc(repo, remote_gc=True, confirm=confirm)
    (preview,) = previews
    assert list(preview.remote.chunks.recipes) == [v1] and set(preview.remote.delete) == {small1}
    # Listed once (by the preview), opened once; under the lock the keep set was re-read from git.
    assert seen == {"objects/": 1, "recipes/": 1, "packs/": 1, "opened": 1}
    assert result.plan.remote.chunks.recipes == () and result.plan.remote.delete == {}
    assert {p.name for p in store.glob("recipes/*/*")} == {v1, v2}
    # ... and every pack it reads is still there: v1 rebuilds from the remote alone.
    sb.git(work, "checkout", "-q", "keep-v1")
    cached = object_path(work, v1)
    if cached.exists():  # the marking gc may have dropped it from the cache already
        os.chmod(cached, 0o644)
        os.unlink(cached)
    sb.gm(work, "fetch")
    sb.gm(work, "checkout")
    assert sha256(Path(work, "m.bin").read_bytes()) == v1


def test_housekeeping_reads_git_only_through_the_git_package():
    """gc, fsck and stats never import dulwich or run git themselves, nor reach into GitRepo's dulwich handle."""
    import ast

    import gitmodels.housekeeping as pkg

    folder = Path(pkg.__file__).parent
    modules = sorted(folder.glob("*.py")) + sorted((folder.parent / "history").glob("*.py")) + [folder.parent / "cli" / "housekeeping.py"]
    assert len(modules) >= 7
    for path in modules:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] in ("dulwich", "subprocess")], (path.name, names)
            if isinstance(node, ast.Attribute) and node.attr in ("repo", "git", "_objects_of"):
                base = node.value
                inner = base.attr if isinstance(base, ast.Attribute) else None
                assert not (inner == "git" and node.attr in ("repo", "git")), (path.name, node.lineno)
                assert node.attr != "_objects_of", (path.name, node.lineno)


def test_sweep_takes_the_keep_set_and_a_minimum_age(hist):
    from gitmodels.housekeeping import gc as gc_mod
    from gitmodels.housekeeping.sweep import Item, sweep
    from gitmodels.repo import Repo

    listing = {"a": Item(1, 100.0), "b": Item(2, 900.0), "c": Item(3, None), "d": Item(4, 50.0)}
    assert sweep(listing, {"d"}) == {"a": 1, "b": 2, "c": 3}
    assert sweep(listing, {"d"}, min_age=500, now=1000.0) == {"a": 1}  # unknown age (c) is never old enough
    sb, h = hist
    with Repo(str(h.work)) as repo:
        assert gc_mod.plan(repo).delete
        young = gc_mod.plan(repo, min_age=10 ** 9)
    assert young.delete == {} and young.keep == young.cache_objects


def test_gc_keeps_the_environment_listing_a_saved_model_names(tmp_path, monkeypatch):
    """`gitmodels.save` stores the full environment listing as an object its pointer names
    (`environment.requirements`): gc, local or remote, must keep it while the pointer is used."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import gitmodels

    sb = Sandbox(tmp_path, monkeypatch)
    work, store = tmp_path / "work", tmp_path / "store"
    store.mkdir()
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.gm(work, "init", "--no-hooks", "--remote", "../store")
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    monkeypatch.chdir(work)
    gitmodels.save(model, "models/clf")
    ptr = (work / "models" / "clf.gitmodel").read_text()
    listing = ptr.split('requirements = "sha256:')[1][:64]
    sb.git(work, "add", "-A")
    sb.git(work, "commit", "-q", "-m", "model")
    sb.gm(work, "push")
    assert listing in cache_oids(work) and listing in remote_oids(store)
    sb.gm(work, "gc")
    sb.gm(work, "gc", "--remote", "-y")
    assert listing in cache_oids(work), "local gc deleted the environment listing"
    assert listing in remote_oids(store), "remote gc deleted the environment listing"
