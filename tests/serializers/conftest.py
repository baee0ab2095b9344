"""Fixtures for the serializer tests: tiny data, and a fresh Python to reload models in."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # never TensorFlow in tests

import pytest  # noqa: E402

from .helpers import run_python  # noqa: E402


@pytest.fixture
def fresh_python():
    return run_python


@pytest.fixture(scope="session")
def tiny_xy():
    """30 rows, 3 float32 features, a binary target that depends on them."""
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.rand(30, 3).astype("float32")
    y = ((X[:, 0] + 0.5 * X[:, 1]) > 0.75).astype("int64")
    return X, y


@pytest.fixture(autouse=True)
def _clean_registry():
    from gitmodels import serializers

    serializers.reset_registry()
    yield
    serializers.reset_registry()
