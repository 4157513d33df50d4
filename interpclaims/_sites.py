"""Typed activation sites.

A :class:`Site` names one place in a transformer where an activation can be read or edited. Users
write TransformerLens hook names (``blocks.1.hook_resid_post``), shorthand (``L1H2``, ``L1.mlp_out``,
``L0N17``) or call the constructors (``resid_post(1)``); every form is parsed at the boundary into
a ``Site``. Each backend translates a ``Site`` into its own names.

Canonical shapes of the activation at each kind (``batch`` prompts, ``pos`` tokens):

=============  =========================================  ======================================
kind           shape                                      TransformerLens hook
=============  =========================================  ======================================
resid_pre      ``[batch, pos, d_model]``                  ``blocks.L.hook_resid_pre``
attn_out       ``[batch, pos, d_model]``                  ``blocks.L.hook_attn_out``
resid_mid      ``[batch, pos, d_model]``                  ``blocks.L.hook_resid_mid``
mlp_post       ``[batch, pos, d_mlp]`` (MLP neurons)      ``blocks.L.mlp.hook_post``
mlp_out        ``[batch, pos, d_model]``                  ``blocks.L.hook_mlp_out``
resid_post     ``[batch, pos, d_model]``                  ``blocks.L.hook_resid_post``
z              ``[batch, pos, n_heads, d_head]``          ``blocks.L.attn.hook_z``
result         ``[batch, pos, n_heads, d_model]``         ``blocks.L.attn.hook_result``
pattern        ``[batch, n_heads, query_pos, key_pos]``   ``blocks.L.attn.hook_pattern``
logits         ``[batch, pos, d_vocab]``                  (model output)
=============  =========================================  ======================================

A site with ``head`` set selects one head of a per-head kind; a site with ``neuron`` set selects
one neuron of ``mlp_post``. Selections are applied by :meth:`Site.select`.

A site with ``feature`` set is one feature of the sparse autoencoder (SAE) read at a
residual-width site: ``L0.resid_post/sae:249`` (or ``blocks.0.hook_resid_post/sae:249``) is
feature 249 of the SAE at layer 0's residual output. Its value is computed from the base site's
activation by an SAE (the model's shipped companion, or one given with ``sae=``), so it is read
and edited by the SAE analyses (:func:`interpclaims.sae_activation`, ...), not by ``select``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interpclaims._errors import SiteError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "KINDS",
    "SAE_KINDS",
    "Site",
    "attn_out",
    "head",
    "logits",
    "mlp_out",
    "mlp_post",
    "parse_site",
    "pattern",
    "resid_mid",
    "resid_post",
    "resid_pre",
]

PER_HEAD_KINDS = ("z", "result", "pattern")
KINDS = (
    "resid_pre",
    "z",
    "result",
    "pattern",
    "attn_out",
    "resid_mid",
    "mlp_post",
    "mlp_out",
    "resid_post",
    "logits",
)
# Execution order of each kind inside one layer; backends that must visit sites in forward order
# (NNsight) sort on it.
_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_ORDER["result"] = _ORDER["z"]

_TL_HOOK = {
    "resid_pre": "blocks.{L}.hook_resid_pre",
    "attn_out": "blocks.{L}.hook_attn_out",
    "resid_mid": "blocks.{L}.hook_resid_mid",
    "mlp_post": "blocks.{L}.mlp.hook_post",
    "mlp_out": "blocks.{L}.hook_mlp_out",
    "resid_post": "blocks.{L}.hook_resid_post",
    "z": "blocks.{L}.attn.hook_z",
    "result": "blocks.{L}.attn.hook_result",
    "pattern": "blocks.{L}.attn.hook_pattern",
}
_TL_RE = re.compile(
    r"^blocks\.(?P<layer>\d+)\.(?:(?P<attn>attn)\.hook_(?P<akind>z|result|pattern)"
    r"|mlp\.hook_(?P<mkind>post)"
    r"|hook_(?P<kind>resid_pre|resid_mid|resid_post|attn_out|mlp_out))$"
)
_SHORT_RE = re.compile(
    r"^L(?P<layer>\d+)(?:H(?P<head>\d+)|N(?P<neuron>\d+))?(?:\.(?P<kind>[a-z_]+))?$"
)
_ALIASES = {"mlp": "mlp_out", "attn": "attn_out", "post": "mlp_post", "neuron": "mlp_post"}
_SAE_RE = re.compile(r"^(?P<base>.+)/sae:(?P<feature>\d+)$")
#: Kinds an SAE feature can be read at (residual-width, one vector per token).
SAE_KINDS = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")


@dataclass(frozen=True, slots=True)
class Site:
    """One activation site: a kind, a layer, and optionally a head or an MLP neuron."""

    kind: str
    layer: int | None = None
    head: int | None = None
    neuron: int | None = None
    feature: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SiteError(
                f"unknown site kind {self.kind!r}; valid kinds are: {', '.join(KINDS)}"
            )
        if self.kind == "logits":
            if self.layer is not None or self.head is not None or self.neuron is not None:
                raise SiteError("the logits site takes no layer, head or neuron; write 'logits'")
            return
        if not isinstance(self.layer, int) or isinstance(self.layer, bool) or self.layer < 0:
            raise SiteError(f"site {self.kind!r} needs a layer index >= 0 (an int; layer 0 is "
                            f"the first block), got {self.layer!r}")
        if self.head is not None:
            if self.kind not in PER_HEAD_KINDS:
                raise SiteError(
                    f"a head can only be selected on a per-head site ({', '.join(PER_HEAD_KINDS)}),"
                    f" not on {self.kind!r}"
                )
            if isinstance(self.head, bool) or not isinstance(self.head, int) or self.head < 0:
                raise SiteError(f"site {self.kind!r} of layer {self.layer}: a head index must be "
                                f"an int >= 0 (H0 is the first head), got {self.head!r}")
        if self.feature is not None:
            self._check_feature()
        if self.neuron is not None:
            if self.kind != "mlp_post":
                raise SiteError(f"a neuron can only be selected on 'mlp_post', not on {self.kind!r}")
            if (isinstance(self.neuron, bool) or not isinstance(self.neuron, int)
                    or self.neuron < 0):
                raise SiteError(f"site 'mlp_post' of layer {self.layer}: a neuron index must be "
                                f"an int >= 0, got {self.neuron!r}")

    def _check_feature(self) -> None:
        if self.kind not in SAE_KINDS or self.head is not None or self.neuron is not None:
            raise SiteError(f"an SAE feature is read at a residual-width site ({', '.join(SAE_KINDS)}"
                            f"), not at {Site(self.kind, self.layer, self.head, self.neuron)}; "
                            "write e.g. 'L0.resid_post/sae:249'")
        if (isinstance(self.feature, bool) or not isinstance(self.feature, int)
                or self.feature < 0):
            raise SiteError(f"site {self.kind!r} of layer {self.layer}: an SAE feature index must "
                            f"be an int >= 0, got {self.feature!r}")

    # -- names -----------------------------------------------------------------------------
    @property
    def base(self) -> Site:
        """The whole-tensor site this one selects from (drops head, neuron and SAE feature)."""
        return Site(self.kind, self.layer)

    @property
    def tl_name(self) -> str:
        """The TransformerLens hook name of the whole-tensor site."""
        if self.kind == "logits":
            return "logits"
        return _TL_HOOK[self.kind].format(L=self.layer)

    @property
    def order(self) -> tuple[int, int]:
        """Sort key in forward-execution order."""
        if self.kind == "logits":
            return (1 << 30, 0)
        assert self.layer is not None
        return (self.layer, _ORDER[self.kind])

    def __str__(self) -> str:
        if self.kind == "logits":
            return "logits"
        if self.head is not None:
            return f"L{self.layer}H{self.head}.{self.kind}"
        if self.neuron is not None:
            return f"L{self.layer}N{self.neuron}"
        if self.feature is not None:
            return f"L{self.layer}.{self.kind}/sae:{self.feature}"
        return f"L{self.layer}.{self.kind}"

    # -- model checks ----------------------------------------------------------------------
    def check(self, n_layers: int, n_heads: int, d_mlp: int, model: str = "the model") -> Site:
        """Raise :class:`SiteError` when this site does not exist in a model of these sizes."""
        if self.layer is not None and self.layer >= n_layers:
            raise SiteError(
                f"site {self} does not exist in {model}: it has {n_layers} layers "
                f"(0..{n_layers - 1}). Valid examples: "
                + ", ".join(str(Site(self.kind, ly)) for ly in range(n_layers))
            )
        if self.head is not None and self.head >= n_heads:
            raise SiteError(
                f"head {self.head} in site {self} does not exist in {model}: it has {n_heads} heads "
                f"per layer (H0..H{n_heads - 1})"
            )
        if self.neuron is not None and self.neuron >= d_mlp:
            raise SiteError(
                f"neuron {self.neuron} in site {self} does not exist in {model}: its MLP has "
                f"{d_mlp} neurons (0..{d_mlp - 1})"
            )
        return self

    def select(self, act: Any) -> Any:
        """Select this site's head or neuron from the whole-tensor activation of :attr:`base`."""
        if self.feature is not None:
            raise SiteError(f"{self} is an SAE feature: its value is the SAE's encoding of {self.base}"
                            "; read it with ic.sae_activation(...) (or the SAE's encode), not select")
        if self.head is not None:
            return act[:, :, self.head] if self.kind != "pattern" else act[:, self.head]
        if self.neuron is not None:
            return act[..., self.neuron]
        return act

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "layer": self.layer, "head": self.head, "neuron": self.neuron}
        if self.feature is not None:
            out["feature"] = self.feature
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Site:
        return cls(data["kind"], data.get("layer"), data.get("head"), data.get("neuron"),
                   data.get("feature"))


