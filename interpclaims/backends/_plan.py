"""The planning stand-in of a backend: the shapes of a model, none of its computation.

``pytest --claims-plan`` runs the claim tests against models whose backend is a
:class:`PlanBackend`: it knows the model's sizes from its config alone (no weights are loaded) and
answers every forward pass with placeholder tensors of the canonical shapes, so that the harness
around it (batching, the activation store, interventions) does exactly the work it would do, and
counts it, while the backend itself computes nothing worth the name.

The placeholders are deterministic and depend on the tokens *up to* each position (a rolling hash
of the prefix), as a causal model's activations do: two prompts that differ at position ``p``
differ at ``p`` and after, not before. Edits are applied to them, and move the logits, so that an
intervention "fires" where it would on a real model. Their values mean nothing.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interpclaims._sites import Site
from interpclaims.backends._arch import arch
from interpclaims.backends._protocol import Edit, ModelSpec

if TYPE_CHECKING:
    import torch

__all__ = ["PlanBackend"]

_PRIME = 1_000_003
_MOD = 2_147_483_647  # 2**31 - 1


def _salt(text: str) -> int:
    return zlib.crc32(text.encode())


class PlanBackend:
    """A backend that stands in for ``name`` (``tl`` or ``nnsight``) without weights."""

    planning = True
    native: Any = None  # no model object: nothing can be hooked, so nothing can leak

    def __init__(self, name: str, spec: ModelSpec, salt: str = "", remote: str = "off") -> None:
        self.name = name
        self.spec = spec
        self.remote_mode = remote  # where the planned model's traces would run
        self.requests = 0  # remote requests the real model would send (sessions)
        self._fetched: set[str] = set()  # weights a model on NDIF would have read
        self._salt = salt
        self._norm_kind = arch(spec.architecture).norm_kind

    def _width(self, kind: str) -> tuple[int, ...]:
        s = self.spec
        return {"z": (s.n_heads, s.d_head), "mlp_post": (s.d_mlp,), "logits": (s.d_vocab,),
                "pattern": (s.n_heads, 0)}.get(kind, (s.d_model,))

    def _noise(self, prefix: torch.Tensor, tag: str, width: int) -> torch.Tensor:
        """Pseudo-random values ``[batch, pos, width]`` in [-1, 1], a function of the prefix hash
        ``prefix`` ``[batch, pos]`` and ``tag``."""
        import torch

        gen = torch.Generator().manual_seed(_salt(self._salt + tag))
        freq = torch.rand(width, generator=gen, dtype=torch.float64) * 0.5 + 0.5
        phase = torch.rand(width, generator=gen, dtype=torch.float64) * 2 * math.pi
        return torch.sin(prefix.double()[..., None] * freq + phase).float()

    def placeholder(self, site: Site, prefix: torch.Tensor) -> torch.Tensor:
        """The placeholder activation of ``site`` in its canonical shape."""
        import torch

        b, p = prefix.shape
        tag = str(site.base)
        if site.kind == "pattern":  # [batch, head, query, key]: causal, rows sum to 1
            raw = self._noise(prefix, tag, self.spec.n_heads * p).reshape(b, p, -1, p)
            causal = torch.ones(p, p, dtype=torch.bool).tril()[:, None, :]  # [query, 1, key]
            return raw.masked_fill(~causal, -math.inf).softmax(-1).permute(0, 2, 1, 3).contiguous()
        shape = self._width(site.kind)
        values = self._noise(prefix, tag, math.prod(shape)).reshape(b, p, *shape)
        if site.kind == "ln_final":
            values = values / (values.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()
        return values

    def forward(self, tokens: torch.Tensor, rows: slice, read: Sequence[Site],
                edits: Mapping[Site, Edit]) -> tuple[torch.Tensor, dict[Site, torch.Tensor]]:
        """Placeholder logits ``[batch, pos, d_vocab]`` and activations of ``read``; each edit is
        applied to its site's placeholder (a read there sees the edited value) and shifts the
        logits along a fixed direction of the vocabulary by its mean change."""
        import torch

        prefix = torch.zeros(tokens.shape, dtype=torch.int64)
        h = torch.zeros(tokens.shape[0], dtype=torch.int64)
        for pos in range(tokens.shape[1]):
            h = (h * _PRIME + tokens[:, pos].long() + 1) % _MOD
            prefix[:, pos] = h
        acts: dict[Site, torch.Tensor] = {}
        shift = torch.zeros(tokens.shape, dtype=torch.float32)
        for site, edit in edits.items():
            before = self.placeholder(site, prefix)
            after = edit(before, rows)
            moved = after - before
            if site.kind == "pattern":
                moved = moved.permute(0, 2, 1, 3)
            shift += moved.reshape(*tokens.shape, -1).mean(-1)
            acts[site] = after
        logits = self.placeholder(Site("logits"), prefix)
        if edits:  # a vocabulary-dependent shift: logit differences move too
            logits = logits + shift[..., None] * self._weight("shift", 1, self.spec.d_vocab)[0]
        out = {s: acts[s] if s in acts else self.placeholder(s, prefix)
               for s in read if s.kind != "logits"}
        if any(s.kind == "logits" for s in read):
            out[Site("logits")] = logits
        return logits, out

    def forward_many(self, passes: Sequence[tuple[torch.Tensor, slice, Sequence[Site],
                                                  Mapping[Site, Edit]]]
                     ) -> list[tuple[torch.Tensor, dict[Site, torch.Tensor]]]:
        """:meth:`forward` of each pass; a remote model would send them as one request."""
        self.requests += self.remote_mode != "off"
        return [self.forward(*p) for p in passes]

    def forward_grad(self, tokens: torch.Tensor, rows: slice, read: Sequence[Site],
                     edits: Mapping[Site, Edit], cotangent: torch.Tensor
                     ) -> tuple[torch.Tensor, dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
        """:meth:`forward` with a gradient of zero at every read site (the pass is counted by the
        model, the values mean nothing)."""
        import torch

        logits, acts = self.forward(tokens, rows, read, edits)
        return logits, acts, {s: torch.zeros_like(v) for s, v in acts.items()}

    def _weight(self, tag: str, *shape: int) -> torch.Tensor:
        import torch

        gen = torch.Generator().manual_seed(_salt(self._salt + tag))
        return torch.randn(*shape, generator=gen) / math.sqrt(shape[-2] if len(shape) > 1 else 1)

    def _fetch(self, key: str) -> None:
        """A model on NDIF reads a weight from the server once: one request (see
        :meth:`NNsightBackend.w_o`)."""
        if self.remote_mode == "ndif" and key not in self._fetched:
            self._fetched.add(key)
            self.requests += 1

    def w_o(self, layer: int) -> torch.Tensor:
        s = self.spec
        self._fetch(f"w_o.{layer}")
        return self._weight(f"W_O{layer}", s.n_heads, s.d_head, s.d_model)

    def unembed(self) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        import torch

        s = self.spec
        self._fetch("w_u")
        return self._weight("W_U", s.d_model, s.d_vocab), torch.ones(s.d_model), self._norm_kind, 1e-5

    def attached(self) -> list[str]:
        return []

    def detach_all(self) -> None:
        return None

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(())
