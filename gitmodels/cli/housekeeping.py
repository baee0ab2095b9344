"""`gitmodels gc / fsck / stats`: keep the cache (and a remote) lean and sound."""

from __future__ import annotations

import sys

import click

from gitmodels.housekeeping import fsck as fsck_mod
from gitmodels.housekeeping import gc as gc_mod
from gitmodels.housekeeping import stats as stats_mod
from gitmodels.credentials import mask_text
from gitmodels.errors import CorruptObject
from gitmodels.cli.common import emit_json, human_bytes, jobs_option, json_option, open_repo, progress_option, table

remote_name_option = click.option("-r", "remote_name", metavar="NAME",
                                  help="The model remote to use (default: the default remote).")


def _objects(n: int, nbytes: int) -> str:
    return f"{n} object(s), {human_bytes(nbytes)}"


def _spares(files: int, size: int) -> str:
    return f"{files} spare workspace cop{'y' if files == 1 else 'ies'} ({human_bytes(size)})"


def _print_plan(p: gc_mod.GcPlan, verbose: bool, dry_run: bool = False) -> None:
    click.echo(f"cache: {_objects(p.cache_objects, p.cache_bytes)}")
    click.echo(f"  keep    {_objects(p.keep, p.keep_bytes)}")
    click.echo(f"  delete  {_objects(len(p.delete), p.delete_bytes)}")
    if p.protected:
        where = f"remote {p.checked_remote} does not have" if p.checked_remote else "no remote could confirm"
        click.echo(f"  ({_objects(len(p.protected), sum(p.protected.values()))} that older commits use and "
                   f"{where} are kept)")
    if verbose:
        for oid, size in p.delete.items():
            click.echo(f"    {oid}  {human_bytes(size)}")
    if p.stale_tmp:
        click.echo(f"  {p.stale_tmp} stale temp file(s)")
    if p.spares:
        click.echo(f"  {_spares(p.spares, p.spare_bytes)} (copies kept to switch back quickly) are removed")
    if p.remote is not None:
        r = p.remote
        click.echo(f"remote {r.name} ({r.url}): {_objects(r.objects, r.bytes)}")
        click.echo(f"  keep    {r.keep} object(s)")
        click.echo(f"  delete  {_objects(r.delete_count, r.delete_bytes)}")
        if r.chunks is not None and (r.chunks.recipes or r.chunks.packs):
            click.echo(f"          (of which {len(r.chunks.recipes)} chunk recipe(s) and {len(r.chunks.packs)} "
                       f"pack(s) no kept model reads)")
        if r.chunks is not None and r.chunks.repack:
            click.echo(f"  repack  {len(r.chunks.repack)} pack(s) kept models read only in part "
                       f"(saves {human_bytes(r.chunks.repack_freed)})")
        if r.chunks is not None and r.chunks.bytes_before:
            click.echo(f"  chunk storage: {human_bytes(r.chunks.bytes_before)} before, "
                       f"{human_bytes(r.chunks.bytes_after)} after")
        if r.aging is not None:
            a = r.aging
            click.echo(f"  kept by the refs of {', '.join(r.team) or 'no git remote'} ({r.team_refs} ref(s), "
                       f"every commit) and this clone; grace period {a.grace / 86400:g} day(s)")
            click.echo(f"  mark    {len(a.mark)} unreferenced object(s) (deleted by a gc once the mark is "
                       f"{a.grace / 86400:g} day(s) old)")
            if a.waiting:
                click.echo(f"  waiting {len(a.waiting)} marked object(s) whose mark is younger than the grace period")
            if a.young:
                click.echo(f"  young   {len(a.young)} unreferenced object(s) pushed within the grace period (kept)")
        if verbose or dry_run:
            for oid, why in sorted(r.reasons.items()):
                click.echo(f"    delete {oid}  {why}")
            if r.aging is not None:
                for oid in sorted(r.aging.mark):
                    click.echo(f"    mark   {oid}  no commit on {', '.join(r.team) or 'a git remote'} nor in this "
                               f"clone uses it, and no push logged it in the grace period")
    for w in p.warnings:
        click.echo(f"warning: {mask_text(w)}", err=True)


