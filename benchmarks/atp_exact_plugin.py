"""pytest plugin of the ``atp`` benchmark (``-p atp_exact_plugin``): every ``patch_sweep`` and
``patch_heads`` of the run patches each cell (``method="exact"``), so the same suite can be
counted with attribution patching (the default) and without."""

from __future__ import annotations

import functools
from typing import Any


def pytest_configure(config: Any) -> None:
    import interpclaims as ic

    for name in ("patch_sweep", "patch_heads"):
        setattr(ic, name, functools.partial(getattr(ic, name), method="exact"))
