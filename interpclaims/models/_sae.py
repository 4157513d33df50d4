"""Sparse autoencoders (SAEs) in SAELens's folder format, and the SAE of a model's site.

An SAE folder holds ``cfg.json`` + ``sae_weights.safetensors`` (what ``sae_lens.SAE.save_model``
writes and ``SAE.load_from_disk`` reads). It is read here with ``safetensors`` directly, so
reading SAE features needs neither SAELens nor ``HookedSAETransformer`` (which replaces the hook
point it attaches to and silently drops other hooks there). Architectures: ``standard``
(``f = relu((x - b_dec·apply_b_dec_to_input) @ W_enc + b_enc)``) and ``jumprelu`` (the same
pre-activation, kept where it exceeds ``threshold``); decoding is ``f @ W_dec + b_dec``.

The SAE of a model: ``sae=None`` takes the companion shipped in the model folder
(``<folder>/sae/``, e.g. zoo/agreement's SAE at ``blocks.0.hook_resid_post``); ``sae="path"``
takes a SAELens folder of the user's; ``sae=ic.load_sae(path)`` a loaded one.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpclaims._errors import InterpClaimsError, SiteError
from interpclaims._hashing import file_sha256
from interpclaims._sites import Site, parse_site

if TYPE_CHECKING:
    import torch

    from interpclaims.models._model import Model

__all__ = ["SAE_ARCHITECTURES", "SparseAutoencoder", "load_sae", "resolve_sae", "sae_for"]

SAE_ARCHITECTURES = ("standard", "jumprelu")


@dataclass(frozen=True, slots=True)
class SparseAutoencoder:
    """An SAE read from a SAELens folder: weights ``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``,
    ``b_enc [d_sae]``, ``b_dec [d_in]`` (float32, CPU) and the site it reads."""

    path: str
    site: Site
    architecture: str
    d_in: int
    d_sae: int
    W_enc: Any
    W_dec: Any
    b_enc: Any
    b_dec: Any
    threshold: Any
    apply_b_dec_to_input: bool
    sha256: str

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``[..., d_sae]`` of activations ``x`` ``[..., d_in]``."""
        import torch

        inp = x - self.b_dec if self.apply_b_dec_to_input else x
        pre = inp.to(self.W_enc.dtype) @ self.W_enc + self.b_enc
        if self.threshold is not None:
            return torch.where(pre > self.threshold, pre, torch.zeros_like(pre))
        return torch.relu(pre)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``[..., d_in]`` of feature activations ``f`` ``[..., d_sae]``."""
        return f @ self.W_dec + self.b_dec

    def check_feature(self, feature: int, where: str) -> int:
        """``feature``, or :class:`SiteError` when this SAE has no such feature."""
        if not 0 <= feature < self.d_sae:
            raise SiteError(f"{where}: feature {feature} does not exist in the SAE at {self.site} "
                            f"({self.path}): it has {self.d_sae} features (0..{self.d_sae - 1})")
        return feature

    def __repr__(self) -> str:
        return f"<SparseAutoencoder {self.site} d_sae={self.d_sae} from {self.path}>"


def _read_cfg(folder: Path) -> dict[str, Any]:
    __tracebackhide__ = True
    cfg_path, weights = folder / "cfg.json", folder / "sae_weights.safetensors"
    if not folder.is_dir() or not cfg_path.is_file() or not weights.is_file():
        have = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "nothing"
        raise InterpClaimsError(
            f"no SAE at {folder}: an SAE folder in SAELens's format holds cfg.json and "
            f"sae_weights.safetensors (sae_lens's SAE.save_model writes them); found {have}")
    cfg: dict[str, Any] = json.loads(cfg_path.read_text(encoding="utf-8"))
    return cfg


@functools.lru_cache(maxsize=16)
def _load(folder: str, digest: str) -> SparseAutoencoder:
    __tracebackhide__ = True
    from safetensors.torch import load_file

    path = Path(folder)
    cfg = _read_cfg(path)
    arch = cfg.get("architecture", "standard")
    if arch not in SAE_ARCHITECTURES:
        raise InterpClaimsError(f"SAE at {folder}: architecture {arch!r} is not supported; "
                                f"supported: {', '.join(SAE_ARCHITECTURES)}")
    meta = cfg.get("metadata") or {}
    hook = meta.get("hook_name") or cfg.get("hook_name") or cfg.get("hook_point")
    if not hook:
        raise InterpClaimsError(f"SAE at {folder}: cfg.json names no hook (metadata.hook_name); "
                                "add the TransformerLens hook name it reads, e.g. "
                                "'blocks.0.hook_resid_post'")
    site = parse_site(hook)
    w = {k: v.float() for k, v in load_file(str(path / "sae_weights.safetensors")).items()}
    missing = {"W_enc", "W_dec", "b_enc", "b_dec"} - set(w)
    if missing or (arch == "jumprelu" and "threshold" not in w):
        raise InterpClaimsError(f"SAE at {folder}: sae_weights.safetensors lacks "
                                f"{sorted(missing) or ['threshold']} (has {sorted(w)})")
    d_in, d_sae = w["W_enc"].shape
    return SparseAutoencoder(
        path=folder, site=site, architecture=arch, d_in=int(d_in), d_sae=int(d_sae),
        W_enc=w["W_enc"], W_dec=w["W_dec"], b_enc=w["b_enc"], b_dec=w["b_dec"],
        threshold=w.get("threshold"),
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", arch == "standard")),
        sha256=digest)


def load_sae(path: str | Path) -> SparseAutoencoder:
    """Read an SAE folder in SAELens's format (``cfg.json`` + ``sae_weights.safetensors``).

    Loaded once per folder and file content (the weights' sha256 keys the cache).
    """
    __tracebackhide__ = True
    folder = Path(path).resolve()
    _read_cfg(folder)
    return _load(str(folder), file_sha256(folder / "sae_weights.safetensors"))


def resolve_sae(model: Model, sae: SparseAutoencoder | str | Path | None, where: str
                ) -> SparseAutoencoder:
    """``sae`` loaded: ``None`` is the companion shipped in the model's folder (``<folder>/sae``),
    a path a SAELens folder, a :class:`SparseAutoencoder` itself."""
    __tracebackhide__ = True
    if sae is None:
        folder = Path(model.source) / "sae"
        if not (folder / "cfg.json").is_file():
            raise InterpClaimsError(
                f"{where}: {model.name} ships no SAE (no {folder}/cfg.json); pass "
                "sae='path/to/saelens/folder' (cfg.json + sae_weights.safetensors) or "
                "sae=ic.load_sae(path)")
        found = load_sae(folder)
    elif isinstance(sae, SparseAutoencoder):
        found = sae
    else:
        found = load_sae(sae)
    return found


def sae_for(model: Model, site: Site, sae: SparseAutoencoder | str | Path | None,
            where: str) -> SparseAutoencoder:
    """The SAE that reads ``site`` (an SAE feature site) of ``model``.

    ``sae=None``: the companion shipped in the model's folder (``<folder>/sae``). Raises
    :class:`SiteError` when the SAE reads another site, or is missing, naming what exists.
    """
    __tracebackhide__ = True
    found = resolve_sae(model, sae, where)
    if found.site != site.base:
        near = difflib.get_close_matches(str(site.base), [str(found.site)], n=1, cutoff=0.0)
        raise SiteError(f"{where}: the SAE {found.path} reads {found.site}, not {site.base}; "
                        f"did you mean '{near[0]}/sae:{site.feature}'? (or pass the SAE of "
                        f"{site.base} with sae=)")
    if found.d_in != model.spec.d_model:
        raise InterpClaimsError(f"{where}: the SAE {found.path} reads vectors of width "
                                f"{found.d_in}, but {model.name} has d_model {model.spec.d_model}")
    if site.feature is not None:
        found.check_feature(site.feature, where)
    return found

