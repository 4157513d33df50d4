"""The ``model`` and ``claim`` fixtures, and the key that names a claim across backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from interpclaims._errors import ModelLoadError
from interpclaims.plugin._markers import FAMILY_MARKER, ModelParam, read_family_marker
from interpclaims.plugin._stash import MODEL, REGISTRY, RESULTS, SETTINGS
from interpclaims.verdicts import Claim, ClaimResult

__all__ = ["claim", "claim_key", "model"]


def claim_key(item: pytest.Item) -> str:
    """The node id without the backend: both backends of a claim draw the same random numbers.

    The backend is the id of the ``model`` parameter, found through the item's callspec (never by
    parsing the node id, where another parameter's id could look the same).
    """
    callspec = getattr(item, "callspec", None)
    if callspec is None or not isinstance(param := callspec.params.get("model"), ModelParam):
        return item.nodeid
    ids = list(callspec._idlist)  # one id per parametrize() call, joined with "-" in the node id
    ids.remove(param.backend)
    base = item.nodeid.removesuffix(f"[{callspec.id}]")
    return f"{base}[{'-'.join(ids)}]" if ids else base


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
    try:
        loaded = request.config.stash[REGISTRY].get(param.name, param.backend)
    except ModelLoadError as e:
        pytest.fail(f"{request.node.nodeid}: {e}", pytrace=False)
    request.node.stash[MODEL] = loaded
    yield loaded
    leaks = loaded.leaks()
    if leaks:
        loaded.clean_up()
        pytest.fail(
            f"{request.node.nodeid}: hooks left attached to {loaded.name} [{loaded.backend}] "
            f"after the test: {', '.join(leaks)}. Attach hooks only inside a context that removes "
            "them (interpclaims removed them now so that later tests run on a clean model).",
            pytrace=False,
        )


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> Claim:
    """``claim.that(estimate).exceeds(...)``: decide a claim on intervals and record it."""
    item = request.node
    results = item.stash.setdefault(RESULTS, [])
    # all parametrized instances of one test function form a family unless ic.family() names one
    family = read_family_marker(item.get_closest_marker(FAMILY_MARKER),
                                item.nodeid.split("[", 1)[0], item.nodeid)
    key = claim_key(item)

    def record(result: ClaimResult) -> None:
        loaded = item.stash.get(MODEL, None)
        results.append(dataclasses.replace(
            result, nodeid=item.nodeid, claim_key=key, index=len(results),
            backend=loaded.backend if loaded else "", model=loaded.name if loaded else "",
            model_sha256=loaded.weights_hash if loaded else None,
            seed=request.config.stash[SETTINGS].seed,
            xfail=item.get_closest_marker("xfail") is not None, family=family,
        ))

    return Claim(record)
