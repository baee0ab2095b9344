"""Garbage collection of the cache (and, on request, of a remote), with safe defaults.

The rules (docs/history.md, "gc safety rules"):

1. Always kept in the cache, with every file of a directory model:
   - the objects of the pointers in every worktree: the pointer files on disk
     (tracked, untracked or ignored), every stage of the index (so a
     conflicted merge keeps both sides), and each worktree's HEAD;
   - every local branch and tag, every other non-remote ref, the stash (each
     entry and its parents), MERGE_HEAD, ORIG_HEAD, CHERRY_PICK_HEAD,
     REVERT_HEAD, REBASE_HEAD, FETCH_HEAD, BISECT_HEAD and the state of an
     interrupted rebase or sequencer;
   - every commit not yet pushed: reachable from any of the above or from a
     reflog entry, and not reachable from a remote-tracking ref
     (`refs/remotes/*`);
   - with `all_commits`, every commit reachable from anything, remote refs and
     reflogs included;
   - any cached object that something hardlinks or symlinks to.
2. An object that some other commit git still has (history, reflogs,
   remote-tracking refs) refers to is deleted only after the model remote
   answered that it holds it; offline, with no remote, or when the remote
   cannot be reached, it is kept.
3. Everything else in the cache is deleted: objects no commit, index,
   stash or workspace refers to (models added and then replaced before
   being committed, commits git itself has dropped).
4. A directory model whose manifest cannot be read (neither cached nor on the
   remote) makes gc refuse to run, because the files it needs cannot be told
   apart from garbage; `skip_unknown` overrides that.
5. A remote is cleaned only when asked (`remote_gc`), after a confirmation;
   its keep set is the team's: every object any commit reachable from any
   ref on any git remote needs (read with `git ls-remote` and fetched into a
   private namespace; an unreachable git remote refuses), plus rule 1 with
   remote-tracking refs as tips too. Of the rest, an object goes only in two
   phases: a gc marks it (gc/marks/ on the remote), and a later gc deletes it
   once that mark is older than the grace period and no push logged it since
   (log/ on the remote; docs/formats.md "Remote gc protocol"). Whole objects
   under `objects/` are deleted by their oid; chunk recipes and packs
   through the chunk store's planner; any other key is left alone.
6. gc refuses (deletes nothing) when it cannot see everything: a missing git
   object, an unreadable index, a cache other repositories may share.
   History is walked by the parents commits record, ignoring grafts.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from gitmodels.errors import BadConfig, NoRemote, ReadOnlyRemote, RemoteError, UsageError
from gitmodels.housekeeping.reachability import GcRefused, Reachability, manifest_fetcher
from gitmodels.housekeeping.sweep import (RemoteListing, RemotePlan, age, cache_listing, delete_from_cache,
                                          delete_from_remote, forget_chunk_sources, hardlinked, late_pushes, narrow,
                                          plan_remote, stale_tmp, sweep)
from gitmodels.storage.hashing import prefixed
from gitmodels.sync import pushlog

FETCH_STALE = 3600  # seconds after which remote-tracking refs are old enough to warn before a remote gc
DAY = 86400.0


def grace_of(repo) -> float:
    """The grace period in seconds, from `gc.grace_days` (docs/config.md)."""
    days = repo.config.get("gc", "grace_days")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
        raise BadConfig(f"gc.grace_days must be a number of days of at least 0, not {days!r}",
                        "fix it in gitmodels.toml or .git/gitmodels/config.toml")
    return float(days) * DAY


@dataclasses.dataclass
class GcPlan:
    """What one gc deletes (or, in a dry run, would delete): the cache's part and, with --remote, the remote's."""

    all_commits: bool
    cache_objects: int = 0
    cache_bytes: int = 0
    keep: int = 0
    keep_bytes: int = 0
    delete: dict[str, int] = dataclasses.field(default_factory=dict)      # oid -> size
    protected: dict[str, int] = dataclasses.field(default_factory=dict)   # kept: history needs it, remote unconfirmed
    checked_remote: str | None = None
    stale_tmp: int = 0
    spares: int = 0                    # spare workspace copies (docs/formats.md), always removed
    spare_bytes: int = 0
    remote: RemotePlan | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def delete_bytes(self) -> int:
        return sum(self.delete.values())

    def to_json(self) -> dict:
        return {"all_commits": self.all_commits, "cache_objects": self.cache_objects,
                "cache_bytes": self.cache_bytes, "keep": self.keep, "keep_bytes": self.keep_bytes,
                "delete": len(self.delete), "delete_bytes": self.delete_bytes,
                "protected": len(self.protected), "protected_bytes": sum(self.protected.values()),
                "checked_remote": self.checked_remote, "stale_tmp": self.stale_tmp,
                "spares": self.spares, "spare_bytes": self.spare_bytes,
                "deleted_oids": [prefixed(o) for o in sorted(self.delete)],
                **({"remote": self.remote.to_json()} if self.remote else {}), "warnings": self.warnings}


@dataclasses.dataclass
class GcResult:
    plan: GcPlan
    deleted: int = 0
    deleted_bytes: int = 0
    tmp_removed: int = 0
    remote_deleted: int = 0
    remote_deleted_bytes: int = 0
    remote_failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        return {"plan": self.plan.to_json(), "deleted": self.deleted, "deleted_bytes": self.deleted_bytes,
                "tmp_removed": self.tmp_removed, "remote_deleted": self.remote_deleted,
                "remote_deleted_bytes": self.remote_deleted_bytes,
                "remote_failed": [{"oid": prefixed(o), "error": e} for o, e in self.remote_failed]}


class _Remote:
    """The model remote of one gc, opened once: its transfer and, for a remote gc, its one listing."""

    def __init__(self, repo, remote: str | None, offline: bool, remote_gc: bool, grace: float | None = None,
                 now: float | None = None):
        self.grace = grace_of(repo) if grace is None and remote_gc else (grace or 0.0)
        self.now = now
        self.name: str | None = None
        self.transfer = None
        self.listing: RemoteListing | None = None
        self.warnings: list[str] = []
        self.remote_gc = remote_gc
        if not offline:
            try:
                self.name, self.transfer = repo.open_transfer(remote)
            except NoRemote:
                if remote_gc:
                    raise
            except RemoteError as exc:
                if remote_gc:
                    raise
                self.warnings.append(f"cannot open the model remote ({exc}); keeping every object old commits use")
        if remote_gc and self.transfer is None:
            raise GcRefused("gc of a remote cannot run offline")
        if remote_gc and self.transfer.backend.read_only:
            self.close()
            raise ReadOnlyRemote(f"cannot gc remote {self.name} ({self.transfer.backend.describe()}): "
                                 "an HTTP(S) remote is read-only")

    def list_once(self) -> RemoteListing:
        if self.listing is None:
            self.listing = RemoteListing.read(self.transfer.backend)
        return self.listing

    def close(self) -> None:
        if self.transfer is not None:
            self.transfer.backend.close()


def _refuse_shared_cache(repo, shared_cache_ok: bool) -> None:
    private = os.path.realpath(repo.store.objects_dir).startswith(os.path.realpath(repo.git.common_dir) + os.sep)
    configured = os.path.normpath(repo.cache_dir) != os.path.normpath(repo.meta_dir)
    if (configured or not private) and not shared_cache_ok:
        why = "is set by core.cache_dir" if configured else \
            "is a link to a folder outside this repository's git directory"
        raise GcRefused(f"the cache {repo.cache_dir} {why} and may be shared with other repositories, "
                        f"whose commits gc cannot see; nothing was deleted",
                        "if only this repository uses that cache, re-run with --shared-cache-ok")


def plan(repo, *, all_commits: bool = False, remote_gc: bool = False, remote: str | None = None,
         offline: bool = False, skip_unknown: bool = False, shared_cache_ok: bool = False,
         min_age: float = 0.0, grace: float | None = None, now: float | None = None) -> GcPlan:
    """Decide what gc would delete, without deleting anything.

    `remote` names the model remote consulted (and cleaned with remote_gc);
    default: the default remote. Manifests of kept directory models that the
    cache lacks are downloaded into the cache (they are small), so the plan
    knows every file those models need. `min_age`: only objects older than
    that many seconds go (0: any age). `grace` (seconds; default `gc.grace_days`)
    and `now` (default: the clock) drive the remote's two-phase deletion.
    """
    _refuse_shared_cache(repo, shared_cache_ok)
    session = _Remote(repo, remote, offline, remote_gc, grace, now)
    try:
        return _plan(repo, session, all_commits, skip_unknown, min_age, offline)
    finally:
        session.close()


def _plan(repo, session: _Remote, all_commits: bool, skip_unknown: bool, min_age: float, offline: bool,
          preview: GcPlan | None = None) -> GcPlan:
    """One plan over an open remote. With `preview`, the remote is not listed again: the previewed remote
    deletions are narrowed to what is still unused."""
    out = GcPlan(all_commits=all_commits, warnings=list(session.warnings))
    if repo.git.is_shallow() and all_commits:
        out.warnings.append("this is a shallow clone: --all-commits keeps only the history this clone has")
    transfer = session.transfer
    listing = session.list_once() if session.remote_gc else None
    if session.remote_gc and repo.git.is_shallow():
        raise GcRefused("this clone is shallow: the history the team can still check out is not all here, so a "
                        "remote gc cannot tell what it needs; nothing was deleted",
                        "run `git fetch --unshallow` first, or run gc --remote from a full clone")
    reach = Reachability(repo, manifest_fetcher(repo, transfer), team=session.remote_gc)
    used = reach.used(all_commits=all_commits, skip_unknown=skip_unknown, warnings=out.warnings)
    cached = cache_listing(repo.store)
    out.cache_objects, out.cache_bytes = len(cached), sum(i.size for i in cached.values())
    keep = used.objects | hardlinked(repo.store, set(cached) - used.objects)
    candidates = sweep(cached, keep, min_age)

    # Rule 2: what older history still uses goes only when the remote confirms it holds it.
    if candidates and not all_commits:
        history, history_refs = reach.history(used.commits)
        at_risk = sorted(set(candidates) & history)
        if at_risk:
            missing = set(at_risk)
            if transfer is not None:
                out.checked_remote = session.name
                # numcopies (docs/config.md): the last copies go only when that many remotes hold the object.
                from gitmodels.housekeeping.whereis import remote_copies

                numcopies = repo.config.get_int("core", "numcopies")
                # A directory's small files live in its bundle, not as objects: a remote holding its
                # manifest holds them (manifests are pushed last).
                risky = set(at_risk)
                dirs = {r.oid: listed for r in history_refs
                        if r.kind == "dir" and not risky.isdisjoint(listed := reach.needs.entries(r.oid) or ())}
                copies = remote_copies(repo, sorted(set(at_risk) | set(dirs)), numcopies, session.name,
                                       {session.name: listing if listing is not None else transfer}, out.warnings)
                for manifest, listed in dirs.items():
                    for oid in listed:
                        copies[oid] = max(copies.get(oid, 0), copies[manifest])
                missing = {o for o in at_risk if copies[o] < numcopies}
            elif offline:
                out.warnings.append("offline: keeping every object old commits use")
            else:
                out.warnings.append("no model remote configured: keeping every object old commits use")
            for oid in missing:
                out.protected[oid] = candidates.pop(oid)
            # A manifest goes only with its files: keep one whose files are kept for lack of a remote copy.
            for ref in history_refs:
                listed = reach.needs.entries(ref.oid) if ref.oid in candidates else None
                if listed and any(e in out.protected for e in listed):
                    out.protected[ref.oid] = candidates.pop(ref.oid)
    out.delete = dict(sorted(candidates.items()))
    out.keep = out.cache_objects - len(out.delete)
    out.keep_bytes = out.cache_bytes - out.delete_bytes
    out.stale_tmp = stale_tmp(repo.store)
    out.spares, out.spare_bytes = repo.workspace.spares.usage()
    if session.remote_gc:
        out.remote = _plan_remote(reach, session, all_commits, skip_unknown, min_age, out, preview)
    return out


def _plan_remote(reach: Reachability, session: _Remote, all_commits: bool, skip_unknown: bool, min_age: float,
                 out: GcPlan, preview: GcPlan | None) -> RemotePlan:
    """Rule 5: the team's keep set (every git remote's refs and history, this clone's refs and work), then the
    grace period and the marks decide which of the unreferenced objects go now."""
    team = reach.team
    if not team.remotes:
        out.warnings.append("no git remote is configured: only this clone's refs protect the remote's objects")
    used = reach.used(all_commits=all_commits, remote=True, skip_unknown=skip_unknown, warnings=out.warnings,
                      remote_name=session.name)
    keep = used.objects | reach.team_objects()
    reach.needs.refuse_unknown(skip_unknown, out.warnings, session.name)
    transfer, listing = session.transfer, session.list_once()
    try:
        aging = age(listing, listing.oids() - keep, transfer.backend, session.grace, session.now)
    except pushlog.NewerRecord as exc:
        raise GcRefused(f"{exc}; nothing was deleted", exc.hint) from None
    keep_now = listing.oids() - set(aging.delete)
    if preview is not None and preview.remote is not None:
        rp = narrow(preview.remote, keep_now, listing, transfer.backend, transfer.jobs)
    else:
        rp = plan_remote(session.name, transfer.remote_id, listing, keep_now, transfer.backend, transfer.jobs,
                         out.warnings, min_age)
    where = ", ".join(team.remotes) or "no git remote"
    rp.aging, rp.team, rp.team_refs = aging, team.remotes, team.refs
    gone = set(rp.delete) | (set(rp.chunks.recipes) if rp.chunks is not None else set())
    for oid in sorted(gone):
        pushed = aging.pushed.get(oid)
        rp.reasons[oid] = (f"no commit reachable from the {team.refs} ref(s) on {where} nor this clone's refs, "
                           f"reflogs, stash or workspace uses it; marked unreferenced by gc at "
                           f"{pushlog.stamp(aging.delete[oid])}, not pushed since"
                           + (f" (last pushed {pushlog.stamp(pushed)})" if pushed is not None else ""))
    return rp


def gc(repo, *, dry_run: bool = False, all_commits: bool = False, remote_gc: bool = False,
       remote: str | None = None, offline: bool = False, skip_unknown: bool = False, shared_cache_ok: bool = False,
       confirm: Callable[[GcPlan], bool] | None = None, assume_yes: bool = False, min_age: float = 0.0,
       grace: float | None = None, now: float | None = None) -> GcResult:
    """Plan, then (unless dry_run) delete, holding the repository lock while deciding and deleting.

    The model remote is opened once and, with remote_gc, listed once. Without
    `assume_yes`, `confirm(preview)` must return True before anything is
    deleted from the remote; under the lock only what changed since the preview
    (the keep set, from git) is re-checked, and the remote deletions are
    limited to what the confirmed preview listed. Before deleting, the marks of
    this gc are written and the push log is read again: what a push logged
    meanwhile is spared.
    """
    _refuse_shared_cache(repo, shared_cache_ok)
    session = _Remote(repo, remote, offline, remote_gc, grace, now)
    try:
        def one(preview: GcPlan | None = None) -> GcPlan:
            return _plan(repo, session, all_commits, skip_unknown, min_age, offline, preview)

        if dry_run:
            return GcResult(one())
        preview = None
        if remote_gc and not assume_yes:
            preview = one()
            rp = preview.remote
            if rp and (rp.delete_count or rp.aging.mark):
                if confirm is None or not confirm(preview):
                    raise UsageError(f"not deleting {rp.delete_count} object(s) from remote {rp.name} (nor marking "
                                     f"{len(rp.aging.mark)} for a later gc) without confirmation; nothing was "
                                     f"deleted", "re-run on a terminal to confirm, or pass --yes")
        with repo.lock():
            final = one(preview)
            result = GcResult(final)
            result.deleted, result.deleted_bytes = delete_from_cache(repo, final.delete)
            result.tmp_removed = repo.store.clean_tmp()
            repo.workspace.spares.clear()
            if final.remote is not None:
                _apply_remote(repo, session, final, result)
        return result
    finally:
        session.close()


def _apply_remote(repo, session: _Remote, final: GcPlan, result: GcResult) -> None:
    """Mark, re-read the push log, delete what is still unused, then drop the records no rule needs anymore."""
    backend, listing, aging = session.transfer.backend, session.list_once(), final.remote.aging
    if aging.mark:
        pushlog.write(backend, repo.store.tmp_dir, pushlog.MARK_PREFIX, "gc-mark", aging.mark, aging.now)
    if final.remote.delete_count:
        late = late_pushes(backend, listing)
        if late:
            final.remote = narrow(final.remote, listing.oids() - (set(aging.delete) - late), listing, backend,
                                  session.transfer.jobs)
        delete_from_remote(repo, backend, session.transfer.remote_id, final.remote, result)
    for key in aging.stale_marks + aging.stale_logs:
        try:
            backend.delete(key)
        except RemoteError:
            continue  # a record left behind only costs a read; the next gc drops it


__all__ = ["GcPlan", "RemotePlan", "GcResult", "GcRefused", "plan", "gc", "forget_chunk_sources"]
