"""Remote execution of the nnsight backend: on NDIF, or nnsight's local simulation of it.

An NDIF server runs a serialized trace with torch, numpy, transformers, accelerate, einops and the
standard library — not interpclaims. So a remote trace (:func:`remote_session`) references only
the model's modules, tensors, numbers, strings and the dict/list containers around them, and
applies edits with torch code written inline in its body, from their declarative form
(:class:`interpclaims.backends.PlainEdit`). Only values passed to ``nnsight.save`` come back.

:class:`RemoteRunner` counts requests and bytes (sent: the serialized request; returned: the saved
tensors), retries a failed job with exponential backoff, and then raises :class:`RemoteJobError`
naming the job. The NDIF host and API key come from nnsight's own configuration
(``nnsight.CONFIG.API``) or ``NDIF_API_KEY``; interpclaims never reads or records them.

A session (:func:`remote_session`) runs several traces in one request. Each job is a plain dict
(the server cannot import interpclaims' classes): ``tokens``, ``steps``, ``final`` and ``unembed``.
``steps``, in forward order: ``{"mod", "attr", "tuple", "z", "key", "read", "ops", "pattern"}`` —
read ``mod.<attr>`` (the first element when ``tuple``; reshaped to heads ``z = (n_heads,
d_head)``), apply the operations ``ops``, write it back when there were any, keep it under
``key`` (saved when ``read``); ``pattern``: also save the tuple's second element under that key.
``final``: the final norm (its input saved as ``"ln_final"``, or ``None``); ``unembed``: saved as
``"logits"``. Parameters (``{key: (module, attribute)}``: weights of a model that stays on
NDIF) are read in a trace of one token first.

The local simulation (``remote="local"``) is nnsight's, made stricter (:mod:`._simulation`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interpclaims._errors import InterpClaimsError
from interpclaims.backends._simulation import simulation

__all__ = ["REMOTE_MODES", "RemoteJobError", "RemoteRunner", "remote_session"]

# off: local nnsight; local: nnsight's local simulation of NDIF; ndif: the NDIF service
REMOTE_MODES = ("off", "local", "ndif")
SERVER_HAS = "torch, numpy, transformers, accelerate, einops and the Python standard library"


class RemoteJobError(InterpClaimsError):
    """A remote (NDIF) job failed after its retries; ``job_id`` names it."""

    def __init__(self, message: str, job_id: str | None) -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(slots=True)
class RemoteRunner:
    """Runs remote traces for one model: the mode, the retry policy and the counters."""

    mode: str  # local | ndif
    model: str  # the model's name, for errors
    retries: int = 3  # attempts after the first
    backoff_s: float = 2.0  # wait before retry k: backoff_s * 2**k
    # a stand-in NDIF server for tests: a LanguageModel holding the weights that the traces of
    # a weightless model (remote="ndif") run on, through the strict local simulation
    server: Any = None
    requests: int = 0  # sessions sent (each holds one or more traces)
    traces: int = 0
    bytes_sent: int = 0
    bytes_returned: int = 0
    failures: int = 0

    def counters(self) -> dict[str, int]:
        return {"requests": self.requests, "traces": self.traces, "bytes_sent": self.bytes_sent,
                "bytes_returned": self.bytes_returned, "retries": self.failures}

    def backend(self, lm: Any) -> Any:
        """A fresh nnsight backend object for one request, counting the bytes it sends."""
        runner = self
        if self.mode == "local" or self.server is not None:
            def sent(n: int) -> None:
                runner.bytes_sent += n

            # local: nnsight's simulation, run with the caller's own objects; with a stand-in
            # server: run on the server's objects
            return simulation(lm if self.server is None else self.server,
                              serve=self.server is not None, job_id=f"local-{self.requests + 1}",
                              sent=sent)
        from nnsight.intervention.backends.remote import RemoteBackend

        try:
            key = lm.to_model_key()  # asks the hub for the model's id
        except Exception as e:
            raise RemoteJobError(
                f"NDIF: could not resolve {self.model} on the Hugging Face hub ({type(e).__name__}"
                f": {e}); a run on NDIF asks the hub for the model's id, so this machine must "
                "reach the hub and NDIF, and HF_HUB_OFFLINE must be 0 (interpclaims sets it to 1 "
                "when it is not set)", None) from e

        class Counted(RemoteBackend):  # type: ignore[misc]
            def request(self, tracer: Any) -> Any:
                data, headers = super().request(tracer)
                runner.bytes_sent += len(data)
                return data, headers

        return Counted(key)

    def run(self, lm: Any, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The traces ``jobs`` in one remote session (one request, retried): the saved values
        of each, by key."""
        __tracebackhide__ = True
        out = self._request(lm, lambda backend: remote_session(lm, backend, jobs))
        self.traces += len(jobs)
        return out["results"]  # type: ignore[no-any-return]

    def fetch(self, lm: Any, probe: Any, params: Mapping[str, tuple[Any, str]]
              ) -> dict[str, Any]:
        """Parameters of the remote model (``{key: (module, attribute)}``, e.g. the unembedding
        of a model whose weights are not here), read in one trace of ``probe`` (a token)."""
        __tracebackhide__ = True
        out = self._request(lm, lambda backend: remote_session(lm, backend, [], params, probe))
        return out["fetched"]  # type: ignore[no-any-return]

    def _request(self, lm: Any, send: Any) -> dict[str, Any]:
        """``send(backend)`` once, retried with backoff; counted."""
        __tracebackhide__ = True
        last: Exception | None = None
        job: str | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.failures += 1
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            backend = self.backend(lm)
            try:
                out: dict[str, Any] = send(backend)
            except ModuleNotFoundError as e:  # deterministic: the server lacks the module
                raise InterpClaimsError(
                    f"a remote trace of {self.model} needs the module {e.name!r}, which the NDIF "
                    f"server does not have (it has {SERVER_HAS}); edits given as Python functions "
                    "cannot run remotely: use interpclaims' built-in interventions, or run with "
                    "--claims-remote=off") from e
            except InterpClaimsError:
                raise
            except Exception as e:  # a failed or expired job: try again
                last, job = e, getattr(backend, "job_id", None)
                continue
            self.requests += 1
            self.bytes_returned += _nbytes(out)
            return out
        raise RemoteJobError(
            f"remote job {job or '(no id)'} of {self.model} on {self.mode!r} failed "
            f"{self.retries + 1} times ({type(last).__name__}: {last}); no number was computed "
            "from it. Check the NDIF status page and your API key (nnsight's CONFIG.API or "
            "NDIF_API_KEY), then rerun: the activation store keeps what earlier runs computed",
            job) from last


