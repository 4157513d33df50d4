"""Typed keys of every piece of plugin state (``config.stash`` / ``item.stash``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from interpclaims.models import Model, ModelRegistry  # noqa: F401 (string annotations)
    from interpclaims.report._reporter import Reporter  # noqa: F401

@dataclass(frozen=True, slots=True)
class Settings:
    backends: tuple[str, ...]
    seed: int
    allow_inconclusive: bool
    n_resamples: int
    report_dir: Path
    cache_mode: str  # rw | read | off
    cache_dir: Path
    correction: str = "holm"  # holm | bh | none, within each family


SETTINGS = pytest.StashKey["Settings"]()
REGISTRY = pytest.StashKey["ModelRegistry"]()
REPORTER = pytest.StashKey["Reporter"]()
# per item: the claims decided by the test, and the model it ran on
RESULTS = pytest.StashKey[list[dict[str, Any]]]()
MODEL = pytest.StashKey["Model"]()
DATA_USED = pytest.StashKey[dict[str, str]]()
