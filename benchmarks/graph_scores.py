"""Measure the attribution-graph scores of the shipped transcoders and record them in their card.

    python benchmarks/graph_scores.py [--prompts N] [--backend tl|nnsight] [--write]

Builds one circuit-tracer graph per agreement prompt (the first N; all 200 by default) with the
transcoders in ``fixtures/models/agreement/transcoders``, to circuit-tracer's default top-logit
targets and to the logit difference, and prints the mean replacement and completeness scores with
their intervals. ``--write`` records them under ``graph_scores`` in the card (``card.json`` and
``CARD.md``). Slow: about 2 s per graph on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--backend", default="tl", choices=["tl", "nnsight"])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import interpclaims as ic
    from interpclaims import _context
    from interpclaims.models import Model, fixtures_dir
    from interpclaims.zoo.companion_card import write_companion_card

    rows = list(ic.load_data("agreement").rows[: args.prompts])
    model = Model("zoo/agreement", args.backend)
    scores: dict[str, str] = {}
    with _context.use(_context.ClaimContext(seed=0, key="graph_scores")):
        for target in ("top_logits", "logit_diff"):
            start = time.perf_counter()
            graphs = ic.attribution_graph(model, rows, target=target)
            seconds = (time.perf_counter() - start) / len(rows)
            for name, est in (("replacement", graphs.replacement_score()),
                              ("completeness", graphs.completeness_score())):
                scores[f"{name} score, {target} target"] = (
                    f"{est.value:.4f} [95% CI {est.ci_low:.4f}, {est.ci_high:.4f}] over "
                    f"{len(rows)} agreement prompts")
            print(f"{target}: {seconds:.2f} s per graph")
    model.close()
    for k, v in scores.items():
        print(f"{k}: {v}")
    if args.write:
        folder = fixtures_dir() / "models" / "agreement" / "transcoders"
        facts = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        facts["graph_scores"] = {**scores, "measured with": f"benchmarks/graph_scores.py "
                                 f"(circuit-tracer, {args.backend} backend)"}
        write_companion_card(folder, "Transcoders of zoo/agreement", facts)


if __name__ == "__main__":
    main()