def _nbytes(value: Any) -> int:
    """Bytes of the tensors in nested dicts and lists."""
    if isinstance(value, Mapping):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    return int(value.element_size() * value.nelement()) if hasattr(value, "nelement") else 0


def remote_session(lm: Any, backend: Any, jobs: Sequence[dict[str, Any]],
                   params: Mapping[str, tuple[Any, str]] | None = None, probe: Any = None
                   ) -> dict[str, Any]:
    """One session (module docstring): ``{"results": [per job], "fetched": {param key: value}}``."""
    import nnsight
    import torch

    with torch.no_grad(), lm.session(backend=backend):
        fetched: dict[str, Any] = {}
        if params:
            with lm.trace(probe):
                fetched.update({k: getattr(mod, attr) for k, (mod, attr) in params.items()})
        results: list[dict[str, Any]] = []
        for job in jobs:
            with lm.trace(job["tokens"]):
                vals: dict[str, Any] = {}
                out: dict[str, Any] = {}
                for st in job["steps"]:
                    whole = getattr(st["mod"], st["attr"])
                    x = whole[0] if st["tuple"] else whole
                    flat = x
                    if st["z"] is not None:
                        x = x.reshape(x.shape[0], x.shape[1], st["z"][0], st["z"][1])
                    for op in st["ops"]:
                        if op["kind"] == "shift":  # resid_mid edits: attn_out ± resid_pre
                            x = x + vals[op["key"]] if op["sign"] > 0 else x - vals[op["key"]]
                        elif op["kind"] == "direction":
                            x = x + ((op["fill"] - x @ op["u"])[..., None] * op["u"])
                        elif op["kind"] == "sae":
                            inp = x - op["b_dec"] if op["b_dec_in"] else x
                            pre = inp.to(op["w_enc"].dtype) @ op["w_enc"] + op["b_enc"]
                            if op["threshold"] is not None:
                                f = torch.where(pre > op["threshold"], pre,
                                                torch.zeros_like(pre))
                            else:
                                f = torch.relu(pre)
                            if op["mode"] == "splice":
                                rec = f @ op["w_dec"] + op["b_dec"]
                                x = torch.where(op["where"][..., None], rec.to(x.dtype), x)
                            else:
                                f = f[..., op["feats"]]
                                new = (torch.full_like(f, op["value"]) if op["mode"] == "set"
                                       else f + op["value"])
                                delta = ((new - f) @ op["w_dec"]).to(x.dtype)
                                moved = (op["where"][..., None]
                                         & (new != f).any(-1, keepdim=True))
                                x = torch.where(moved, x + delta, x)
                        else:  # assign
                            o = x.clone()
                            h, n = op["head"], op["neuron"]
                            part = (o[:, :, h] if h is not None
                                    else (o[..., n] if n is not None else o))
                            new = part + op["value"] if op["add"] else op["value"]
                            new = torch.broadcast_to(new, part.shape).to(part.dtype)
                            if op["where"] is not None:
                                w = op["where"].reshape(*op["where"].shape,
                                                        *([1] * (part.dim() - 2)))
                                new = torch.where(w, new, part)
                            if h is not None:
                                o[:, :, h] = new
                            elif n is not None:
                                o[..., n] = new
                            else:
                                o[:] = new
                            x = o
                    if st["ops"]:
                        back = x.reshape(flat.shape) if st["z"] is not None else x
                        setattr(st["mod"], st["attr"],
                                (back, *whole[1:]) if st["tuple"] else back)
                    vals[st["key"]] = x
                    if st["read"]:
                        out[st["key"]] = x
                    if st["pattern"] is not None:
                        out[st["pattern"]] = whole[1]
                if job["final"] is not None:
                    out["ln_final"] = job["final"].input
                out["logits"] = job["unembed"].output
            results.append(out)
        everything = nnsight.save({"results": results, "fetched": fetched})
    return everything  # type: ignore[no-any-return]
