"""The stable claim id: what names a claim across backends, runs, renames and moves of its file.

The id of a test is its qualified name inside its module (``Class::test_function``, or the name
given by ``@ic.claim_id("...")``) followed by its parameter ids without the backend
(``test_heads[L1H2]``). It contains no file path, so renaming or moving a test file keeps it;
the claim's seed derives from it, so the numbers are kept too. The k-th claim (k >= 2) of a test
that decides several gets ``#k`` appended (``claim.that(x, id="name")`` appends ``#name``
instead). Two tests with the same id in one run are a collection error naming both.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from interpclaims.plugin._markers import MarkerError, ModelParam
from interpclaims.plugin._stash import CLAIM_IDS, TEST_ID

__all__ = ["CLAIM_ID_MARKER", "CLAIM_ID_MARKER_SIGNATURE", "claim_id", "claim_key", "register_id",
           "test_id"]

CLAIM_ID_MARKER = "interpclaims_claim_id"
CLAIM_ID_MARKER_SIGNATURE = (
    f"{CLAIM_ID_MARKER}(name): the stable id of this test's claims in reports and baselines "
    "(default: Class::test_name inside its module), written @ic.claim_id(\"...\")."
)
_ID = re.compile(r"[^\s#\[\]]+")


def claim_id(name: str) -> pytest.MarkDecorator:
    """Give a test's claims an explicit id (instead of ``Class::test_name``): it then survives
    renaming the test function too. Parameter ids (without the backend) are still appended."""
    __tracebackhide__ = True
    _check(name, "ic.claim_id()")
    return pytest.mark.interpclaims_claim_id(name)


def _check(name: object, where: str) -> str:
    __tracebackhide__ = True
    if not isinstance(name, str) or not _ID.fullmatch(name):
        raise MarkerError(f"{where}: a claim id is a non-empty string without spaces, '#', '[' "
                          f"or ']', got {name!r}; e.g. @ic.claim_id(\"induction::L1H0\")")
    return name


def _params(item: Any) -> tuple[list[str], str]:
    """The item's parameter ids without the backend's, and its node id without the ``[...]``."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return [], item.nodeid
    ids = list(callspec._idlist)  # one id per parametrize() call, joined with "-" in the node id
    param = callspec.params.get("model")
    if isinstance(param, ModelParam):
        ids.remove(param.backend)
    return ids, item.nodeid.removesuffix(f"[{callspec.id}]")


def claim_key(item: Any) -> str:
    """The node id without the backend (kept for the report's grouping of rows by test file)."""
    ids, base = _params(item)
    return f"{base}[{'-'.join(ids)}]" if ids else base


def test_id(item: Any) -> str:
    """The stable, backend-free id of a test's claims (see the module docstring)."""
    cached = item.stash.get(TEST_ID, None)
    if cached is not None:
        return str(cached)
    ids, base = _params(item)
    marks = list(item.iter_markers_with_node(CLAIM_ID_MARKER))
    if any(node is not item for node, _ in marks):
        raise MarkerError(f"{item.nodeid}: @ic.claim_id() names one test, so it goes on a test "
                          "function, not on a class or module (where every test would get the "
                          "same id)")
    mark = marks[0][1] if marks else None
    if mark is not None:
        if len(mark.args) != 1 or mark.kwargs:
            raise MarkerError(f"{item.nodeid}: the claim_id marker takes one id, got "
                              f"{mark.args!r} {mark.kwargs!r}")
        name = _check(mark.args[0], f"{item.nodeid}: claim_id")
    else:
        name = base.split("::", 1)[1] if "::" in base else base
    out = f"{name}[{'-'.join(ids)}]" if ids else name
    item.stash[TEST_ID] = out
    return out


def register_id(item: Any, config: pytest.Config) -> None:
    """Record the id of a collected claim test; a second test with the same id is an error."""
    ident = test_id(item)
    seen = config.stash.setdefault(CLAIM_IDS, {})
    other = seen.setdefault(ident, claim_key(item))
    if other != claim_key(item):
        raise MarkerError(
            f"claim id {ident!r} of {claim_key(item)} is already the id of {other}: claim ids "
            "leave out the file path (so that renaming or moving a file keeps them), so two "
            "tests in one run must not share a name. Rename one of the tests, or give one an "
            "explicit id with @ic.claim_id(\"...\")."
        )
