"""The pytest plugin: thin wiring of options, markers, fixtures and hooks (entry point:
``interpclaims.plugin._hooks``)."""

from __future__ import annotations

from interpclaims.plugin._identity import claim_id
from interpclaims.plugin._markers import family, model

__all__ = ["claim_id", "family", "model"]
