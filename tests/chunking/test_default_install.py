"""Dedup is on in a default install, and says so once when its compiled extension does not import."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

from tests.gitutil import git, gitmodels
from tests.seeded import seeded_bytes

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
WARNING = "gitmodels: warning: chunk dedup unavailable: "


def remote_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def objects_on(root: Path, kind: str) -> set[str]:
    return {p.name for p in root.glob(f"{kind}/*/*")}


def test_pyfastcdc_is_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d for d in project["dependencies"] if d.startswith("pyfastcdc")]
    assert core == ["pyfastcdc>=0.3.1,<0.4"]
    assert project["optional-dependencies"]["chunking"] == []  # `gitmodels[chunking]` still installs


def test_broken_extension_stores_whole_and_warns_once(repo, remote_dir, tmp_path):
    # A pyfastcdc that raises on import, as a wheel built for another platform would.
    fake = tmp_path / "fake-site"
    (fake / "pyfastcdc").mkdir(parents=True)
    (fake / "pyfastcdc" / "__init__.py").write_text(
        "raise ImportError('pyfastcdc.cy: undefined symbol: PyFastCDC_broken')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))}
    (repo / ".git/gitmodels/config.toml").write_text(f"[core]\nchunk_threshold = {MiB}\n")
    for name in ("a.bin", "b.bin"):  # two objects over the threshold: each would warn without the once-guard
        (repo / name).write_bytes(seeded_bytes(name, 2 * MiB))

    added = gitmodels(repo, "add", "a.bin", "b.bin", extra_env=env)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two models")
    pushed = gitmodels(repo, "push", extra_env=env)

    for result in (added, pushed):
        lines = [line for line in result.stderr.splitlines() if "dedup" in line]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(WARNING) and "undefined symbol: PyFastCDC_broken" in lines[0]
        assert lines[0].endswith("models are stored whole (reinstall pyfastcdc to store only the bytes that change)")
        assert "Traceback" not in result.stderr
    assert "pushed: 2 object(s)" in pushed.stdout
    assert len(objects_on(remote_dir, "objects")) == 2  # whole objects...
    assert not objects_on(remote_dir, "recipes") and not (remote_dir / "packs").exists()  # ...and no chunks

    # The same push with the real extension: no warning (the line above comes from the broken import).
    (repo / "a.bin").write_bytes(seeded_bytes("a.bin v2", 2 * MiB))
    gitmodels(repo, "add", "a.bin")
    quiet = gitmodels(repo, "push")
    assert "dedup" not in quiet.stderr and len(objects_on(remote_dir, "recipes")) == 1


def test_default_install_grows_remote_by_the_changed_bytes(repo, remote_dir):
    """Default config, no extra: a 2 MiB edit in the middle of a 48 MiB model costs ~2 MiB on the remote."""
    size, changed = 48 * MiB, 2 * MiB
    v1 = seeded_bytes(7, size)
    middle = size // 2
    v2 = v1[:middle] + seeded_bytes(8, changed) + v1[middle + changed:]
    model = repo / "model.bin"

    model.write_bytes(v1)
    gitmodels(repo, "add", "model.bin")
    gitmodels(repo, "push")
    first = remote_bytes(remote_dir)
    assert size <= first < size + MiB  # one copy, plus recipe and pack headers

    model.write_bytes(v2)
    gitmodels(repo, "add", "model.bin")
    gitmodels(repo, "push")
    growth = remote_bytes(remote_dir) - first
    # The changed bytes, the chunks the edit straddles (<= 128 KiB each side) and v2's recipe.
    assert changed <= growth < changed + MiB, growth
    assert len(objects_on(remote_dir, "recipes")) == 2
