"""What a test needs from the machine: present, or the test fails with the line that installs it.

Never a skip: a suite that skips when a tool or library is missing reports green on a machine
that tested nothing (the test install, `pip install -e ".[test]"`, brings every library here).
"""

from __future__ import annotations

import importlib
import shutil

import pytest

TEST_INSTALL = "pip install -e \".[test]\""


def require_tool(binary: str, install: str) -> str:
    """The tool's path; fails (never skips) with the install line when it is missing."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install it with: {install}", pytrace=False)
    return path


def require_module(name: str, install: str = TEST_INSTALL):
    """The imported module; fails (never skips) with the install line when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} cannot be imported ({exc}); install it with: {install}", pytrace=False)
