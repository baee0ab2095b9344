"""Start-up stays light: no ML framework, cloud SDK or git library until a command needs it."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import gitmodels

HEAVY = ["torch", "keras", "xgboost", "catboost", "sklearn", "skops", "tensorflow", "boto3", "botocore",
         "google.cloud.storage", "azure", "paramiko", "numpy", "pandas", "lightgbm", "onnx", "onnxruntime",
         "transformers", "statsmodels"]


def modules_after(code, cwd=None):
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_gitmodels_is_light():
    loaded = modules_after("import gitmodels")
    assert not [m for m in HEAVY + ["dulwich", "click"] if m in loaded]


def test_cli_status_and_version_import_no_framework(repo):
    loaded = modules_after("from gitmodels.cli import main\nmain(['status'])", cwd=repo)
    assert not [m for m in HEAVY if m in loaded]
    loaded = modules_after("from gitmodels.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass")
    assert "dulwich" not in loaded


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.walk_packages(gitmodels.__path__, "gitmodels.")
                                        if not m.name.startswith("gitmodels.hook_templates") and m.name != "gitmodels.__main__"))
def test_every_module_imports_alone(name):
    subprocess.run([sys.executable, "-c", f"import {name}"], check=True, capture_output=True)


# -- the layout's import rules (shared/STYLE.md, docs/architecture.md), checked by AST ---------------------

PACKAGE = Path(gitmodels.__file__).parent
TOP_LEVEL_PARTS = sorted({p.stem for p in PACKAGE.iterdir()
                          if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem not in ("__init__", "__main__")})


def _modules():
    """(dotted name, path, source tree) of every module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path, ast.parse(path.read_text())


def _runtime_imports(tree):
    """(module, line) for every import that runs, at module or function level; TYPE_CHECKING blocks do not run."""
    hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
              for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, node.lineno
            yield from ((f"{node.module}.{a.name}", node.lineno) for a in node.names)


def _part(module):
    bits = module.split(".")
    return bits[1] if bits[0] == "gitmodels" and len(bits) > 1 and bits[1] in TOP_LEVEL_PARTS else None


MODULES = list(_modules())


def test_only_the_git_package_reads_git():
    """dulwich, the dulwich handle (`.git.repo`) and git command lines appear under gitmodels/git/ alone."""
    found = []
    for name, path, tree in MODULES:
        if name.startswith("gitmodels.git.") or name == "gitmodels.git":
            continue
        found += [f"{name}:{line} imports {mod}" for mod, line in _runtime_imports(tree) if mod.split(".")[0] == "dulwich"]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("repo", "_run", "git") \
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "git":
                found.append(f"{name}:{node.lineno} reaches into GitRepo (.git.{node.attr})")
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)) \
                    and node.args[0].elts and isinstance(node.args[0].elts[0], ast.Constant) \
                    and node.args[0].elts[0].value == "git":
                found.append(f"{name}:{node.lineno} runs git")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("part, allowed", [
    ("storage", ("gitmodels.errors", "gitmodels.storage")),
])
def test_storage_imports_nothing_but_errors(part, allowed):
    bad = [f"{name}:{line} imports {mod}" for name, _, tree in MODULES if _part(name) == part
           for mod, line in _runtime_imports(tree)
           if mod.startswith("gitmodels") and not mod.startswith(allowed) and mod != "gitmodels"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("part, forbidden", [
    ("sync", ("git", "hooks", "cli")),
    ("repo", ("hooks", "cli")),
    ("storage", ("git", "remotes", "sync", "hooks", "cli", "chunking", "workspace", "housekeeping")),
    ("remotes", ("git", "hooks", "cli", "sync", "workspace", "housekeeping", "repo")),
])
def test_arrows_point_down(part, forbidden):
    bad = [f"{name}:{line} imports {mod}" for name, _, tree in MODULES if _part(name) == part
           for mod, line in _runtime_imports(tree) if _part(mod) in forbidden]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_top_level_parts():
    """Function-level imports count: a cycle deferred to call time is still a cycle in the design."""
    edges: dict[str, dict[str, str]] = {}
    for name, _, tree in MODULES:
        for mod, line in _runtime_imports(tree):
            a, b = _part(name), _part(mod)
            if a and b and a != b:
                edges.setdefault(a, {}).setdefault(b, f"{name}:{line}")

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), {}):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted(f"{a} -> {b} ({where}) and back" for a, out in edges.items() for b, where in out.items()
                    if reaches(b, a))
    assert not cycles, "\n".join(cycles)


def test_modules_stay_small_and_the_top_level_short():
    long = [f"{path.relative_to(PACKAGE.parent)}: {n} lines" for _, path, _ in MODULES
            if (n := len(path.read_text().splitlines())) > 600]
    assert not long, "\n".join(long)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
