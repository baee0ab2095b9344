"""A directory model's signature walk split with a forked child (gitmodels/storage/treewalk.py): the same
digest as one walk, every change seen in either half, a special file in either half refused, and a child
that cannot walk or cannot be forked replaced by the parent's own walk."""

import hashlib
import os
import sys

import pytest

from gitmodels.storage import treewalk

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the split walk is Linux-only")


def make(root, names):
    for rel in names:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())


def one_walk(root):
    h = hashlib.sha256()
    count = treewalk._walk(str(root), "", None, h.update)
    return h.hexdigest(), count


def split_walk(root):
    h = hashlib.sha256()
    count = treewalk._walk_split(str(root), h.update)
    return h.hexdigest(), count


MIXED = ["a.bin", "b/x.bin", "b/y/z.bin", "c.bin", "d/e.bin", "d/f.bin", "g.bin", "h/i/j/k.bin", "m.bin"]


@pytest.mark.parametrize("layout", [
    MIXED,
    [f"f{i:03d}.bin" for i in range(200)],  # flat: the names of one folder split
    [f"data/images/{i % 7}/f{i:03d}.bin" for i in range(200)],  # split below folders of one subfolder
    ["only.bin"],  # nothing to split: one walk
])
def test_a_split_walk_gives_the_digest_of_one_walk(tmp_path, layout):
    make(tmp_path, layout)
    assert split_walk(tmp_path) == one_walk(tmp_path)
    assert one_walk(tmp_path)[1] == len(layout)


def test_tree_signature_splits_a_big_tree_the_same_way(tmp_path, monkeypatch):
    make(tmp_path, MIXED)
    monkeypatch.setattr(treewalk, "_may_fork", lambda: True)
    split = treewalk.tree_signature(str(tmp_path), expected_files=treewalk.PARALLEL_MIN)
    assert split == treewalk.tree_signature(str(tmp_path)) == one_walk(tmp_path)


@pytest.mark.parametrize("victim", ["a.bin", "m.bin", "h/i/j/k.bin"])
def test_a_change_in_either_half_changes_the_digest(tmp_path, victim):
    make(tmp_path, MIXED)
    before = split_walk(tmp_path)
    with open(tmp_path / victim, "ab") as f:
        f.write(b"!")
    assert split_walk(tmp_path) != before
    assert split_walk(tmp_path) == one_walk(tmp_path)


@pytest.mark.parametrize("link", ["a-link", "h/i/link"])  # in the parent's half, in the child's half
def test_a_symlink_in_either_half_means_no_signature(tmp_path, monkeypatch, link):
    make(tmp_path, MIXED)
    os.symlink("elsewhere", tmp_path / link)
    monkeypatch.setattr(treewalk, "_may_fork", lambda: True)
    assert treewalk.tree_signature(str(tmp_path), expected_files=treewalk.PARALLEL_MIN) is None


def test_a_child_that_fails_is_replaced_by_the_parents_walk(tmp_path, monkeypatch):
    make(tmp_path, MIXED)
    parent = os.getpid()
    walk = treewalk._walk

    def failing_in_the_child(*args):
        if os.getpid() != parent:
            raise RuntimeError("the child could not walk")
        return walk(*args)

    monkeypatch.setattr(treewalk, "_walk", failing_in_the_child)
    assert split_walk(tmp_path) == one_walk(tmp_path)


def test_no_fork_means_one_walk(tmp_path, monkeypatch):
    make(tmp_path, MIXED)

    def no_fork():
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", no_fork)
    assert split_walk(tmp_path) == one_walk(tmp_path)


def test_the_signature_is_what_the_scan_recorded(tmp_path):
    """signature_of the scan's listing (what `gitmodels add` records) and the walk agree."""
    make(tmp_path, MIXED)
    files = []
    for rel in sorted(MIXED, key=lambda r: r.split("/")):
        st = os.lstat(tmp_path / rel)
        files.append((rel, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), False))
    assert treewalk.signature_of(files) == split_walk(tmp_path)[0]


def test_the_walk_skips_the_half_copies_fileio_names():
    from gitmodels.storage import fileio

    assert treewalk.TMP_MARK == fileio.TMP_MARK  # kept apart so that status's fast path imports no fileio
