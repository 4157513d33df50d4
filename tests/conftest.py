"""Shared fixtures of the test suite: the shipped zoo models, loaded once per worker."""

from __future__ import annotations

import pytest

ZOO = ("zoo/agreement", "zoo/agreement-gpt2")


@pytest.fixture(scope="session")
def zoo_models():
    """``{(name, backend): Model}`` for every zoo model on both backends, loaded lazily."""
    from interpclaims.models import ModelRegistry

    registry = ModelRegistry()

    class _Lazy(dict):
        def __missing__(self, key):
            value = registry.get(*key)
            self[key] = value
            return value

    return _Lazy()
