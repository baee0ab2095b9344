"""Fixtures for the dedup engine: clones with their own cache, remotes that count what crosses the wire."""

from __future__ import annotations

from typing import Iterator

import pytest

from gitmodels.remotes import open_backend

from .util import Clone, Counting


@pytest.fixture
def clone_factory(tmp_path) -> Iterator:
    count = [0]

    def make() -> Clone:
        count[0] += 1
        return Clone(str(tmp_path / f"clone{count[0]}"))

    yield make


def _dir_remote(request, tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    return str(root), {"fsync": False}


def _s3_remote(request, tmp_path):
    url, settings = request.getfixturevalue("s3_remote")
    return url, {**settings, "part_size": "5MiB", "jobs": 4}


def _azure_remote(request, tmp_path):
    url, settings = request.getfixturevalue("azure_remote")
    return url, {**settings, "block_size": "1MiB", "jobs": 4}


def _ssh_remote(request, tmp_path):
    url, settings = request.getfixturevalue("ssh_remote")
    return url, {**settings, "part_size": "1MiB", "jobs": 3}


REMOTES = {"dir": _dir_remote, "s3": _s3_remote, "azure": _azure_remote, "ssh": _ssh_remote}


@pytest.fixture(params=sorted(REMOTES))
def any_remote(request, tmp_path) -> Iterator[Counting]:
    """A fresh, empty remote of each kind, wrapped in a counter."""
    url, settings = REMOTES[request.param](request, tmp_path)
    backend = Counting(open_backend(url, settings))
    yield backend
    backend.close()


@pytest.fixture
def dir_remote(tmp_path) -> Iterator[Counting]:
    root = tmp_path / "remote"
    root.mkdir()
    backend = Counting(open_backend(str(root), {"fsync": False}))
    yield backend
    backend.close()


@pytest.fixture
def gcs_backend(request) -> Iterator[Counting]:
    url, settings = request.getfixturevalue("gcs_remote")
    backend = Counting(open_backend(url, {**settings, "chunk_size": "1MiB", "jobs": 4}))
    yield backend
    backend.close()
