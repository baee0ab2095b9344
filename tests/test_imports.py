"""Start-up stays light: no ML framework, cloud SDK or git library until a command needs it."""

import json
import pkgutil
import subprocess
import sys

import pytest

import gitmodels

HEAVY = ["torch", "keras", "xgboost", "catboost", "sklearn", "skops", "tensorflow", "boto3", "botocore",
         "google.cloud.storage", "azure", "paramiko", "numpy", "pandas"]


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
