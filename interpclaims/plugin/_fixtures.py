"""The ``model`` and ``claim`` fixtures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from interpclaims._errors import ModelLoadError
from interpclaims.plugin._families import family_of
from interpclaims.plugin._identity import claim_key, test_id
from interpclaims.plugin._markers import ModelParam
from interpclaims.plugin._stash import (
    CLAIM,
    MODEL,
    PLAN_FIRST_CLAIM,
    REGISTRY,
    RESULTS,
    SETTINGS,
)
from interpclaims.verdicts import Claim, ClaimResult

__all__ = ["claim", "model"]


@pytest.fixture
def model(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The model named by ``ic.model(...)``, loaded on one backend (ids ``tl``, ``nnsight``).

    After the test, the model must carry no hook or edit: a leak fails the test, naming it.
    """
    param = getattr(request, "param", None)
    if not isinstance(param, ModelParam):
        pytest.fail(
            f"{request.node.nodeid}: the `model` fixture needs a model marker; add "
            "`pytestmark = ic.model(\"zoo/agreement\")` to the module (or decorate the test "
            "with @ic.model(...))", pytrace=False,
        )
    error: ModelLoadError | None = None
    try:
        loaded = request.config.stash[REGISTRY].get(param.name, param.backend, param.placement,
                                                    param.remote)
    except ModelLoadError as e:
        error = e
    if error is not None:  # outside the except block: the message once, without a chain
        pytest.fail(f"{request.node.nodeid}: {error}", pytrace=False)
    request.node.stash[MODEL] = loaded
    yield loaded
    leaks = loaded.leaks()
    if leaks:
        registry = request.config.stash[REGISTRY]
        edited = loaded.edited_parameters()
        loaded.clean_up()
        if edited:  # weights cannot be put back from here: the next test gets a fresh load
            registry.discard(loaded)
        pytest.fail(
            f"{request.node.nodeid}: the test left {loaded.name} [{loaded.backend}] modified: "
            f"{', '.join(leaks)}. Attach hooks only inside a context that removes them, and undo "
            "weight edits before the test ends (interpclaims "
            + ("reloads the model" if edited else "removed them") + " so that later tests run "
            "on a clean model).",
            pytrace=False,
        )


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> Claim:
    """``claim.that(estimate).exceeds(...)``: decide a claim on intervals and record it."""
    item = request.node
    results = item.stash.setdefault(RESULTS, [])
    key, ident = claim_key(item), test_id(item)
    xfail = item.get_closest_marker("xfail")

    def record(result: ClaimResult) -> None:
        loaded = item.stash.get(MODEL, None)
        k = len(results)
        name = (f"{ident}#{result.claim_id}" if result.claim_id else
                f"{ident}#{k + 1}" if k else ident)
        results.append(dataclasses.replace(
            result, nodeid=item.nodeid, claim_key=key, claim_id=name, index=k,
            backend=loaded.backend if loaded else "", model=loaded.name if loaded else "",
            model_sha256=loaded.weights_hash if loaded else None,
            seed=request.config.stash[SETTINGS].seed,
            xfail=xfail is not None, xfail_reason=_reason(xfail),
        ))

    if request.config.stash[SETTINGS].plan:
        item.stash[CLAIM] = _PlanClaim(record, family_of(item), dry=True)
        item.stash[CLAIM].item = item
    else:
        item.stash[CLAIM] = Claim(record, family_of(item))
    return item.stash[CLAIM]


class _PlanClaim(Claim):
    """The ``claim`` of a plan: decides nothing (dry), and notes how many forward passes the
    model had run when the test stated its first claim (``item.stash[PLAN_FIRST_CLAIM]``): in a
    real run a refuted claim stops the test there."""

    item: pytest.Item

    def that(self, estimate: Any, *, id: str | None = None) -> Any:
        loaded = self.item.stash.get(MODEL, None)
        if loaded is not None and PLAN_FIRST_CLAIM not in self.item.stash:
            self.item.stash[PLAN_FIRST_CLAIM] = loaded.forward_passes
        return super().that(estimate, id=id)


def _reason(mark: pytest.Mark | None) -> str | None:
    """The ``reason=`` of an xfail marker ("" when it gives none; None without the marker)."""
    return None if mark is None else str(mark.kwargs.get("reason") or "")
