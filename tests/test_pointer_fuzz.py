"""Seeded fuzz of real pointers over the read commands (issue 15, item 3).

Every mutation of a file and a directory pointer (with [model] metadata) is run
through status, checkout, ls, log, diff and show. Nothing may crash, every
error is one line and an optional hint, no artifact byte changes, and a wrong
size on a pointer that otherwise names its object is always reported. The
commands run in-process through `gitmodels.cli.main` (the CLI's own error
handling, no start-up cost); a sample also runs through the real subprocess CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import traceback

import pytest

from gitmodels.storage import pointer
from gitmodels.errors import BadPointer
from tests.gitutil import git
from tests.gitutil import gitmodels as gm

MUTATIONS = 500
SEED = 15
SUBPROCESS_EVERY = 50       # every 50th mutation also goes through the real CLI in a subprocess
COMMIT_EVERY = 10           # every 10th mutated pointer is committed, so history readers meet it too
MODELS = {"m.bin": "file", "enc": "dir"}
META = {"model": {"framework": "sklearn", "format": "joblib", "class": "sklearn.linear_model.LogisticRegression",
                  "signature": {"n_features": 3, "classes": ["no", "yes"]}},
        "metrics": {"auc": 0.91, "f1": 0.8}, "params": {"C": 1.0, "penalty": "l2"}, "tags": {"owner": "team-a"}}


def commands(model: str) -> list[list[str]]:
    return [["status"], ["checkout"], ["ls"], ["log", model], ["diff"], ["show", model]]


# -- mutations ----------------------------------------------------------------------------

ODD_NUMBERS = [str(10**400), "-1", str(2**63), str(2**63 - 1), "1.5", '"12"', "true", "inf", "nan", "1e400", "0",
               "9" * 5000, "[1]", "{a = 1}", "-0", "+7", "0x10", "1_000", "2026-01-01"]
UNICODE = ["\u2028", "\ufeff", "\u202e", "é", "✓", "\U0001f600", "\x00", "\x1b[31m", "\udcff", "\r", "\t"]


def _replace_value(text: str, key: str, value: str) -> str:
    return re.sub(rf"(?m)^{key} = .*$", lambda _m: f"{key} = {value}", text, count=1)


def mutate(rng: random.Random, data: bytes, other_oid: str) -> tuple[str, bytes]:
    text = data.decode()
    lines = text.split("\n")
    kind = rng.choice(["flip", "truncate", "delete-key", "duplicate-key", "size", "files", "oid", "conflict",
                       "unicode", "nesting", "long-line", "version", "kind", "meta-type", "empty", "size-off-by"])
    if kind == "flip":
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return kind, bytes(b)
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))]
    if kind in ("delete-key", "duplicate-key"):
        keyed = [i for i, line in enumerate(lines) if "=" in line or line.startswith("[")]
        i = rng.choice(keyed)
        if kind == "delete-key":
            del lines[i]
        else:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        return kind, "\n".join(lines).encode()
    if kind in ("size", "files"):
        key = kind if kind == "size" or "files =" in text else "size"
        return kind, _replace_value(text, key, rng.choice(ODD_NUMBERS)).encode()
    if kind == "size-off-by":
        size = int(re.search(r"(?m)^size = (\d+)$", text).group(1))
        return kind, _replace_value(text, "size", str(max(0, size + rng.choice([-1, 1, 4096, 10**12])))).encode()
    if kind == "oid":
        hexes = re.search(r'sha256:([0-9a-f]{64})', text).group(1)
        value = rng.choice([hexes.upper(), hexes[:63], hexes + "0", "g" * 64, "", other_oid,
                            hashlib.sha256(str(rng.random()).encode()).hexdigest()])
        prefix = rng.choice(["sha256:", "sha1:", "", "SHA256:"])
        return kind, _replace_value(text, "oid", f'"{prefix}{value}"').encode()
    if kind == "conflict":
        cut = rng.randrange(len(lines))
        other = _replace_value(text, "size", "1").split("\n")
        return kind, "\n".join(["<<<<<<< HEAD", *lines[:cut], "=======", *other[:cut], ">>>>>>> theirs",
                                *lines[cut:]]).encode()
    if kind == "unicode":
        i = rng.randrange(len(text) + 1)
        return kind, (text[:i] + rng.choice(UNICODE) * rng.randint(1, 3) + text[i:]).encode("utf-8", "surrogatepass")
    if kind == "nesting":
        depth = rng.choice([10, 33, 100, 1000, 10000])
        extra = rng.choice([f"deep = {'[' * depth}{']' * depth}", f"[{'.'.join(['t'] * depth)}]\nx = 1",
                            "deep = " + "{a = " * depth + "1" + "}" * depth])
        return kind, (text + extra + "\n").encode()
    if kind == "long-line":
        n = rng.choice([1000, 60000, 70000])
        return kind, (text + rng.choice([f'[tags]\nlong = "{"x" * n}"', f"# {'y' * n}", "z" * n]) + "\n").encode()
    if kind == "version":
        return kind, _replace_value(text, "version", rng.choice(["0", "2", "-1", str(10**30), '"1"', "1.0"])).encode()
    if kind == "kind":
        return kind, _replace_value(text, "kind", rng.choice(['"dir"', '"file"', '"blob"', "1", '["file"]'])).encode()
    if kind == "meta-type":
        table = rng.choice(["model", "metrics", "params", "tags", "environment", "git", "runtime"])
        body = rng.choice(["5", '"x"', "[1, 2]", "true", '{requirements = "sha256:' + "0" * 64 + '"}'])
        cut = text.find("\n[")
        head = text if cut < 0 else text[:cut + 1]
        return kind, (head + f"{table} = {body}\n").encode()
    return kind, b""


# -- running ------------------------------------------------------------------------------


def run_inprocess(work, args: list[str]) -> tuple[object, str, str]:
    """`gitmodels ARGS` through the CLI's main(); an exception escaping it is a crash ('crash', traceback)."""
    from gitmodels.cli import main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    rc: object
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(["-C", str(work), *args])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - that is the crash this test looks for
                rc = "crash"
                err.write(traceback.format_exc())
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


