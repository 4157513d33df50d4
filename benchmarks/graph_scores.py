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
    scores: dict[str, float] = {}
    with _context.use(_context.ClaimContext(seed=0, key="graph_scores")):
        for target, suffix in (("top_logits", ""), ("logit_diff", "_logit_diff")):
            start = time.perf_counter()
            graphs = ic.attribution_graph(model, rows, target=target)
            print(f"{target}: {(time.perf_counter() - start) / len(rows):.2f} s per graph")
            for name, est in (("replacement", graphs.replacement_score()),
                              ("completeness", graphs.completeness_score())):
                print(f"  {name} score: {est}")
                values = [getattr(g, f"{name}_score") for g in graphs.graphs]
                scores[f"{name}_score_mean{suffix}"] = round(est.value, 4)
                scores[f"{name}_score_min{suffix}"] = round(min(values), 4)
    model.close()
    if args.write:
        folder = fixtures_dir() / "models" / "agreement" / "transcoders"
        facts = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        facts["graph_scores"] = {
            **scores, "prompts": f"agreement.jsonl, first {len(rows)}",
            "measured_with": f"benchmarks/graph_scores.py: ic.attribution_graph, circuit-tracer "
                             f"0.5.0, {args.backend} backend; the un-suffixed scores use "
                             "circuit-tracer's default top-logit targets, '_logit_diff' the "
                             "logit difference answer - wrong"}
        write_companion_card(folder, "Transcoders of zoo/agreement", facts)


if __name__ == "__main__":
    main()
