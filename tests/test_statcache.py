"""The state database under concurrency: the threads of one transfer and several processes at once."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from gitmodels.storage.statcache import StatCache

WRITE = r'''
import sys
from concurrent.futures import ThreadPoolExecutor
from gitmodels.storage.statcache import StatCache
db = StatCache(sys.argv[1])
def work(i):
    db.remote_add("r", [f"{sys.argv[2]}-{i}-{j}" for j in range(20)])
    return len(db.remote_known("r", [f"{sys.argv[2]}-{i}-0"]))
with ThreadPoolExecutor(8) as pool:
    assert sum(pool.map(work, range(16))) == 16
'''


def test_threads_opening_a_new_database_at_once(tmp_path):
    for attempt in range(5):
        db = StatCache(str(tmp_path / f"fresh-{attempt}" / "state.db"))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: db.remote_add("r", [f"{i}-{j}" for j in range(50)]), range(32)))
        assert len(db.remote_known("r", [f"{i}-0" for i in range(32)])) == 32


def test_processes_creating_the_same_database_at_once(tmp_path):
    for attempt in range(3):
        path = str(tmp_path / f"fresh-{attempt}" / "state.db")
        procs = [subprocess.Popen([sys.executable, "-c", WRITE, path, str(n)], stderr=subprocess.PIPE)
                 for n in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        assert len(StatCache(path).remote_known("r", [f"{n}-0-0" for n in range(4)])) == 4


def test_a_stale_memo_read_does_not_block_a_later_write(tmp_path):
    """A lookup must not leave a read transaction open: after another connection writes, the
    first one's next write would fail at once with 'database is locked' (seen in a clone's hook)."""
    import os

    db = StatCache(str(tmp_path / "state.db"))
    db.memo_put("index-pointers", "old-stamp", "[]")
    assert db.memo_get("index-pointers", "new-stamp") is None
    with ThreadPoolExecutor(1) as pool:
        pool.submit(db.remote_add, "r", ["a"]).result()
    db.record(str(tmp_path / "state.db"), os.stat(tmp_path / "state.db"), "b" * 64)
    db.flush()
    db.memo_put("index-pointers", "new-stamp", "[]")
