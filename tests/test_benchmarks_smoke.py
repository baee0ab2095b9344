"""Smoke test of the benchmark harness (benchmarks/run.py): one quick workload, gitmodels only.

It installs nothing (--no-install, --tools gitmodels) and asserts no timing target: it only
checks that the harness runs end to end and writes its two result files.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_startup_writes_results(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick", "--only", "startup",
         "--tools", "gitmodels", "--no-install", "--runs", "1", "--out", str(out),
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["workloads"] == ["startup"]
    assert data["meta"]["tools"] == ["gitmodels"]
    rows = {(r["case"], r["tool"]): r for r in data["rows"]}
    assert ("--version", "gitmodels") in rows
    assert ("--version", "python -c pass") in rows
    assert rows[("--version", "python -c pass")]["status"] == "ok"
    assert {t["id"] for t in data["targets"]} >= {"startup --version", "startup status"}
    md = (out / "results.md").read_text()
    assert "## Targets" in md and "## startup" in md
    # the temporary work folder is removed
    assert not [p for p in os.listdir(tmp_path) if p.startswith("gitmodels-bench-")]
