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


@pytest.fixture(autouse=True, scope="session")
def _heavy_modules_imported_once():
    """In-process pytester runs restore ``sys.modules`` afterwards, dropping what they imported;
    torch cannot be imported a second time in one process (its extension segfaults on re-init).
    Importing the model libraries here, outside the inner runs, keeps them loaded."""
    import nnsight  # noqa: F401
    import torch  # noqa: F401
    import transformer_lens  # noqa: F401
    import transformers  # noqa: F401