def all_site_names(n_layers: int, n_heads: int) -> Iterator[str]:
    """Every spelling accepted for a model of this size (used for 'did you mean' hints)."""
    yield "logits"
    for layer in range(n_layers):
        for kind in KINDS[:-1]:
            yield _TL_HOOK[kind].format(L=layer)
            yield f"L{layer}.{kind}"
        for h in range(n_heads):
            yield f"L{layer}H{h}"


def parse_site(
    spec: str | Site, *, default_kind: str = "z", n_layers: int | None = None,
    n_heads: int | None = None,
) -> Site:
    """Parse a site spelling into a :class:`Site`.

    Accepted: a ``Site``; a TransformerLens hook name (``blocks.1.hook_resid_post``,
    ``blocks.0.attn.hook_z``, ``blocks.0.mlp.hook_post``); ``logits``; shorthand ``L1`` (the
    ``default_kind`` of layer 1 — for a whole layer prefer ``L1.resid_post``), ``L1.mlp_out``,
    ``L1H2`` (head 2 of layer 1, kind ``default_kind`` when it is per-head, else ``z``),
    ``L1H2.pattern``, ``L0N17`` (MLP neuron 17 of layer 0); any residual-width site followed by
    ``/sae:N`` is feature ``N`` of the SAE there (``L0.resid_post/sae:249``).

    When ``n_layers``/``n_heads`` are known, an unknown name lists the nearest valid names.
    """
    __tracebackhide__ = True
    if isinstance(spec, Site):
        return spec
    if not isinstance(spec, str):
        raise SiteError(f"a site must be a string or a Site, got {type(spec).__name__}: {spec!r}; "
                        "write e.g. 'L1H2', 'L1.resid_post' or ic.resid_post(1)")
    text = spec.strip()
    m = _SAE_RE.match(text)
    if m:
        base = parse_site(m["base"], default_kind="resid_post", n_layers=n_layers, n_heads=n_heads)
        return Site(base.kind, base.layer, base.head, base.neuron, int(m["feature"]))
    if text == "logits":
        return Site("logits")
    m = _TL_RE.match(text)
    if m:
        kind = m["kind"] or m["akind"] or ("mlp_post" if m["mkind"] else None)
        assert kind is not None
        return Site(kind, int(m["layer"]))
    m = _SHORT_RE.match(text)
    if m:
        layer = int(m["layer"])
        kind = m["kind"]
        kind = _ALIASES.get(kind, kind) if kind else None
        if m["head"] is not None:
            kind = kind or (default_kind if default_kind in PER_HEAD_KINDS else "z")
            return Site(kind, layer, head=int(m["head"]))
        if m["neuron"] is not None:
            return Site(kind or "mlp_post", layer, neuron=int(m["neuron"]))
        if kind is None:
            kind = default_kind if default_kind not in PER_HEAD_KINDS else "resid_post"
        if kind in KINDS:
            return Site(kind, layer)
    hint = ""
    if n_layers is not None and n_heads is not None:
        names = list(all_site_names(n_layers, n_heads))
        if "/" in text:  # an SAE feature misspelt: offer the SAE spellings with its number
            digits = "".join(ch for ch in text.rsplit("/", 1)[-1] if ch.isdigit()) or "0"
            names = [f"L{ly}.{k}/sae:{digits}" for ly in range(n_layers) for k in SAE_KINDS]
        near = difflib.get_close_matches(text, names, n=4, cutoff=0.5)
        if near:
            hint = " Did you mean: " + ", ".join(near) + "?"
    raise SiteError(
        f"unknown site {spec!r}.{hint} Write a TransformerLens hook name such as "
        "'blocks.1.hook_resid_post' or 'blocks.0.attn.hook_z', or shorthand such as 'L1H2' "
        "(head), 'L1H2.pattern', 'L1.mlp_out', 'L0N17' (MLP neuron), 'L0.resid_post/sae:249' "
        "(SAE feature) or 'logits'."
    )