def _confirm(p: gc_mod.GcPlan) -> bool:
    r = p.remote
    click.echo(f"\nThis deletes {_objects(r.delete_count, r.delete_bytes)} from remote {r.name} ({r.url}), "
               f"for everyone who uses it, and marks {len(r.aging.mark)} more for a later gc.\n  Kept: every "
               f"version any commit on the git remote(s) {', '.join(r.team) or '(none)'} can check out, this clone's "
               f"branches, tags, unpushed commits, stash and workspace, and whatever was pushed in the last "
               f"{r.aging.grace / 86400:g} day(s).", err=True)
    if not sys.stdin.isatty():
        return False
    return click.confirm("Delete them?", default=False, err=True)


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--all-commits", is_flag=True, help="Keep the models of every commit in history, not just the tips.")
@click.option("--remote", "remote_gc", is_flag=True,
              help="Also delete unreferenced objects from the model remote (asks first).")
@remote_name_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting from the remote.")
@click.option("--offline", is_flag=True,
              help="Do not contact the remote; keep every object older commits use.")
@click.option("--skip-unknown", is_flag=True,
              help="Collect even when a directory model's manifest is missing everywhere.")
@click.option("--shared-cache-ok", is_flag=True,
              help="Collect a cache set by core.cache_dir (only if no other repository uses it).")
@click.option("-v", "--verbose", is_flag=True, help="List the objects to delete.")
@json_option
def gc(dry_run, all_commits, remote_gc, remote_name, yes, offline, skip_unknown, shared_cache_ok, verbose,
       as_json):
    """Delete cached objects nothing needs anymore. Safe by default; try --dry-run first.

    Kept: the models of the workspace, the index, HEAD, every local branch and
    tag, the stash, commits not yet pushed, and (until the remote confirms it
    has them) anything older commits use. With --remote, also cleans the
    model remote after a confirmation, keeping every version any ref on any
    git remote can reach: an unreferenced object is first marked, and deleted
    by a later gc once the mark is older than gc.grace_days (default 14) and
    no push used it since.

    \b
    Examples:
      gitmodels gc --dry-run
      gitmodels gc
      gitmodels gc --remote --all-commits --dry-run
    """
    with open_repo() as repo:
        result = gc_mod.gc(repo, dry_run=dry_run, all_commits=all_commits, remote_gc=remote_gc,
                           remote=remote_name, offline=offline, skip_unknown=skip_unknown,
                           shared_cache_ok=shared_cache_ok, confirm=_confirm, assume_yes=yes)
    if as_json:
        emit_json({"dry_run": dry_run, **result.to_json()})
        return
    _print_plan(result.plan, verbose, dry_run)
    if dry_run:
        click.echo("dry run: nothing was deleted")
        return
    click.echo(f"deleted {_objects(result.deleted, result.deleted_bytes)} from the cache"
               + (f"; removed {result.tmp_removed} stale temp file(s)" if result.tmp_removed else ""))
    if result.plan.remote is not None:
        click.echo(f"deleted {_objects(result.remote_deleted, result.remote_deleted_bytes)} "
                   f"from remote {result.plan.remote.name}")
        for oid, err in result.remote_failed[:10]:
            click.echo(f"  failed {oid[:12]}: {mask_text(err)}", err=True)


def _print_fsck(result: fsck_mod.FsckResult) -> None:
    click.echo(f"{result.scope}: checked {_objects(result.checked, result.bytes)}")
    for p in result.corrupt:
        state = "repaired" if p.repaired else ("quarantined" if p.quarantined_to else
                                               "BAD POINTER" if p.kind == "pointer" else "CORRUPT")
        click.echo(f"  {state}: {p.oid[:12]} at {p.where}: {mask_text(p.error)}")
        if p.quarantined_to:
            click.echo(f"    moved to {p.quarantined_to}")
        for m in p.models:
            click.echo(f"    used by {m}")
        if not p.models:
            click.echo("    used by no model at HEAD, a branch, a tag or the workspace")
    for key in result.stray[:20]:
        click.echo(f"  stray name (not an object, left alone): {key}")
    if result.other_keys:
        click.echo(f"  {result.other_keys} key(s) outside objects/ (chunk packs, recipes) not checked")


@click.command()
@click.option("--remote", "check_remote", is_flag=True, help="Also download and re-hash every remote object.")
@remote_name_option
@click.option("--repair", is_flag=True,
              help="With --remote: overwrite damaged remote objects with cached copies that verify.")
