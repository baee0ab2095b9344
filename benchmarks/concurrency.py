"""Many clones, one model remote, `gitmodels gc --remote --yes` running beside their pushes: N rounds.

Runs the scenario of tests/test_concurrency.py (4 clones push overlapping chunked models while a fifth
runs remote gc; then every commit of every clone must pull byte-identical) for more rounds than the test
suite does, on a directory remote, and prints the rounds, the commits checked, the problems and the time.

    python benchmarks/concurrency.py --rounds 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--verify-every", type=int, default=10, help="pull every commit so far every N rounds")
    args = parser.parse_args()
    from tests.gitutil import isolated_env
    from tests.test_concurrency import PUSHERS, Scenario, run_rounds

    with tempfile.TemporaryDirectory(prefix="gm-concurrency-") as tmp:
        os.environ.update(isolated_env(Path(tmp) / "home"))
        models = Path(tmp, "models")
        models.mkdir()
        started = time.monotonic()
        scenario = Scenario(Path(tmp), str(models))
        problems = run_rounds(scenario, args.rounds, args.verify_every)
        print(json.dumps({"rounds": args.rounds, "pushers": PUSHERS, "commits_checked": len(scenario.expected),
                          "problems": problems[:20], "problem_count": len(problems),
                          "seconds": round(time.monotonic() - started, 1)}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
