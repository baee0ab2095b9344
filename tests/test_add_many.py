"""`gitmodels add` of many models costs per model, not per model times the models already tracked."""

from __future__ import annotations

from tests.gitutil import Sandbox


def test_adding_many_models_reads_the_index_and_writes_each_gitignore_once(tmp_path, monkeypatch):
    from dulwich.repo import Repo as DulwichRepo

    from gitmodels.storage import fileio

    sb = Sandbox(tmp_path, monkeypatch)
    work = tmp_path / "work"
    sb.git(tmp_path, "init", "-q", "-b", "main", str(work))
    sb.gm(work, "init", "--no-hooks")
    for folder in ("a", "b"):
        (work / folder).mkdir()
        for i in range(40):
            (work / folder / f"m{i}.bin").write_bytes(f"{folder}{i}".encode() * 10)
    index_reads, gitignore_writes = [], []
    real_open_index, real_write = DulwichRepo.open_index, fileio.write_bytes_atomic
    monkeypatch.setattr(DulwichRepo, "open_index", lambda self: index_reads.append(1) or real_open_index(self))
    monkeypatch.setattr(fileio, "write_bytes_atomic", lambda path, *a, **k: (
        gitignore_writes.append(str(path)) if str(path).endswith(".gitignore") else None, real_write(path, *a, **k))[1])
    sb.gm(work, "add", *[f"{f}/m{i}.bin" for f in ("a", "b") for i in range(40)])
    assert sorted(gitignore_writes) == [str(work / "a" / ".gitignore"), str(work / "b" / ".gitignore")]
    assert len(index_reads) <= 3  # not one per model
    for folder in ("a", "b"):
        rules = (work / folder / ".gitignore").read_text().splitlines()
        assert [r for r in rules if r.startswith("/")] == [f"/m{i}.bin" for i in range(40)]
    assert sb.git(work, "status", "--porcelain", "--untracked-files=all", "--", "a/m0.bin") == ""
    statuses = sb.gm(work, "status", "--json").json()["models"]
    assert len(statuses) == 80 and {s["state"] for s in statuses} == {"up-to-date"}
