"""README.md's "Everyday use" block, run as written (bar the `pip` line) so it cannot drift from the code.

The block goes to bash as one script (`set -e`): the only changes are the model remote and the `/tmp/`
output, which become folders of the test, and `gitmodels` / `python`, which are this interpreter.
`my-ml-repo` is a clone of a bare git server whose train.py writes the models the block names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.gitutil import git, sha256_of

README = Path(__file__).resolve().parent.parent / "README.md"

TRAIN = """\
import os, sys
import joblib

depth = 6 if "--deeper" in sys.argv else 2
os.makedirs("models/encoder", exist_ok=True)
joblib.dump({"max_depth": depth, "trees": [[i * depth] * 40 for i in range(50)]}, "models/churn.joblib")
with open("models/encoder/vocab.txt", "w") as f:
    f.write("\\n".join(f"token{i}" for i in range(200)))
with open("models/encoder/weights.bin", "wb") as f:
    f.write(bytes(range(256)) * 16)
"""


def everyday_block() -> list[str]:
    text = README.read_text()
    match = re.search(r"^## Everyday use\n+```bash\n(.*?)^```", text, re.S | re.M)
    assert match, "README.md has no ```bash block under '## Everyday use'"
    return match.group(1).splitlines()


def test_the_everyday_block_runs_as_written(tmp_path):
    lines = everyday_block()
    commands = [line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")]
    assert commands[0].startswith("pip install "), "the block is expected to start with its pip line"
    for command in commands[1:]:  # what a user pastes: every line is ours, git, or their own training script
        assert command.split()[0] in ("cd", "gitmodels", "git", "python"), command
    assert "cd my-ml-repo" in commands and "/mnt/team-models" in "\n".join(commands)

    store, out, bindir = tmp_path / "team-models", tmp_path / "tmp", tmp_path / "bin"
    out.mkdir()
    bindir.mkdir()
    for name, argv in (("gitmodels", f'"{sys.executable}" -m gitmodels'), ("python", f'"{sys.executable}"')):
        (bindir / name).write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
        (bindir / name).chmod(0o755)

    git(tmp_path, "init", "-q", "--bare", "-b", "main", "server.git")
    git(tmp_path, "clone", "-q", "server.git", "my-ml-repo")
    repo = tmp_path / "my-ml-repo"
    (repo / "train.py").write_text(TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "training code")
    git(repo, "push", "-q", "origin", "main")

    store.mkdir()  # the team's shared folder exists
    script = re.sub(r"(?<=\s)/tmp/", f"{out}/", "\n".join(lines[1:])).replace("/mnt/team-models", str(store))
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-euxo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    stdout = proc.stdout

    # git switch main: the post-checkout hook put main's model back (train v1, depth 2).
    assert git(repo, "branch", "--show-current").stdout.strip() == "main"
    import joblib

    assert joblib.load(repo / "models/churn.joblib")["max_depth"] == 2
    # get: the experiment's version, at the path given (the output file itself, not a folder).
    assert joblib.load(out / "churn-deeper.joblib")["max_depth"] == 6
    # git push: the pre-push hook uploaded main's models to the directory remote.
    oid = sha256_of(repo / "models/churn.joblib")
    assert (store / "objects" / oid[:2] / oid).is_file()
    assert re.search(r"models/churn\.joblib\s.*up to date", stdout), stdout  # status
    assert re.search(r"models/encoder\s.*up to date", stdout), stdout
    assert "train v1" in stdout  # log
    assert re.search(r"M models/churn\.joblib", stdout), stdout  # diff v1.0 experiment
    assert "wrote " in stdout and "churn-deeper.joblib" in stdout  # get
