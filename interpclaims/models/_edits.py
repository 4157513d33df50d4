"""Edits: the open :meth:`Model.intervene` contexts and how their edits compose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interpclaims._errors import SiteError
from interpclaims._sites import Site
from interpclaims.backends import Edit, PlainEdit

__all__ = ["ActiveEdits", "compose", "editable"]


class ActiveEdits(dict):  # type: ignore[type-arg]
    """Edits of one open :meth:`Model.intervene` context (compared by identity)."""

    def __init__(self, edits: Mapping[Site, Edit], name: str) -> None:
        super().__init__(edits)
        self.name = name

    __eq__ = object.__eq__  # type: ignore[assignment]
    __hash__ = object.__hash__  # type: ignore[assignment]


def compose(layers: Sequence[Mapping[Site, Edit]]) -> dict[Site, Edit]:
    """One edit per site: edits of later layers apply to the output of earlier ones."""
    out: dict[Site, Edit] = {}
    for layer in layers:
        for site, fn in layer.items():
            if site in out:
                first = out[site]

                def both(act: Any, rows: slice, first: Edit = first, fn: Edit = fn) -> Any:
                    return fn(first(act, rows), rows)

                if isinstance(first, PlainEdit) and isinstance(fn, PlainEdit):
                    out[site] = PlainEdit(both, first.ops + fn.ops)  # remotely: in turn
                else:
                    out[site] = both
            else:
                out[site] = fn
    return out


def editable(edits: dict[Site, Edit]) -> dict[Site, Edit]:
    """``edits``, after checking that each applies to a whole-tensor site."""
    for site in edits:
        if site.kind in ("pattern", "result", "ln_final", "logits") or site.base != site:
            raise SiteError(
                f"cannot edit site {site}: edits apply to whole-tensor sites of kind "
                "resid_pre, z, attn_out, resid_mid, mlp_post, mlp_out or resid_post "
                "(select heads/neurons inside the edit function)"
            )
    return edits
