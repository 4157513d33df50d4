"""Print the largest TransformerLens-vs-NNsight differences, per site kind, on the zoo.

    python benchmarks/parity.py
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interpclaims._data import load_data
from interpclaims.models import ModelRegistry, compare_backends

ZOO = ("zoo/agreement", "zoo/agreement-gpt2")


def main() -> None:
    registry = ModelRegistry()
    rows = [*load_data("repeated_tokens").rows[:32], *load_data("agreement").rows[:32]]
    print(f"{'model':<22} {'site kind':<11} {'max |tl-nnsight|':>17} {'relative':>10}")
    for name in ZOO:
        tl, nn = registry.get(name, "tl"), registry.get(name, "nnsight")
        batch = tl.tokenize([r["text"] for r in rows], [r["id"] for r in rows])
        worst: dict[str, tuple[float, float]] = {}
        for d in compare_backends(tl, nn, batch):
            a, r = worst.get(d.site.kind, (0.0, 0.0))
            worst[d.site.kind] = (max(a, d.max_abs), max(r, d.max_rel))
        for kind, (a, r) in worst.items():
            print(f"{name:<22} {kind:<11} {a:>17.2e} {r:>10.2e}")


if __name__ == "__main__":
    main()
