"""Typed keys of every piece of plugin state (``config.stash`` / ``item.stash``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections import Counter

    from interpclaims.analyses import ResultCache
    from interpclaims.models import Model, ModelRegistry
    from interpclaims.plugin._options import Settings
    from interpclaims.report import Reporter
    from interpclaims.verdicts import Claim, ClaimResult

__all__ = ["CLAIM", "CLAIM_IDS", "DATA_USED", "FAMILY_KEY", "FAMILY_SIZES", "MODEL",
           "PLAN_FIRST_CLAIM", "PLAN_NOTES", "REGISTRY", "REPORTER", "RESULTS", "RESULT_CACHE",
           "SETTINGS", "TEST_ID"]

SETTINGS: pytest.StashKey[Settings] = pytest.StashKey()
REGISTRY: pytest.StashKey[ModelRegistry] = pytest.StashKey()
REPORTER: pytest.StashKey[Reporter] = pytest.StashKey()
# the result cache of this process (opened by the first test that runs on a model), and the
# counters already sent to the controller
RESULT_CACHE: pytest.StashKey[tuple[ResultCache, dict[str, int]]] = pytest.StashKey()
# per item: the claims decided by the test, the model it ran on, the datasets it read
RESULTS: pytest.StashKey[list[ClaimResult]] = pytest.StashKey()
MODEL: pytest.StashKey[Model] = pytest.StashKey()
DATA_USED: pytest.StashKey[dict[str, str]] = pytest.StashKey()
CLAIM: pytest.StashKey[Claim] = pytest.StashKey()
# families as the code declares them, counted at collection: (family key, backend) -> tests
FAMILY_SIZES: pytest.StashKey[Counter[tuple[str, str]]] = pytest.StashKey()
# per item: (family key, family name shown in the report)
FAMILY_KEY: pytest.StashKey[tuple[str, str]] = pytest.StashKey()
# claim ids of the collected claim tests: id -> the node id (without backend) that holds it
CLAIM_IDS: pytest.StashKey[dict[str, str]] = pytest.StashKey()
# per item, in a plan (--claims-plan): why its counts are estimates (empty when exact)
PLAN_NOTES: pytest.StashKey[list[str]] = pytest.StashKey()
# per item, in a plan: the model's forward passes when the test stated its first claim
PLAN_FIRST_CLAIM: pytest.StashKey[int] = pytest.StashKey()
# per item: its stable claim id (without the #k of its second and later claims)
TEST_ID: pytest.StashKey[str] = pytest.StashKey()
