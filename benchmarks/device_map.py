"""The device-map benchmark (issue 14.2), called by ``run.py --only device_map``.

zoo/agreement loaded on one device and split by Accelerate (embedding and layer 0 on the CPU,
layer 1 and the unembedding offloaded to disk), on both backends: every site of 64 prompts must
be equal (target: max relative difference <= 1e-6), and the cost of offloading is the forward
time ratio split / one device (best of N interleaved; context). bfloat16 against float32 is
context too (how far a half-precision run moves the logits).
"""

from __future__ import annotations

import time
from typing import Any

SPLIT = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
         "model.layers.1": "disk", "model.norm": "cpu", "lm_head": "disk"}
TARGET = 1e-6


def bench(ctx: Any) -> None:
    """Add the rows (``bench, metric, value, shown, target, ok, note``) to ``ctx``."""
    from interpclaims._data import load_data
    from interpclaims.models import ModelRegistry, compare_backends, make_placement, max_difference

    registry = ModelRegistry()
    rows = load_data("agreement").rows[:64]
    repeats = 2 if ctx.quick else 5
    details: dict[str, Any] = {}
    try:
        for backend in ("tl", "nnsight"):
            one = registry.get("zoo/agreement", backend)
            split = registry.get("zoo/agreement", backend, make_placement(SPLIT))
            half = registry.get("zoo/agreement", backend, make_placement(dtype="bfloat16"))
            batch = one.tokenize([r["text"] for r in rows], [r["id"] for r in rows])
            worst = max(d.max_rel for d in compare_backends(one, split, batch))
            times: dict[str, float] = {"one": float("inf"), "split": float("inf")}
            for _ in range(repeats):  # interleaved: load changes hit both sides alike
                for name, m in (("one", one), ("split", split)):
                    t = time.perf_counter()
                    m.forward(batch.tokens, [], {})
                    times[name] = min(times[name], time.perf_counter() - t)
            _, half_rel = max_difference(half.run(batch.tokens)[0], one.run(batch.tokens)[0],
                                         batch.mask)
            details[backend] = {"max_rel": worst, "seconds": times, "bf16_rel": half_rel}
            ctx.add("device_map", f"split cpu/disk = one device, every site [{backend}]",
                        worst, f"max rel diff {worst:.1e}", f"<= {TARGET:.0e}", worst <= TARGET)
            ratio = times["split"] / times["one"]
            ctx.add("device_map", f"forward time split / one device [{backend}]", ratio,
                        f"{ratio:.1f}x", "-", None,
                        f"64 prompts: {times['one'] * 1e3:.0f} ms vs {times['split'] * 1e3:.0f}"
                        " ms (disk-offloaded weights reloaded every pass)")
            ctx.add("device_map", f"bfloat16 logits vs float32 [{backend}]", half_rel,
                        f"rel diff {half_rel:.1e}", "-", None, "context: half precision")
    finally:
        registry.close()
    ctx.details["device_map"] = details
