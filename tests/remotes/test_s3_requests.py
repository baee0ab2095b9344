"""What the S3 backend puts on the wire, seen from the client against the moto server."""

from __future__ import annotations

import pytest

from gitmodels.remotes import open_backend

MiB = 1024 * 1024


@pytest.mark.parametrize("size, expect", [(100_000, False), (3 * MiB, True), (40 * MiB, True)])
def test_only_large_bodies_wait_for_100_continue(s3_remote, tmp_path, size, expect):
    """`Expect: 100-continue` costs a round trip before the body is sent: worth it only for a large one.

    A small object (most of a push of many models) is sent straight away, as the
    AWS Go SDK does below 2 MiB; a large one, and each part of a multipart upload,
    still waits for the server's go-ahead, so a refused request does not waste a part.
    """
    url, settings = s3_remote
    backend = open_backend(url, {**settings, "part_size": "16MiB"})
    seen: list[tuple[str, str | None]] = []
    backend.inner.client().meta.events.register(
        "before-send.s3", lambda request, **_: seen.append((request.method, request.headers.get("Expect"))))
    src = tmp_path / "blob"
    src.write_bytes(b"m" * size)
    backend.upload("objects/ab/blob", str(src), size)
    puts = [value for method, value in seen if method == "PUT"]
    assert puts and all((value == b"100-continue" or value == "100-continue") == expect for value in puts)
    assert backend.stat("objects/ab/blob") == size
