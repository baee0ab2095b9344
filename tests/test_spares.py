"""Spare copies: the file a checkout replaced comes back by rename when the user switches back,
and is never handed back once anything could have changed it."""

import json
import os

from tests.gitutil import commit_all, git, model_bytes, sha256_of
from tests.gitutil import gitmodels as gm

V1, V2 = model_bytes("v1", 300_000), model_bytes("v2", 300_000)


def two_versions(repo, rel="model.bin", v1=V1, v2=V2):
    path = repo / rel
    path.write_bytes(v1)
    gm(repo, "add", rel)
    commit_all(repo, "v1")
    path.write_bytes(v2)
    gm(repo, "add", rel)
    commit_all(repo, "v2")
    return path


def switch(repo, rev):
    git(repo, "checkout", "-q", rev)
    gm(repo, "checkout")


def spare_dir(repo):
    return repo / ".git" / "gitmodels" / "spare"


def oid_of(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_switching_back_renames_the_replaced_file_back(repo):
    path = two_versions(repo)
    v2_inode = path.stat().st_ino
    switch(repo, "HEAD~1")
    assert path.read_bytes() == V1
    spare = spare_dir(repo) / oid_of(V2)
    assert spare.stat().st_ino == v2_inode and not spare.stat().st_mode & 0o222

    switch(repo, "main")
    assert path.read_bytes() == V2
    assert path.stat().st_ino == v2_inode, "the v2 file itself came back, not a new copy"
    assert path.stat().st_mode & 0o200, "a restored file is writable again"
    assert not spare.exists() and (spare_dir(repo) / oid_of(V1)).exists()
    assert json.loads(gm(repo, "status", "--json").stdout)["models"][0]["state"] == "up-to-date"


def test_a_spare_written_to_after_it_was_set_aside_is_not_used(repo):
    path = two_versions(repo)
    switch(repo, "HEAD~1")
    spare = spare_dir(repo) / oid_of(V2)
    os.chmod(spare, 0o644)
    with open(spare, "r+b") as f:  # what a process holding the old file open could do
        f.write(b"tampered")
    switch(repo, "main")
    assert sha256_of(path) == oid_of(V2)
    assert not spare.exists()


def test_a_spare_with_another_name_linked_to_it_is_not_used(repo, tmp_path):
    path = two_versions(repo)
    switch(repo, "HEAD~1")
    spare = spare_dir(repo) / oid_of(V2)
    os.link(spare, tmp_path / "other-name")  # writable through that name: not ours to hand out
    switch(repo, "main")
    assert path.read_bytes() == V2
    assert path.stat().st_ino != (tmp_path / "other-name").stat().st_ino


def test_unsaved_changes_are_never_kept_as_spares(repo):
    path = two_versions(repo)
    path.write_bytes(b"edited, never added")
    git(repo, "checkout", "-q", "HEAD~1")
    gm(repo, "checkout", "--force")
    assert path.read_bytes() == V1
    assert not spare_dir(repo).exists() or not any(spare_dir(repo).iterdir())


def test_directory_models_keep_and_reuse_their_files(repo):
    (repo / "enc").mkdir()
    (repo / "enc" / "config.json").write_bytes(b"{}")
    weights = repo / "enc" / "weights.bin"
    weights.write_bytes(V1)
    gm(repo, "add", "enc")
    commit_all(repo, "v1")
    weights.write_bytes(V2)
    gm(repo, "add", "enc")
    commit_all(repo, "v2")
    v2_inode = weights.stat().st_ino
    switch(repo, "HEAD~1")
    assert weights.read_bytes() == V1
    switch(repo, "main")
    assert weights.read_bytes() == V2 and weights.stat().st_ino == v2_inode


def local_config(repo, text):
    (repo / ".git" / "gitmodels" / "config.toml").write_text("version = 1\n[core]\n" + text)


def test_the_limit_bounds_spares_and_zero_turns_them_off(repo):
    b1, b2 = model_bytes("b1", 600_000), model_bytes("b2", 600_000)
    (repo / "a.bin").write_bytes(V1)
    (repo / "b.bin").write_bytes(b1)
    gm(repo, "add", "a.bin", "b.bin")
    commit_all(repo, "v1")
    (repo / "a.bin").write_bytes(V2)
    (repo / "b.bin").write_bytes(b2)
    gm(repo, "add", "a.bin", "b.bin")
    commit_all(repo, "v2")
    local_config(repo, "spare_limit = 700000\n")
    switch(repo, "HEAD~1")
    sizes = [p.stat().st_size for p in spare_dir(repo).iterdir()]
    assert sizes and sum(sizes) <= 700_000, sizes

    gm(repo, "gc")
    assert not any(spare_dir(repo).iterdir())

    local_config(repo, "spare_limit = 0\n")
    switch(repo, "main")
    assert (repo / "b.bin").read_bytes() == b2
    assert not any(spare_dir(repo).iterdir())


def test_hardlink_mode_keeps_no_spares(repo):
    path = two_versions(repo)
    local_config(repo, 'link = "hardlink"\n')
    switch(repo, "HEAD~1")
    assert path.read_bytes() == V1
    assert not spare_dir(repo).exists() or not any(spare_dir(repo).iterdir())


def test_stats_and_gc_report_spares(repo):
    two_versions(repo)
    switch(repo, "HEAD~1")
    stats = json.loads(gm(repo, "stats", "--json").stdout)["cache"]
    assert stats["spares"] == 1 and stats["spare_bytes"] == len(V2)
    out = gm(repo, "gc", "--dry-run").stdout
    assert "1 spare workspace copy" in out
    assert spare_dir(repo).joinpath(oid_of(V2)).exists(), "a dry run deletes nothing"


def _published(tmp_path, repo, size, chunked):
    """A model of `size` bytes pushed from `repo`, and a fresh clone of it."""
    if chunked:
        cfg = (repo / "gitmodels.toml").read_text().replace("[core]", "[core]\nchunk_threshold = 1048576", 1)
        (repo / "gitmodels.toml").write_text(cfg)
    data = model_bytes("big", size)
    (repo / "big.bin").write_bytes(data)
    gm(repo, "add", "big.bin")
    commit_all(repo, "big model")
    gm(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    return clone, data


def test_fetch_for_the_workspace_leaves_a_trusted_spare(repo, tmp_path):
    from gitmodels.repo import Repo

    clone, data = _published(tmp_path, repo, 5 * 1024 * 1024, chunked=False)
    r = Repo(str(clone))
    r.fetch(for_workspace=True, progress=False)
    r.state.flush()
    spare = spare_dir(clone) / oid_of(data)
    assert spare.read_bytes() == data
    inode = spare.stat().st_ino
    r.checkout(progress=False)
    assert (clone / "big.bin").stat().st_ino == inode and not spare.exists()
    assert (clone / "big.bin").read_bytes() == data


def test_a_chunk_rebuild_writes_the_workspace_copy_in_the_same_pass(repo, tmp_path):
    from gitmodels.repo import Repo

    clone, data = _published(tmp_path, repo, 6 * 1024 * 1024, chunked=True)
    assert any((repo.parent / "model-remote" / "recipes").rglob("*")), "pushed as chunks"
    r = Repo(str(clone))
    r.fetch(for_workspace=True, progress=False)
    r.state.flush()
    assert (spare_dir(clone) / oid_of(data)).read_bytes() == data
    gm(clone, "pull")
    assert sha256_of(clone / "big.bin") == oid_of(data)
    assert not any(spare_dir(clone).iterdir()), "the checkout took the spare"
    assert not any((clone / ".git" / "gitmodels" / "tmp").iterdir())


def test_a_corrupt_download_leaves_no_spare(repo, tmp_path, remote_dir):
    from gitmodels.errors import CorruptObject
    from gitmodels.repo import Repo

    clone, data = _published(tmp_path, repo, 5 * 1024 * 1024, chunked=False)
    oid = oid_of(data)
    obj = remote_dir / "objects" / oid[:2] / oid
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as f:
        f.seek(1000)
        f.write(b"rot")
    r = Repo(str(clone))
    result = r.fetch(for_workspace=True, progress=False)
    assert isinstance(result.failed[0][1], CorruptObject)
    assert not spare_dir(clone).exists() or not any(spare_dir(clone).iterdir())
    assert not any((clone / ".git" / "gitmodels" / "tmp").iterdir())


def test_a_directory_model_lists_the_spare_folder_once_per_checkout(repo, monkeypatch):
    """Keeping N replaced files must not list the spare folder N times (2000 files took 20 s that way)."""
    from gitmodels.repo import Repo

    (repo / "enc").mkdir()
    for i in range(40):
        (repo / "enc" / f"w{i}.bin").write_bytes(model_bytes(f"a{i}", 5000))
    gm(repo, "add", "enc")
    commit_all(repo, "v1")
    for i in range(40):
        (repo / "enc" / f"w{i}.bin").write_bytes(model_bytes(f"b{i}", 5000))
    gm(repo, "add", "enc")
    commit_all(repo, "v2")
    git(repo, "checkout", "-q", "HEAD~1")
    listed = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p=".": listed.append(str(p)) or real(p))
    r = Repo(str(repo))
    r.checkout(progress=False)
    monkeypatch.undo()
    assert len(list(spare_dir(repo).iterdir())) == 40
    assert sum(1 for p in listed if p == str(spare_dir(repo))) <= 1
