"""Runtime and dependency metadata, read without importing any framework."""

from __future__ import annotations

import importlib.metadata
import platform
import re

from gitmodels import metadata
from tests.requires import require_module


def test_runtime_info():
    info = metadata.runtime_info()
    assert info == {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()}-{platform.machine()}",
    }


def test_dependency_versions_skip_missing_and_keep_order():
    versions = metadata.dependency_versions(["numpy", "definitely-not-installed-gm", "scikit-learn"])
    assert list(versions) == ["numpy", "scikit-learn"]
    assert versions["numpy"] == importlib.metadata.version("numpy")


def test_dependency_versions_find_renamed_distributions():
    xgboost = require_module("xgboost")
    # installed here as xgboost-cpu; recorded under the name users know
    assert metadata.dependency_versions(["xgboost"]) == {"xgboost": xgboost.__version__}
    # an import name resolves to the distribution that provides it
    assert metadata.dependency_versions(["sklearn"]) == {"sklearn": importlib.metadata.version("scikit-learn")}


def test_environment_requirements_are_sorted_deterministic_lines():
    text = metadata.environment_requirements()
    assert text == metadata.environment_requirements()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==\S+", line) for line in lines)
    keys = [metadata.canonical_name(line.split("==")[0]) for line in lines]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert f"numpy=={importlib.metadata.version('numpy')}" in lines


def _recorded(**changes):
    meta = {"runtime": metadata.runtime_info(),
            "dependencies": metadata.dependency_versions(["numpy", "scikit-learn"])}
    for table, values in changes.items():
        meta[table] = {**meta[table], **values}
    return meta


def test_check_runtime_is_quiet_in_the_same_environment():
    assert metadata.check_runtime(_recorded()) == []


def test_check_runtime_warns_on_another_python():
    major, minor, _ = platform.python_version_tuple()
    other = f"{major}.{int(minor) + 1}.0"
    warnings = metadata.check_runtime(_recorded(runtime={"python": other}))
    assert warnings == [f"model saved with Python {other}, running Python {platform.python_version()}"]
    # a patch release does not warn
    assert metadata.check_runtime(_recorded(runtime={"python": f"{major}.{minor}.999"})) == []
    assert "PyPy" in metadata.check_runtime(_recorded(runtime={"implementation": "PyPy"}))[0]


def test_check_runtime_warns_on_other_framework_versions():
    current = importlib.metadata.version("scikit-learn")
    warnings = metadata.check_runtime(_recorded(dependencies={"scikit-learn": "0.24.2"}))
    assert warnings == [f"model saved with scikit-learn 0.24.2, installed here: {current}"]
    # a local version label ("+cpu") is not a different version
    assert metadata.check_runtime(_recorded(dependencies={"scikit-learn": current + "+cpu"})) == []
    missing = metadata.check_runtime({"dependencies": {"definitely-not-installed-gm": "1.0"}})
    assert missing == ["model saved with definitely-not-installed-gm 1.0, which is not installed here"]
    assert metadata.check_runtime({}) == []


def test_utc_now_iso():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata.utc_now_iso())
