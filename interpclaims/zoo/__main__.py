"""Command line of the zoo.

Usage::

    python -m interpclaims.zoo build [--out fixtures] [--seed 0] [--data-seed 1]
                                     [--only {data,agreement,agreement-gpt2}] [--steps N]
                                     [--companions]
    python -m interpclaims.zoo facts [--out fixtures] [--only NAME]
    python -m interpclaims.zoo hash  [--out fixtures] [--check]

``build`` trains deterministically (CPU, 1 thread) and prints each weights hash; building
twice on one machine prints the same hashes. ``build --companions`` builds only the
companions of zoo/agreement (its SAE and transcoders, from the shipped weights); a full ``build``
builds them after the models. ``facts`` re-measures the shipped weights and
rewrites ``facts.json`` and ``MODEL_CARD.md`` without retraining. ``hash`` prints the hashes of the shipped
models and datasets; with ``--check`` it exits 1 when one differs from the hash recorded in
``MANIFEST.json`` / ``facts.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from interpclaims.zoo.constants import DEFAULT_DATA_SEED, DEFAULT_SEED, MODEL_NAMES


def _parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m interpclaims.zoo``."""
    p = argparse.ArgumentParser(prog="python -m interpclaims.zoo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate data, train the models, write fixtures")
    b.add_argument("--out", type=Path, default=Path("fixtures"), help="fixtures folder")
    b.add_argument("--seed", type=int, default=DEFAULT_SEED, help="training seed")
    b.add_argument("--data-seed", type=int, default=DEFAULT_DATA_SEED,
                   help="seed of the held-out evaluation datasets")
    b.add_argument("--only", choices=("data", *MODEL_NAMES), default=None,
                   help="build only the datasets or one model")
    b.add_argument("--steps", type=int, default=None,
                   help="override the training steps (experiments; not the shipped recipe)")
    b.add_argument("--log-every", type=int, default=500, help="loss print interval (0: off)")
    b.add_argument("--companions", action="store_true",
                   help="build only the SAE and transcoders of zoo/agreement (from its shipped "
                        "weights)")
    f = sub.add_parser("facts", help="re-measure shipped models; rewrite facts.json and cards")
    f.add_argument("--out", type=Path, default=Path("fixtures"), help="fixtures folder")
    f.add_argument("--only", choices=MODEL_NAMES, default=None, help="one model only")
    h = sub.add_parser("hash", help="print the hashes of the shipped models and datasets")
    h.add_argument("--out", type=Path, default=Path("fixtures"), help="fixtures folder")
    h.add_argument("--check", action="store_true",
                   help="exit 1 if a hash differs from the one recorded at build time")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    if args.command == "build":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from interpclaims.zoo.build import build

        if args.companions:
            from interpclaims.zoo.companions import build_companions

            for key, digest in build_companions(args.out, steps=args.steps).items():
                print(f"{key}: sha256 {digest}", flush=True)
            return 0
        build(args.out, seed=args.seed, data_seed=args.data_seed, only=args.only,
              steps=args.steps, log_every=args.log_every)
        return 0
    if args.command == "facts":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from interpclaims.zoo.build import refresh_facts

        refresh_facts(args.out, only=args.only)
        return 0
    from interpclaims.zoo.hashes import recorded_hashes, shipped_hashes

    found = shipped_hashes(args.out)
    recorded = recorded_hashes(args.out)
    if not found:
        print(f"no zoo fixtures under {args.out}", file=sys.stderr)
        return 1
    status = 0
    for key, digest in found.items():
        expected = recorded.get(key)
        mark = "" if expected is None or expected == digest else f"  MISMATCH (recorded {expected})"
        if mark:
            status = 1
        print(f"{key}: {digest}{mark}")
    return status if args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
