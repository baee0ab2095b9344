"""Chunk-level dedup: speed of chunking vs whole-file hashing, and bytes stored / moved per version.

    python benchmarks/chunking_bench.py                     # 1 GiB, the issue's targets
    python benchmarks/chunking_bench.py --size 256MiB --rounds 3
    python benchmarks/chunking_bench.py --only speed        # or: dedup

Speed: `scan_file` (whole-file SHA-256 + FastCDC cut points + one SHA-256 per
chunk, one read) against `hashing.hash_file` (whole-file SHA-256 alone), the
two measured alternately in the same run on the same (page-cached) file;
also the cache's copy-and-hash against a scan that copies. The ratio of the
fastest runs is printed, with the median and the load average, because the
multi-threaded scan needs both cores and suffers first on a busy machine.

Dedup: two versions differing in one contiguous 10 MiB region, and two
differing by a 10 MiB insertion, each pair pushed to its own directory
remote; prints what the remote holds, what the second push sent, and what a
pull of the second version downloads with the first one cached.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gitmodels import chunking
from gitmodels.storage import fileio
from gitmodels.chunking import cdc
from gitmodels.chunking.download import cache_object_path
from gitmodels.storage.hashing import hash_file
from gitmodels.remotes import open_backend

MiB = 1024 * 1024
GiB = 1024 * MiB
TARGETS = {"scan_ratio": 1.30, "remote_total": 1.05, "second_push": 16 * MiB, "pull": 16 * MiB}


def parse_size(text: str) -> int:
    text = text.strip().lower()
    for suffix, mult in (("gib", GiB), ("mib", MiB), ("kib", 1024), ("g", GiB), ("m", MiB), ("k", 1024)):
        if text.endswith(suffix):
            return int(float(text[:-len(suffix)]) * mult)
    return int(text)


def fmt(n: float) -> str:
    return f"{n / GiB:.3f} GiB" if n >= GiB else f"{n / MiB:.2f} MiB"


def make_file(path: str, size: int, seed: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    rng = random.Random(seed)
    with open(path + ".part", "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(rng.randbytes(n))
            left -= n
    os.replace(path + ".part", path)


def warm(path: str) -> None:
    hash_file(path)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_speed(path: str, rounds: int, workdir: str) -> dict:
    size = os.path.getsize(path)
    copy_dst = os.path.join(workdir, "copy.tmp")

    def copy_and_hash():
        with open(path, "rb", buffering=0) as fin, open(copy_dst, "wb") as fout:
            fileio.copy_and_hash(fin, fout)

    def scan_and_copy():
        with open(copy_dst, "wb") as fout:
            cdc.scan_file(path, copy_to=fout)

    runs = {"hash_file": [], "scan_file": [], "copy_and_hash": [], "scan_file+copy": []}
    cpu_hash: list[float] = []
    cpu_scan: list[dict] = []

    def hash_cpu():
        start = time.thread_time()
        hash_file(path)
        cpu_hash.append(time.thread_time() - start)

    def scan_cpu():
        scanner = cdc._Scanner(path, None, None, cdc.BLOCK_SIZE)
        scanner.run()
        cpu_scan.append(dict(scanner.cpu))

    warm(path)
    load0 = os.getloadavg()[0]
    for _ in range(rounds):
        runs["hash_file"].append(timed(hash_cpu))
        runs["scan_file"].append(timed(scan_cpu))
        runs["copy_and_hash"].append(timed(copy_and_hash))
        runs["scan_file+copy"].append(timed(scan_and_copy))
    load1 = os.getloadavg()[0]
    os.unlink(copy_dst)
    scan = cdc.scan_file(path)
    print(f"\n== speed: {fmt(size)}, {rounds} rounds, load average {load0:.2f} -> {load1:.2f} "
          f"on {os.cpu_count()} CPUs; chunker {cdc.CHUNKER}")
    print(f"   {len(scan.chunks)} chunks, mean {size / max(1, len(scan.chunks)) / 1024:.1f} KiB")
    for name, times in runs.items():
        print(f"   {name:15s} best {min(times):6.3f} s ({size / min(times) / 1e9:5.2f} GB/s)   "
              f"median {statistics.median(times):6.3f} s")
    ratio = min(runs["scan_file"]) / min(runs["hash_file"])
    ratio_med = statistics.median(runs["scan_file"]) / statistics.median(runs["hash_file"])
    ratio_copy = min(runs["scan_file+copy"]) / min(runs["copy_and_hash"])
    verdict = "OK" if ratio <= TARGETS["scan_ratio"] else "MISSED"
    print(f"   scan_file / hash_file: {ratio:.3f} best, {ratio_med:.3f} median "
          f"(target <= {TARGETS['scan_ratio']}: {verdict})")
    print(f"   scan_file+copy / copy_and_hash: {ratio_copy:.3f} best")
    # On a busy machine wall times mostly measure the other processes. CPU time
    # per thread does not: the scan's two threads would run side by side on an
    # idle machine, so its busier thread bounds its wall time there.
    busiest = min(max(c.values()) for c in cpu_scan)
    total = min(sum(c.values()) for c in cpu_scan)
    print(f"   CPU: hash_file {min(cpu_hash):.3f} s; scan_file {total:.3f} s over two threads, the busier "
          f"{busiest:.3f} s -> idle-machine estimate scan_file / hash_file = {busiest / min(cpu_hash):.3f}")
    return {"ratio": ratio, "ratio_median": ratio_med, "ratio_copy": ratio_copy,
            "cpu_estimate": busiest / min(cpu_hash)}


def bench_dedup(path: str, workdir: str) -> dict:
    size = os.path.getsize(path)
    edit = 10 * MiB
    rng = random.Random(99)
    results = {}
    for case in ("change", "insert"):
        root = os.path.join(workdir, case)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "remote"))
        remote = open_backend(os.path.join(root, "remote"), {"fsync": False})
        pusher = os.path.join(root, "pusher")
        puller = os.path.join(root, "puller")
        v2 = os.path.join(root, "v2")
        with open(path, "rb") as src, open(v2, "wb") as dst:
            mid = size // 2
            head = src.read(mid)
            dst.write(head)
            dst.write(rng.randbytes(edit))
            if case == "change":
                src.seek(mid + edit)
            shutil.copyfileobj(src, dst, 16 * MiB)
        oids = []
        for p in (path, v2):
            oid, vsize = hash_file(p)
            cached = cache_object_path(pusher, oid)
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            shutil.copyfile(p, cached)
            oids.append((oid, cached, vsize))
        state = os.path.join(pusher, "chunks")
        t1 = timed(lambda: chunking.upload_object(remote, state, oids[0][0], oids[0][1], oids[0][2]))
        start = time.perf_counter()
        second = chunking.upload_object(remote, state, oids[1][0], oids[1][1], oids[1][2])
        t2 = time.perf_counter() - start
        held = sum(s for _, s in remote.list(""))
        # The teammate has v1 cached (and indexed, as after a pull or add) and pulls v2.
        first_cached = cache_object_path(puller, oids[0][0])
        os.makedirs(os.path.dirname(first_cached), exist_ok=True)
        shutil.copyfile(path, first_cached)
        pstate = os.path.join(puller, "chunks")
        chunking.index_local_object(pstate, oids[0][0], first_cached)
        start = time.perf_counter()
        # fsync=False as in the cache, which syncs the filesystem once per command.
        got = chunking.download_object(remote, pstate, oids[1][0], os.path.join(root, "pulled"), puller,
                                       fsync=False)
        t3 = time.perf_counter() - start
        print(f"\n== dedup, 10 MiB {case} in {fmt(size)}")
        print(f"   remote holds {fmt(held)} for both versions ({held / size:.4f} x one version; target <= "
              f"{TARGETS['remote_total']}: {'OK' if held <= TARGETS['remote_total'] * size else 'MISSED'})")
        print(f"   first push {t1:.2f} s; second push sent {fmt(second.bytes_sent)} in {t2:.2f} s "
              f"({second.chunks_new} new chunks, {second.packs_uploaded} pack, recipe {second.recipe_bytes} B; "
              f"target <= 16 MiB: {'OK' if second.bytes_sent <= TARGETS['second_push'] else 'MISSED'})")
        print(f"   pull of v2 with v1 cached downloaded {fmt(got.bytes_downloaded)} in {t3:.2f} s "
              f"({got.requests} ranged reads, {fmt(got.bytes_local)} from the cache; target <= 16 MiB: "
              f"{'OK' if got.bytes_downloaded <= TARGETS['pull'] else 'MISSED'})")
        with open(os.path.join(root, "pulled"), "rb") as f:
            assert hashlib.file_digest(f, "sha256").hexdigest() == oids[1][0]
        results[case] = {"held": held, "second_push": second.bytes_sent, "pull": got.bytes_downloaded}
        shutil.rmtree(root, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=("speed", "dedup"))
    ap.add_argument("--workdir", help="where the test file is kept between runs (default: a temp dir)")
    args = ap.parse_args(argv)
    if not chunking.available():
        print(f"chunk dedup unavailable: {chunking.unavailable_reason()}", file=sys.stderr)
        return 1
    size = parse_size(args.size)
    workdir = args.workdir or tempfile.mkdtemp(prefix="gm-chunkbench-")
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, f"model-{size}.bin")
    make_file(path, size, seed=1)
    try:
        if args.only in (None, "speed"):
            bench_speed(path, args.rounds, workdir)
        if args.only in (None, "dedup"):
            bench_dedup(path, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