@click.option("--no-cache", is_flag=True, help="With --remote: skip the cache check.")
@jobs_option
@progress_option
@json_option
def fsck(check_remote, remote_name, repair, no_cache, jobs, progress, as_json):
    """Re-hash the cache (and the remote) and quarantine or report corrupt objects.

    Corrupt cached objects are moved to the cache's quarantine/ folder and
    the models that use them are listed; exits with status 6 when anything
    is damaged and not repaired.

    \b
    Examples:
      gitmodels fsck
      gitmodels fsck --remote
      gitmodels fsck --remote --repair     # from a clone whose cache is sound
    """
    if (repair or no_cache) and not check_remote:
        raise click.UsageError("--repair and --no-cache go with --remote")
    results = []
    with open_repo() as repo:
        if not no_cache:
            results.append(fsck_mod.check_cache(repo, jobs=jobs, progress=progress))
        if check_remote:
            results.append(fsck_mod.check_remote(repo, remote_name, repair=repair, jobs=jobs, progress=progress))
    bad = [p for r in results for p in r.corrupt if not p.repaired]
    if as_json:
        emit_json({"ok": not bad, "results": [r.to_json() for r in results]})
    else:
        for r in results:
            _print_fsck(r)
        if not bad:
            click.echo("no problems found" if not any(r.corrupt for r in results) else "all problems repaired")
    if bad:
        hints = []
        cache_bad = [p for r in results if r.scope == "cache" for p in r.corrupt if p.kind == "object"]
        lying = [p for r in results for p in r.corrupt if p.kind == "pointer"]
        if cache_bad:
            refs = list(dict.fromkeys(ref for p in cache_bad for ref in p.refs))
            here = any(ref in ("workspace", "HEAD") for ref in refs)
            others = [ref for ref in refs if ref not in ("workspace", "HEAD")]
            how = " and ".join((["`gitmodels fetch`"] if here or not others else [])
                               + [f"`gitmodels fetch --rev {ref}`" for ref in others[:3]])
            hints.append(f"get good copies of the quarantined objects with {how}; if the remote lacks them, "
                         f"`gitmodels push` them from a clone that has them")
        if lying:
            hints.append(f"restore each pointer whose size is wrong from a commit you trust "
                         f"(`git checkout -- {lying[0].where}`), or `gitmodels add` its model again")
        if any(r.scope != "cache" and any(not p.repaired for p in r.corrupt) for r in results):
            hints.append("repair the remote with `gitmodels fsck --remote --repair` in a clone whose cache has a "
                         "good copy")
        what = [f"{n} {label}" for n, label in ((len(bad) - len(lying), "damaged object(s)"),
                                                  (len(lying), "pointer(s) with a wrong size")) if n]
        raise CorruptObject(f"{' and '.join(what)} found", "; ".join(hints))


@click.command()
@click.option("--remote", "with_remote", is_flag=True, help="Also count the objects on the model remote.")
@remote_name_option
@json_option
def stats(with_remote, remote_name, as_json):
    """Object counts and sizes of the cache (and the remote)."""
    with open_repo() as repo:
        c = stats_mod.cache_stats(repo)
        r = stats_mod.remote_stats(repo, remote_name) if with_remote else None
    if as_json:
        emit_json({"cache": c.to_json(), **({"remote": r.to_json()} if r is not None else {})})
        return
    click.echo(f"cache {c.cache_dir}: {_objects(c.objects, c.bytes)}"
               + (f", {c.quarantined} quarantined" if c.quarantined else "")
               + (f", {c.stale_tmp} stale temp file(s)" if c.stale_tmp else "")
               + (f", {_spares(c.spares, c.spare_bytes)}" if c.spares else ""))
    if r is not None:
        click.echo(f"remote {r.name} ({r.url}): {_objects(r.objects, r.bytes)}"
                   + (f", {r.other_keys} other key(s), {human_bytes(r.other_bytes)}" if r.other_keys else ""))
        k = r.chunking
        if k:
            click.echo(f"  {k.objects} model object(s) hold {human_bytes(k.bytes_referenced)} in "
                       f"{human_bytes(k.bytes_stored)} stored ({k.packs} chunk pack(s)); "
                       f"dedup ratio {k.dedup_ratio:.2f}")
        if r.models:
            click.echo(table([[m.path, human_bytes(m.size), m.storage, human_bytes(m.unique_bytes)]
                              for m in r.models], ["model (checkout)", "size", "stored", "only this version"]))


__all__ = ["gc", "fsck", "stats"]
