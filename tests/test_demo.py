"""The README's first command: the demo runs end to end and shows the model following the branch."""

import os
import subprocess
import sys

DEMO = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "demo.py")


def test_demo_runs_end_to_end(tmp_path):
    # `pip install ".[sklearn]"` brings no pandas: the demo must not need it (.ci/run proves it in a fresh venv).
    (tmp_path / "pandas").mkdir()
    (tmp_path / "pandas" / "__init__.py").write_text("raise ImportError('no pandas: the sklearn extra has none')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, DEMO], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    loaded = [line for line in out.splitlines() if line.strip().startswith("loaded RandomForestClassifier")]
    assert len(loaded) == 3, out
    assert "max_depth=2" in loaded[0] and "max_depth=6" in loaded[1] and "max_depth=2" in loaded[2]
    assert "demo finished" in out
