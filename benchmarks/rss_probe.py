"""Peak RSS of ``ic.probe`` reading a large activation-store entry, through the public API.

    python benchmarks/rss_probe.py write ROOT MIB        # a synthetic entry of MIB MiB in ROOT
    python benchmarks/rss_probe.py probe ROOT N [PATH]   # a fresh process probes it; JSON out

``write`` stores, in the activation store at ``ROOT``, the ``L0.mlp_post`` activations
(``[N, 64, 256]`` float32: 64 KiB per prompt) of ``N = MIB * 16`` synthetic prompts of 63 words
(+ bos = the model's full context of 64) for ``zoo/agreement`` on the ``tl`` backend, under the
exact key a probe of those prompts looks up (the model's weights and tokenizer hashes, the
prompts' token digest). The values are random normal, with the last position of the plural
prompts (every second one) shifted by +1 in 16 dimensions, so the probe has something to find.

``probe`` loads the model on that store (``ModelRegistry`` with a ``StoreCache``, as the plugin
does), tokenizes the prompts, and measures memory: the RSS then (the baseline: Python, torch,
interpclaims and the model), then resets the kernel's high-water mark (``/proc/self/clear_refs``)
and runs the read ``PATH`` — ``probe``: ``ic.probe(model, "L0.mlp_post", "number", ...)``, the
public API; ``run``: what the analyses did before, ``model.run`` then selecting the last position
of the whole memory-mapped tensor — and reports the peak RSS (``VmHWM``) of the process, the
part the read added, the probe's accuracy and the forward passes run (0: everything came from the
store). Run it as a fresh process: ``VmHWM`` is per process image, so it does not inherit the
parent's peak as ``ru_maxrss`` does.

Used by ``benchmarks/run.py --only rss_1gb_cache`` (1 GiB) and by
``tests/test_memory.py`` (a CI-sized entry).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

MODEL = "zoo/agreement"
SITE = "L0.mlp_post"
WORDS_PER_PROMPT = 63
PROMPT_BYTES = 64 * 256 * 4  # one prompt's L0.mlp_post: 64 positions x d_mlp 256 float32


def _rows(n: int) -> list[dict[str, Any]]:
    """``n`` prompts of 63 words of the zoo's vocabulary, alternately singular and plural."""
    import numpy as np

    import interpclaims as ic

    vocab = sorted({w for r in ic.load_data("agreement").rows for w in str(r["text"]).split()})
    draw = np.random.default_rng(0).integers(0, len(vocab), size=(n, WORDS_PER_PROMPT))
    return [{"id": f"rss-{i}", "text": " ".join(vocab[j] for j in draw[i]),
             "number": ("singular", "plural")[i % 2]} for i in range(n)]


def _model(root: str) -> Any:
    from interpclaims.activations import ActivationStore, StoreCache
    from interpclaims.models import ModelRegistry

    return ModelRegistry(cache=StoreCache(ActivationStore(root))).get(MODEL, "tl")


def write(root: str, mib: int) -> dict[str, Any]:
    """Store the synthetic ``L0.mlp_post`` entry of ``mib * 16`` prompts under its real key."""
    import numpy as np

    import interpclaims as ic
    from interpclaims.activations import ActivationStore, StoreKey, tokens_digest

    n = mib * 2**20 // PROMPT_BYTES
    model = _model(root)
    ds = ic.load_data(_rows(n))
    tokens = model.tokenize(ds.texts, ds.ids).tokens
    if tuple(tokens.shape) != (n, WORDS_PER_PROMPT + 1):
        raise RuntimeError(f"the prompts tokenize to {tuple(tokens.shape)}, not one token a word")
    key = StoreKey(weights=model.weights_hash, backend=model.backend, dtype="float32",
                   tokenizer=model.tokenizer_hash, tokens=tokens_digest(tokens.numpy()),
                   site=str(model.site(SITE)))
    arr = np.empty((n, WORDS_PER_PROMPT + 1, 256), dtype=np.float32)
    g = np.random.default_rng(0)
    for s in range(0, n, 512):
        g.standard_normal(size=arr[s:s + 512].shape, dtype=np.float32, out=arr[s:s + 512])
    arr[1::2, -1, :16] += 1.0  # plural prompts are shifted at the read (last) position
    start = time.perf_counter()
    ActivationStore(root).put(key, arr)
    return {"prompts": n, "bytes": int(arr.nbytes), "put_s": time.perf_counter() - start}


def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MiB."""
    text = Path("/proc/self/status").read_text()
    return int(text.split(f"{field}:")[1].split()[0]) / 1024


def probe(root: str, n: int, path: str = "probe") -> dict[str, Any]:
    """Probe the stored entry in this (fresh) process; memory in MiB."""
    start = time.perf_counter()
    import torch

    import interpclaims as ic

    model = _model(root)
    site = model.site(SITE)
    torch_rss = _status("VmRSS")  # Python, torch, interpclaims, the backend and the model
    # a warm-up probe of the shipped prompts loads what a probe imports lazily (scipy, ...)
    ic.probe(model, SITE, "number", data="agreement", controls=["label_shuffle"], seeds=1)
    rows = _rows(n)
    ds = ic.load_data(rows)
    batch = model.tokenize(ds.texts, ds.ids)
    baseline = _status("VmRSS")
    peak_before = _status("VmHWM")
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    t = time.perf_counter()
    passes = model.forward_passes
    accuracy = None
    if path == "probe":
        accuracy = ic.probe(model, SITE, "number", data=rows, position=-1,
                            controls=["label_shuffle"], seeds=1).accuracy.value
    elif path == "memmap":  # the former path: the store's memmap as a tensor, then a mask
        from interpclaims.activations import ActivationStore, StoreKey, tokens_digest

        key = StoreKey(weights=model.weights_hash, backend=model.backend, dtype="float32",
                       tokenizer=model.tokenizer_hash, tokens=tokens_digest(batch.tokens.numpy()),
                       site=str(site))
        entry = ActivationStore(root, mode="read").get(key)
        where = torch.zeros(batch.tokens.shape, dtype=torch.bool)
        where[:, -1] = True
        torch.from_numpy(entry)[where].double()  # what analyses did with Model.run's tensors
    else:
        raise SystemExit(f"unknown path {path!r}: 'probe' or 'memmap'")
    read_s = time.perf_counter() - t
    peak = _status("VmHWM")
    return {"path": path, "prompts": n, "import_and_model_rss_mib": torch_rss,
            "baseline_rss_mib": baseline, "peak_before_read_mib": peak_before,
            "peak_rss_mib": max(peak, peak_before), "read_peak_mib": peak,
            "read_added_mib": peak - baseline if reset else None, "hwm_reset": reset,
            "accuracy": accuracy, "forward_passes": model.forward_passes - passes,
            "read_s": read_s, "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    kind, root, size, *rest = argv
    res = write(root, int(size)) if kind == "write" else probe(root, int(size), *rest)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
