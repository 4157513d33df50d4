"""Do the shipped claims' verdicts depend on the seed?

    python benchmarks/seed_stability.py                 # seeds 0..19, ~10 minutes on 2 cores
    python benchmarks/seed_stability.py --seeds 0-4 -n 2

Runs ``pytest claims/`` once per seed (the activation store makes every run after the first
read its activations from disk) and compares each claim's verdict across seeds. Prints every
claim whose verdict changed with the seed, and the number of such flips (the goal is 0): a verdict
that depends on the seed is a defect of the claim (too close to its margin) or of an analysis (a
random draw that is not in the interval). Not a CI test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _seeds(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(seed: int, out: Path, workers: str) -> dict[str, str]:
    """``{claim id: verdict}`` of one run of the shipped suite at ``seed``."""
    report = out / f"seed{seed}"
    cmd = [sys.executable, "-m", "pytest", "claims/", "-q", "-p", "no:randomly",
           f"--claims-seed={seed}", f"--claims-report-dir={report}", "--no-header"]
    cmd += ["-n", workers] if workers != "0" else ["-p", "no:xdist"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    path = report / "claims.json"
    if not path.is_file():
        sys.exit(f"seed {seed}: no report written (exit {proc.returncode})\n{proc.stdout[-3000:]}")
    data = json.loads(path.read_text())
    return {f"{c['nodeid']} #{c.get('index', 0)}": c["verdict"] for c in data["claims"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-19", help="range of seeds, e.g. 0-19")
    ap.add_argument("-n", default="0", help="pytest-xdist workers (0: none)")
    args = ap.parse_args()
    seeds = _seeds(args.seeds)
    verdicts: dict[str, dict[int, str]] = defaultdict(dict)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for claim, verdict in run(seed, Path(tmp), args.n).items():
                verdicts[claim][seed] = verdict
            print(f"seed {seed}: {len(verdicts)} claims", flush=True)
    flips = {c: v for c, v in verdicts.items() if len(set(v.values())) > 1}
    for claim, by_seed in sorted(flips.items()):
        counts = defaultdict(list)
        for seed, verdict in sorted(by_seed.items()):
            counts[verdict].append(seed)
        print(f"FLIP {claim}: " + "; ".join(f"{v} at seeds {s}" for v, s in counts.items()))
    missing = [c for c, v in verdicts.items() if len(v) != len(seeds)]
    print(f"{len(verdicts)} claims x {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}): "
          f"{len(flips)} claims change verdict with the seed"
          + (f"; {len(missing)} claims missing from some runs" if missing else ""))
    sys.exit(1 if flips or missing else 0)


if __name__ == "__main__":
    main()
