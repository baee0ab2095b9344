"""The test harness's own promises: missing tools fail (never skip) with their install line; seeded bytes are
reproducible."""

from __future__ import annotations

import random

import pytest

from tests.requires import require_module, require_tool
from tests.seeded import seeded_bytes


def test_a_missing_tool_fails_with_its_install_line():
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-gm is not installed; install it with: apt-get x"):
        require_tool("no-such-tool-gm", "apt-get x")
    assert require_tool("git", "apt-get install git").endswith("git")


def test_a_missing_module_fails_with_its_install_line():
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_gm cannot be imported .*: pip install nsm"):
        require_module("no_such_module_gm", "pip install nsm")
    with pytest.raises(pytest.fail.Exception, match=r'pip install -e "\.\[test\]"'):
        require_module("no_such_module_gm")
    assert require_module("json").dumps([]) == "[]"


def test_seeded_bytes_are_reproducible_and_distinct():
    assert seeded_bytes(3, 1000) == seeded_bytes(3, 1000) == random.Random(3).randbytes(1000)
    assert len(seeded_bytes("x", 12345)) == 12345
    assert seeded_bytes("a", 64) != seeded_bytes("b", 64) != seeded_bytes(1, 64)
    block = seeded_bytes(1, 1 << 20)
    assert block[:4096] not in block[4096:]  # no repeating period: misplaced ranges never read as right
