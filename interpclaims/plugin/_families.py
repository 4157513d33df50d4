"""Declared families: counted when pytest collects a test function, before anything is selected.

Every parametrized instance of a test function is one family; ``ic.family(name)`` groups the tests
of one module under ``name``. A module is always collected whole (``-k``, ``--lf`` and node ids
select among its items afterwards), so the sizes do not depend on what a run selects.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from interpclaims.plugin._identity import register_id
from interpclaims.plugin._markers import FAMILY_MARKER, ModelParam, read_family_marker
from interpclaims.plugin._stash import FAMILY_KEY, FAMILY_SIZES, SETTINGS
from interpclaims.verdicts import Family

__all__ = ["backend_of", "declare", "family_of", "is_claim_test"]


def is_claim_test(item: Any) -> bool:
    names = getattr(item, "fixturenames", ())
    return "claim" in names or "model" in names


def backend_of(item: pytest.Item) -> str:
    """The backend an item runs on (the id of its ``model`` parameter), or ``""``."""
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("model") if callspec is not None else None
    return param.backend if isinstance(param, ModelParam) else ""


def declare(items: list[Any], config: pytest.Config) -> None:
    """Count the claim tests among ``items`` (the items of one test function) in their families."""
    sizes = config.stash.setdefault(FAMILY_SIZES, Counter())
    for item in items:
        if not isinstance(item, pytest.Function) or not is_claim_test(item):
            continue
        function = item.nodeid.split("[", 1)[0]
        mark = item.get_closest_marker(FAMILY_MARKER)
        name = read_family_marker(mark, function, item.nodeid)
        key = f"{item.nodeid.split('::', 1)[0]}::{name}" if mark is not None else function
        register_id(item, config)
        item.stash[FAMILY_KEY] = (key, name)
        sizes[key, backend_of(item)] += 1


def family_of(item: pytest.Item) -> Family:
    """The declared family of a collected claim test, with its size on the item's backend."""
    key, name = item.stash.get(FAMILY_KEY, (item.nodeid, item.nodeid))
    size = item.config.stash.get(FAMILY_SIZES, Counter())[key, backend_of(item)]
    return Family(name, max(size, 1), item.config.stash[SETTINGS].correction)