def check_output(what: str, rc: object, stdout: str, stderr: str) -> None:
    assert rc != "crash" and "Traceback" not in stdout + stderr, f"{what}: crashed\n{stderr[-3000:]}"
    assert isinstance(rc, int) and 0 <= rc <= 9, f"{what}: exit {rc}\n{stderr}"
    lines = stderr.splitlines()
    assert all(len(line) < 1000 for line in lines), f"{what}: overlong error line"
    if rc == 0:
        assert all(line.startswith("warning: ") for line in lines), f"{what}: {stderr}"
    else:
        assert len(lines) in (1, 2) and lines[0].startswith("gitmodels: "), f"{what}: {stderr}"
        assert len(lines) == 1 or lines[1].startswith("  hint: "), f"{what}: {stderr}"


def workspace_digest(work) -> str:
    h = hashlib.sha256()
    for model in MODELS:
        path = work / model
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            h.update(str(f.relative_to(work)).encode() + b"\0" + f.read_bytes())
            h.update(oct(f.stat().st_mode).encode())
    return h.hexdigest()


@pytest.fixture
def models(repo):
    from gitmodels.repo import Repo

    (repo / "m.bin").write_bytes(hashlib.sha256(b"m").digest() * 3125)
    (repo / "enc" / "weights").mkdir(parents=True)
    (repo / "enc" / "config.json").write_bytes(b'{"dim": 8}')
    (repo / "enc" / "weights" / "w0.bin").write_bytes(b"w" * 5000)
    with Repo(str(repo)) as r:
        r.add([str(repo / "m.bin"), str(repo / "enc")], meta=META, progress=False)
    git(repo, "commit", "-qm", "models")
    return repo


def test_fuzzed_pointers_never_crash_a_read_command_nor_change_an_artifact(models):
    work = models
    rng = random.Random(SEED)
    pristine = {m: (work / f"{m}.gitmodel").read_bytes() for m in MODELS}
    parsed = {m: pointer.parse(pristine[m]) for m in MODELS}
    before = workspace_digest(work)
    kinds: dict[str, int] = {}
    size_lies = 0
    for n in range(MUTATIONS):
        model = rng.choice(sorted(MODELS))
        other = parsed["enc" if model == "m.bin" else "m.bin"].oid
        kind, data = mutate(rng, pristine[model], other)
        kinds[kind] = kinds.get(kind, 0) + 1
        ppath = work / f"{model}.gitmodel"
        ppath.write_bytes(data)
        if n % COMMIT_EVERY == COMMIT_EVERY - 1:
            git(work, "commit", "-qam", f"fuzz {n}", "--allow-empty")
        try:
            mutated = pointer.parse(data)
        except BadPointer:
            mutated = None
        orig = parsed[model]
        lies = mutated is not None and (mutated.oid, mutated.kind) == (orig.oid, orig.kind) \
            and (mutated.size, mutated.files) != (orig.size, orig.files)
        size_lies += lies
        for args in commands(model):
            what = f"mutation {n} ({kind}) of {model}.gitmodel: gitmodels {' '.join(args)}"
            rc, out, err = run_inprocess(work, args)
            check_output(what, rc, out, err)
            if lies and args == ["status"]:
                assert "size mismatch" in out, f"{what}: a wrong size went unreported\n{out}"
            if lies and args == ["checkout"]:
                assert rc == 3 and "size mismatch" in err, f"{what}: checkout accepted a wrong size\n{err}"
            if n % SUBPROCESS_EVERY == 0:
                res = gm(work, *args, check=False)
                check_output(what + " (subprocess)", res.returncode, res.stdout, res.stderr)
                assert res.returncode == rc, f"{what}: in-process exit {rc}, subprocess {res.returncode}"
        assert workspace_digest(work) == before, f"mutation {n} ({kind}) of {model}: an artifact changed"
        ppath.write_bytes(pristine[model])
    assert size_lies >= 20 and len(kinds) >= 15, (size_lies, kinds)  # the mix really covers wrong sizes