def resid_pre(layer: int) -> Site:
    """Residual stream entering block ``layer``."""
    return Site("resid_pre", layer)


def resid_mid(layer: int) -> Site:
    """Residual stream between attention and MLP of block ``layer``."""
    return Site("resid_mid", layer)


def resid_post(layer: int) -> Site:
    """Residual stream leaving block ``layer``."""
    return Site("resid_post", layer)


def attn_out(layer: int) -> Site:
    """Output of the attention sublayer of block ``layer``."""
    return Site("attn_out", layer)


def mlp_out(layer: int) -> Site:
    """Output of the MLP sublayer of block ``layer``."""
    return Site("mlp_out", layer)


def mlp_post(layer: int, neuron: int | None = None) -> Site:
    """MLP neuron activations of block ``layer`` (one neuron when ``neuron`` is given)."""
    return Site("mlp_post", layer, neuron=neuron)


def head(layer: int, index: int, kind: str = "z") -> Site:
    """Per-head site: ``z`` (head output before W_O), ``result`` (after W_O) or ``pattern``."""
    return Site(kind, layer, head=index)


def pattern(layer: int, index: int | None = None) -> Site:
    """Attention pattern of block ``layer`` (one head when ``index`` is given)."""
    return Site("pattern", layer, head=index)


def logits() -> Site:
    """The model's output logits."""
    return Site("logits")
