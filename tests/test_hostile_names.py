"""Names gitmodels must carry through every hook, and names it must refuse at `add` (issue 15, item 4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gitmodels.errors import PathError
from gitmodels.workspace import ignore
from tests.gitutil import World, git, gitmodels, model_bytes, remote_has, write_model

HOSTILE = ["my model.bin", "it's \"quoted\".bin", "$(touch pwned).bin", "`touch pwned2`.bin", "a;rm -rf x.bin",
           "-rf.bin", "modèle✓ ünïcode.bin", "#hash.bin", "!bang.bin", "[br]acket.bin", "star*.bin", "q?.bin",
           "back\\slash.bin", "trailing spaces  ", " leading space.bin", "semi;colon dir/w.bin", "$HOME.bin",
           "a]b.bin", "\\#both.bin", "--help", "line\u2028sep.bin"]
CONTROL = ["new\nline.bin", "carriage\rreturn.bin", "tab\there.bin", "bell\x07.bin", "esc\x1b[31m.bin",
           "del\x7f.bin", "trailing-cr\r"]


def _ignored_by_git(folder: Path, names: list[str]) -> set[str]:
    out = git(folder, "check-ignore", "-z", "--stdin", input="\0".join(names) + "\0", check=False).stdout
    return {n for n in out.split("\0") if n}


def test_rules_name_exactly_their_file_for_git(tmp_path):
    git(tmp_path, "init", "-q")
    names = [n for n in HOSTILE if "/" not in n] + ["x ", "end\\", "*", "[", "!", "#", " "]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    for name in names:
        rule = ignore.rule_for(name)
        (tmp_path / ".gitignore").write_text(rule + "\n", encoding="utf-8")
        assert _ignored_by_git(tmp_path, names) == {name}, (name, rule)
        assert ignore.rule_name(rule) == name and ignore.rule_name(rule + "/") == name


@pytest.mark.parametrize("line,name", [
    ("/my model.bin", "my model.bin"),          # git reads a space inside a pattern as itself
    ("/x  ", "x"), ("/x\\ ", "x "), ("/x\\  ", "x "),   # unescaped trailing spaces are dropped
    ("/a\\*b", "a*b"), ("/\\#c", "#c"), ("/d/", "d"),
    ("#/x", None), ("!/x", None), ("/*.bin", None), ("/a?", None), ("/[ab]", None), ("/a/b", None),
    ("x.bin", None), ("/end\\", None), ("/", None),
])
def test_rule_name_reads_rules_as_git_does(tmp_path, line, name):
    assert ignore.rule_name(line) == name
    if name:  # and git agrees
        git(tmp_path, "init", "-q")
        if line.endswith("/"):  # a rule for a directory
            (tmp_path / name).mkdir()
            (tmp_path / name / "f").write_bytes(b"x")
        else:
            (tmp_path / name).write_bytes(b"x")
        (tmp_path / ".gitignore").write_text(line + "\n")
        assert _ignored_by_git(tmp_path, [name]) == {name}


def test_an_equivalent_rule_is_not_written_twice(tmp_path):
    (tmp_path / ".gitignore").write_text("/my model.bin\n")
    assert ignore.ensure_ignored(str(tmp_path), "my model.bin") is None
    assert ignore.ensure_ignored(str(tmp_path), "a\u2028b.bin") == ".gitignore"
    assert ignore.ensure_ignored(str(tmp_path), "a\u2028b.bin") is None  # split on \n only, as git splits


@pytest.mark.parametrize("name", CONTROL + ["bad\udcff.bin"])
def test_check_name_refuses_control_characters_and_non_utf8(name):
    with pytest.raises(PathError) as info:
        ignore.check_name("models/" + name)
    assert repr("models/" + name) in info.value.message
    assert "\n" not in info.value.message and "\r" not in info.value.message and info.value.hint


def test_add_refuses_a_newline_with_one_line_and_writes_nothing(repo):
    name = "models/new\nline.bin"
    (repo / "models").mkdir()
    (repo / name).write_bytes(b"weights")
    res = gitmodels(repo, "add", name, check=False)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and lines[0] == f"gitmodels: {name!r} cannot be tracked: its name contains a newline"
    assert lines[1].startswith("  hint: rename it")
    assert sorted(p.name for p in (repo / "models").iterdir()) == ["new\nline.bin"]  # no pointer, no .gitignore
    assert git(repo, "diff", "--cached", "--name-only").stdout == ""


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_hostile_names_go_through_add_commit_push_clone_and_pull(world: World):
    """Each name: `gitmodels add` (CLI), `git add -A` + commit (pre-commit), push (pre-push uploads), a clone
    restores it (install), a new version arrives by `git pull` (post-merge), and git never stages the bytes."""
    alice = world.first_clone("alice")
    local = alice / ".git" / "gitmodels" / "config.toml"  # names only Linux can hold: a Linux-only team's switch
    local.write_text((local.read_text() if local.exists() else "") + "\n[core]\nportable_names = false\n")
    models = {f"models/{n}": model_bytes(n) for n in HOSTILE}
    models["models/dir $(x) [1] #!"] = {"config.json": b"{}", "w $(y).bin": model_bytes("dir")}
    models["-leading dash/m.bin"] = model_bytes("dash")
    for rel, data in models.items():
        write_model(alice / rel, data)
        gitmodels(alice, "add", "--", rel)
    git(alice, "add", "-A")
    staged = set(git(alice, "diff", "--cached", "--name-only", "-z").stdout.split("\0")) - {""}
    assert staged == {f"{rel}.gitmodel" for rel in models} | {f"{rel.rsplit('/', 1)[0]}/.gitignore" for rel in models}
    git(alice, "commit", "-qm", "hostile names")  # pre-commit runs: every pointer checked
    assert git(alice, "status", "--porcelain").stdout == ""
    git(alice, "push", "-q", "origin", "main")  # pre-push uploads
    for rel, data in models.items():
        for content in ([data] if isinstance(data, bytes) else data.values()):
            assert remote_has(world.models, hashlib.sha256(content).hexdigest()), rel
    assert not (alice / "pwned").exists() and not (alice / "models" / "pwned").exists()

    bob = world.clone("bob")  # `gitmodels install` restores every model
    for rel, data in models.items():
        assert _tree(bob / rel) == _tree(alice / rel), rel
    assert git(bob, "status", "--porcelain").stdout == ""

    for rel in list(models)[:6] + ["models/dir $(x) [1] #!"]:  # new versions, restored by post-merge
        data = models[rel]
        models[rel] = model_bytes(rel + "v2") if isinstance(data, bytes) else {**data, "w $(y).bin": b"v2"}
        write_model(alice / rel, models[rel])
        gitmodels(alice, "add", "--", rel)
    git(alice, "commit", "-qam", "v2")
    git(alice, "push", "-q", "origin", "main")
    git(bob, "pull", "-q")
    for rel in models:
        assert _tree(bob / rel) == _tree(alice / rel), rel
    assert git(bob, "status", "--porcelain").stdout == ""
    for clone in (alice, bob):
        assert not list(clone.rglob("pwned*"))
