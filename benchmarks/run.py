"""Benchmark suite of interpclaims: one command, every target a ratio measured within one run.

    python benchmarks/run.py              # everything, ~4-5 minutes on 2 cores
    python benchmarks/run.py --quick      # a smoke version (~1-2 minutes; smaller, 1 repeat)
    python benchmarks/run.py --only xdist # one benchmark (comma-separated names allowed)

It prints a description of the machine, then a table of every ratio with its target and PASS /
MISS, and writes ``benchmarks/results.json`` (the table, the machine, and every benchmark's raw
measurements). Absolute times on a small, shared machine are noisy, so each target compares two
things measured in the same run, interleaved, each side the *best* of its repeats (other load
only ever adds time, so the minimum is the least disturbed estimate); every child run also
records how many cores other processes used meanwhile (``load_log`` in the JSON). Every child
process runs with one torch thread (``INTERPCLAIMS_TORCH_THREADS=1``), one BLAS/OpenMP thread
(``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``) and ``HF_HUB_OFFLINE=1``. The zoo is
whatever ``interpclaims._data.fixtures_dir()`` resolves (``INTERPCLAIMS_FIXTURES`` overrides the
shipped ``fixtures/``). Nothing is written outside ``benchmarks/results.json`` and temporary
folders, which are removed (pytest runs use ``-p no:cacheprovider`` and a temporary report dir).

Benchmarks (names for ``--only``):

``claims_vs_script``
    The example suite, ``pytest claims/ -p no:randomly --claims-backends=tl``, with a **cold**
    activation store (a fresh ``--claims-cache-dir`` per run: the fair comparison, since the
    script caches nothing) against ``benchmarks/naive_tl.py``, which computes the same claims'
    numbers by hand with a plain HookedTransformer and hooks, one set of forward passes per
    claim quantity. Ratios: analysis time (pytest ``manifest.analysis_seconds``, the summed
    call-phase time of the claim tests; the script's own timed section, without imports and
    model load) — target pytest <= 0.8x the script (issue 13); and forward passes (pytest
    ``manifest.forward_passes`` of the tl backend) against the **minimal** count for the suite.
    A forward pass is one model call on one batch of at most 64 prompts (the harness's batch
    size; the script uses the same). Minimal = one pass per batch of every *distinct clean token
    batch* the suite's analyses read (prompts with identical token ids counted once, however
    many claims read them) plus one pass per batch of every *intervention run* the analyses
    perform (ablations, patches, every cell of a sweep / head matrix, steering runs), counted
    per test because interventions are never cached. It is derived, not maintained by hand:
    ``suite_work()`` below runs ``pytest claims/ --claims-plan`` (the harness's planning
    machinery: no weights, no real forward pass), so it stays in step with claims/; tests whose
    count the plan can only estimate are named in the note. The table also reports the script's
    count, for context. A third row checks that the script's
    numbers equal the harness's (deterministic quantities; probes use their own random splits).
``cold_vs_warm``
    ``pytest claims/`` twice on one fresh ``--claims-cache-dir`` (cold, then warm); ratio of
    ``analysis_seconds``, target warm >= 20x faster (issue 13.1) — for the whole suite and for
    the subset of claims that only read clean activations (attention scores, probes, measure: see
    ``CLEAN_SUBSET``). The warm run is answered by the result cache (decided results of every
    analysis and comparison, keyed by everything that determines them), so it should run no
    forward pass and no resample; the note gives its hits / misses / uncacheable calls and
    whether the warm claims.json rows equal the cold ones. A small profiling plugin
    (``bench_profile.py``) splits the analysis time into bootstrap, forward passes, tokenization
    and store I/O, so the table says what the warm run still spends.
``xdist``
    A generated CPU-bound suite (16 independent claims: 8 probes with several split seeds and
    three controls, 8 attention-score + mean-ablation claims, on enlarged datasets) run with
    ``--claims-cache=off -n 2`` against ``-n 0``; ratio of wall times (process start to exit,
    both including interpreter start and model loads), target >= 1.5x. A pure-CPU probe (one
    spinning process vs two at once) measures how much parallelism the machine really offers
    before and after, every run records how many cores *other* processes used meanwhile (from
    /proc/stat), and the note gives the Amdahl bound: start-up, collection and the model load
    (wall minus summed test time of the serial run) do not shrink with workers.
``bootstrap_vs_scipy``
    ``benchmarks/bench_bootstrap.py``: ``interpclaims.stats.bootstrap_mean`` against
    ``scipy.stats.bootstrap`` on the same interval (same data, n = 1,000, level, method, 10,000
    resamples each side, ``vectorized=True``), percentile (target >= 10x) and BCa (context), best
    of N interleaved, with the Monte Carlo gap between the two intervals; the floor (drawing the
    10,000 x 1,000 indices alone); many quantities at once (``bootstrap_mean_batch`` vs scipy on
    a 2-D array); and the share of statistics in a cold ``pytest claims/`` run's analysis time
    (``bench_profile``), target <= 15%.
``rss_1gb_cache``
    The public API on a 1 GiB store entry (``benchmarks/rss_probe.py``): a child writes the
    ``L0.mlp_post`` activations of 16,384 synthetic 64-token prompts of ``zoo/agreement``
    ([16384, 64, 256] float32, a planted class signal at the last position) under the exact key
    a probe of those prompts looks up; a fresh child loads the model on that store, runs a
    warm-up probe, tokenizes the prompts, then ``ic.probe(model, "L0.mlp_post", "number",
    position=-1)``, which reads the entry chunk by chunk (``Model.run_at``). Rows: the process's
    peak RSS (``VmHWM``), target < 300 MB, with the RSS of Python + torch + interpclaims + the
    model alone; the RSS the read added (peak after resetting the high-water mark, minus the
    RSS before), target < 300 MB; and for context the former path (a mask on the memory map
    the store hands out, as analyses did with ``Model.run``'s tensors). The store is deleted.
``atp``
    Attribution patching against exact patching on the sweeps of ``claims/`` (``atp_sweeps.py``):
    Spearman rank correlation of AtP scores with exact values (target >= 0.9, both backends),
    forward/backward passes of each sweep by AtP (plus the cells its claims read, patched for
    real) vs exact, AtP's backend parity (<= 1e-4), and ``pytest claims/`` (tl) forward passes
    with AtP sweeps vs every sweep forced exact (``-p atp_exact_plugin``).
``plugin_cost``
    ``pytest`` on a temporary folder of 50 trivial tests, with the installed plugin (default)
    against ``-p no:interpclaims`` (the entry-point name; checked to really disable it),
    interleaved, >= 5 repeats each; median wall difference, target < 100 ms; and a conftest
    records at session finish whether torch (and friends) were imported: target no torch.
``device_map``
    zoo/agreement split by Accelerate (layer 1 and the unembedding offloaded to disk) against one
    device, both backends (``benchmarks/device_map.py``): every site equal, target max relative
    difference <= 1e-6; forward-time ratio and bfloat16-vs-float32 logits as context.
``sequential``
    ``benchmarks/sequential.py``: ``--claims-sequential`` under 200 null simulations per supported
    analysis type (false-SUPPORTED rate, target <= α + 3 SE) and on ``pytest claims/
    --claims-sequential --claims-backends=tl`` (prompts used by decisive claims, target <= 30%).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
MODEL = "zoo/agreement"
PY = sys.executable

# claims of the example suite that only read clean activations (cached by the store)
CLEAN_SUBSET = ("L1H2_is_an_induction_head or L0H1_is_a_previous_token_head or "
                "L0H1_is_an_induction_head or prefers or decodable or selective or random_features")


# ------------------------------------------------------------------------------------- plumbing
@dataclass
class Row:
    bench: str
    metric: str
    value: float | None
    shown: str
    target: str
    ok: bool | None  # None: context only, no target
    note: str = ""


@dataclass
class Ctx:
    quick: bool
    tmp: Path
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, *args: Any, **kw: Any) -> None:
        self.rows.append(Row(*args, **kw))


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(INTERPCLAIMS_TORCH_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        env.pop(k, None)
    env.update(extra)
    return env


def _cpu_now() -> tuple[float, float, float]:
    """(seconds of CPU busy on the whole machine, of it stolen by the hypervisor, used by this
    process and its waited-for children)."""
    import resource

    tck = os.sysconf("SC_CLK_TCK")
    try:
        f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    busy = (f[0] + f[1] + f[2] + f[5] + f[6]) / tck  # user nice system irq softirq
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        ours += r.ru_utime + r.ru_stime
    return busy, f[7] / tck, ours


def run(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout: float = 600) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; the result carries ``foreign_cores``: CPU that *other* processes on the
    machine used meanwhile (busy time from /proc/stat minus ours and our children's), in cores,
    and ``steal_cores`` (hypervisor steal). On a shared machine these explain noisy ratios."""
    b0, st0, o0 = _cpu_now()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env or child_env(), capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    b1, st1, o1 = _cpu_now()
    proc.foreign_cores = max(0.0, (b1 - b0) - (o1 - o0)) / wall  # type: ignore[attr-defined]
    proc.steal_cores = (st1 - st0) / wall  # type: ignore[attr-defined]
    LOAD_LOG.append({"cmd": " ".join(cmd[1:5]), "wall_s": round(wall, 2),
                     "foreign_cores": round(proc.foreign_cores, 2),  # type: ignore[attr-defined]
                     "steal_cores": round(proc.steal_cores, 2)})  # type: ignore[attr-defined]
    return wall, proc


LOAD_LOG: list[dict[str, Any]] = []


def tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def run_claims(tmp: Path, cache_dir: Path, extra: tuple[str, ...] | list[str] = (), *, profile: bool = False,
               label: str = "") -> dict[str, Any]:
    """``pytest claims/`` (tl backend) in a subprocess; the manifest of its claims.json."""
    report = Path(tempfile.mkdtemp(prefix="report-", dir=tmp))
    cmd = [PY, "-m", "pytest", "claims/", "-p", "no:randomly", "-p", "no:cacheprovider", "-q",
           "--claims-backends=tl", f"--claims-cache-dir={cache_dir}",
           f"--claims-report-dir={report}", *extra]
    env = child_env()
    prof_out = report / "profile.json"
    if profile:
        cmd += ["-p", "bench_profile"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        env["BENCH_PROFILE_OUT"] = str(prof_out)
    wall, proc = run(cmd, env=env)
    path = report / "claims.json"
    if not path.is_file():
        raise RuntimeError(f"pytest claims/ {label} wrote no report (exit {proc.returncode}):\n"
                           f"{tail(proc.stdout + proc.stderr, 30)}")
    data = json.loads(path.read_text())
    m = data["manifest"]
    out = {
        "wall_s": wall, "exit": proc.returncode, "analysis_s": m["analysis_seconds"],
        "foreign_cores": proc.foreign_cores,  # type: ignore[attr-defined]
        "forward_passes": sum(v for k, v in m["forward_passes"].items() if k.endswith("[tl]")),
        "cache": {k: v for k, v in m["cache"].items() if k in ("hits", "misses", "writes")},
        "results": m["cache"].get("results", {}),
        "summary": {k: v for k, v in data["summary"].items() if k != "by_backend"},
        "errors": data["errors"], "claims": data["claims"],
        "tests": sorted({c["nodeid"] for c in data["claims"]} | {e["nodeid"] for e in data["errors"]}),
    }
    if profile and prof_out.is_file():
        out["profile"] = json.loads(prof_out.read_text())
    shutil.rmtree(report, ignore_errors=True)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def _runs(xs: list[float], unit: str = "") -> str:
    return ", ".join(f"{x:.1f}{unit}" if unit else f"{x:.2f}" for x in xs)


# -------------------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
        info["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    for pkg in ("torch", "transformer-lens", "numpy", "scipy", "pytest", "pytest-xdist"):
        try:
            info[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            info[pkg] = None
    from interpclaims._data import fixtures_dir

    info["fixtures"] = str(fixtures_dir())
    return info


# ---------------------------------------------------------------- 1. claims vs a naive script
def suite_work(tmp: Path) -> dict[str, Any]:
    """Minimal forward passes of the example suite (tl backend), derived by the harness's own
    planning machinery: ``pytest claims/ --claims-plan --claims-backends=tl`` on an empty store
    (the cold case), which runs every claim test against planning models (no weights, no real
    forward pass) and counts the passes where the harness counts them.

    Minimal = one pass per batch of every distinct clean token batch the analyses read (the
    store's prefetch of every site makes the harness's clean count exactly that, on a cold store)
    plus one pass per batch of every intervention run the analyses perform. Tests whose count
    the plan can only estimate (attribution graphs, greedy searches, a step it could not follow)
    are listed in ``estimates``; their counts are partial.
    """
    report = Path(tempfile.mkdtemp(prefix="plan-", dir=tmp))
    store = Path(tempfile.mkdtemp(prefix="plan-store-", dir=tmp))  # stays empty: a plan writes nothing
    cmd = [PY, "-m", "pytest", "claims/", "-p", "no:randomly", "-p", "no:cacheprovider", "-q",
           "--claims-backends=tl", "--claims-plan", f"--claims-cache-dir={store}",
           f"--claims-report-dir={report}"]
    _, proc = run(cmd)
    path = report / "plan.json"
    if not path.is_file():
        raise RuntimeError(f"pytest claims/ --claims-plan wrote no plan (exit {proc.returncode}):\n"
                           f"{tail(proc.stdout + proc.stderr, 30)}")
    plan = json.loads(path.read_text())
    shutil.rmtree(report, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    models = {k: v for k, v in plan["models"].items() if k.endswith("[tl]")}
    return {
        "analyses_minimal": sum(m["forward_passes"] for m in models.values()),
        "analyses_clean": sum(m["clean"] for m in models.values()),
        "analyses_interventions": sum(m["intervention"] for m in models.values()),
        "per_model": models, "estimates": plan["estimates"], "store": plan["store"],
        "tests": sorted({_base_test(t) for t in plan["per_test"]}),
    }


def _base_test(nodeid: str) -> str:
    return nodeid.split("::")[-1].split("[")[0]


def _naive_key(nodeid: str) -> str:
    name = nodeid.split("::")[-1]
    if "[" not in name:
        return name
    base, params = name[:-1].split("[", 1)
    rest = [p for p in params.split("-") if p != "tl"]
    return f"{base}[{'-'.join(rest)}]" if rest else base


def bench_claims_vs_script(ctx: Ctx) -> None:
    reps = 1 if ctx.quick else 3
    cold, script = [], []
    for i in range(reps):  # interleaved: pytest cold, script, pytest cold, script, ...
        cache = Path(tempfile.mkdtemp(prefix="cold-", dir=ctx.tmp))
        cold.append(run_claims(ctx.tmp, cache, label="(cold)"))
        shutil.rmtree(cache, ignore_errors=True)
        out = ctx.tmp / f"naive-{i}.json"
        _, proc = run([PY, str(HERE / "naive_tl.py"), "--out", str(out)])
        if proc.returncode != 0:
            raise RuntimeError(f"naive_tl.py failed:\n{tail(proc.stderr, 30)}")
        script.append(json.loads(out.read_text()))
    t_pytest = min(r["analysis_s"] for r in cold)
    t_script = min(s["timed_seconds"] for s in script)
    work = suite_work(ctx.tmp)
    passes = cold[0]["forward_passes"]
    minimal = work["analyses_minimal"]
    stale = sorted({_base_test(t) for t in cold[0]["tests"]} ^ set(work["tests"]))
    ratio = t_pytest / t_script
    ctx.add("claims_vs_script", "analysis time: pytest (cold store) / naive script",
            ratio, f"{ratio:.2f}x ({t_pytest:.2f}s / {t_script:.2f}s)", "<= 0.80x", ratio <= 0.8,
            f"best of {reps}; other processes used "
            f"{max(r['foreign_cores'] for r in cold):.2f} cores at most meanwhile")
    ctx.add("claims_vs_script", "forward passes: pytest (cold) / minimal for the analyses",
            passes / minimal, f"{passes} / {minimal} = {passes / minimal:.3f}", "= 1 (minimal)",
            passes <= minimal,
            f"script {script[0]['forward_passes']}; minimal from the plan (--claims-plan): "
            f"{work['analyses_clean']} clean + {work['analyses_interventions']} intervention"
            + (f"; the plan estimates {len(work['estimates'])} tests (their passes are not all "
               "counted there)" if work["estimates"] else "")
            + (f"; PLAN DID NOT COVER {stale}" if stale else ""))
    # the script computes the same numbers: compare the deterministic ones
    naive = script[0]["values"]
    compared, agree, worst = 0, 0, 0.0
    for c in cold[0]["claims"]:
        key = _naive_key(c["nodeid"])
        if key not in naive or "test_probes.py" in c["nodeid"]:
            continue
        vals = naive[key] if isinstance(naive[key], list) else [naive[key]]
        idx = c.get("index", 0)
        if idx >= len(vals):
            continue
        mine, theirs = vals[idx]["value"], c["estimate"]["value"]
        diff = abs(mine - theirs) / max(1.0, abs(theirs))
        compared += 1
        agree += diff <= 1e-4
        worst = max(worst, diff)
    uncovered = sorted({_naive_key(t) for t in cold[0]["tests"]} - set(naive))
    ctx.add("claims_vs_script", "script's numbers equal the harness's (non-probe claims)",
            agree / max(compared, 1), f"{agree}/{compared} (max rel diff {worst:.1e})",
            "all equal", compared > 0 and agree == compared,
            "probe claims use their own random splits"
            + (f"; SCRIPT LACKS {uncovered}" if uncovered else ""))
    ctx.details["claims_vs_script"] = {
        "pytest_cold_runs": [{k: v for k, v in r.items() if k not in ("claims", "tests")}
                             for r in cold],
        "script_runs": [{k: v for k, v in s.items() if k != "values"} for s in script],
        "script_values": naive, "minimal": work, "stale_enumeration": stale,
    }


# ----------------------------------------------------------------------- 2. cold vs warm store
def _profile_note(p: dict[str, Any] | None, total: float) -> str:
    if not p or total <= 0:
        return ""
    parts = [(k, p[k]["s"]) for k in ("stats", "forward", "tokenize", "store_io") if k in p]
    return ", ".join(f"{k} {s / total:.0%}" for k, s in parts if s > 0)


def _rows(run: dict[str, Any]) -> list[Any]:
    return sorted((c for c in run["claims"]), key=lambda c: c["claim_id"])


def bench_cold_vs_warm(ctx: Ctx) -> None:
    reps = 1 if ctx.quick else 2
    out: dict[str, Any] = {}
    for label, extra in (("full suite", ()), ("clean-read subset", ("-k", CLEAN_SUBSET))):
        pairs = []
        for _ in range(reps):
            cache = Path(tempfile.mkdtemp(prefix="store-", dir=ctx.tmp))
            c = run_claims(ctx.tmp, cache, extra, profile=True, label="(cold)")
            w = run_claims(ctx.tmp, cache, extra, profile=True, label="(warm)")
            shutil.rmtree(cache, ignore_errors=True)
            pairs.append((c, w))
        t_cold = min(c["analysis_s"] for c, _ in pairs)
        t_warm = min(w["analysis_s"] for _, w in pairs)
        c, w = pairs[-1]
        ratio = t_cold / t_warm
        same = _rows(c) == _rows(w)
        note = (f"passes {c['forward_passes']} cold -> {w['forward_passes']} warm; result cache "
                f"warm {w['results']}; rows {'identical' if same else 'DIFFER'}; "
                f"warm time: {_profile_note(w.get('profile'), w['analysis_s'])}; cold time: "
                f"{_profile_note(c.get('profile'), c['analysis_s'])}")
        ctx.add("cold_vs_warm", f"{label}: analysis time cold / warm", ratio,
                f"{ratio:.2f}x ({t_cold:.2f}s / {t_warm:.2f}s)", ">= 20x", ratio >= 20 and same,
                note)
        out[label] = [{"cold": {k: v for k, v in c.items() if k not in ("claims", "tests")},
                       "warm": {k: v for k, v in w.items() if k not in ("claims", "tests")}}
                      for c, w in pairs]
    ctx.details["cold_vs_warm"] = out


# ------------------------------------------------------------------------------------ 3. xdist
XDIST_SUITE = '''\
"""Generated by benchmarks/run.py: {n} independent CPU-bound claims (cache off)."""
import pytest

import interpclaims as ic

pytestmark = ic.model("{model}")
SCALE = {scale}
AGR = [dict(r, id=f"{{r['id']}}-{{k}}") for k in range(SCALE) for r in ic.load_data("agreement").rows]
REP = [dict(r, id=f"{{r['id']}}-{{k}}") for k in range(SCALE)
       for r in ic.load_data("repeated_tokens").rows]
HEADS = [f"L{{ly}}H{{h}}" for ly in range({n_layers}) for h in range({n_heads})][:{n_half}]


@pytest.mark.parametrize("i", range({n_half}))
def test_probe(model, claim, i):
    probe = ic.probe(model, ic.resid_post(i % {n_layers}), ("number", "category")[(i // 2) % 2],
                     data=AGR, position=-1, word_field="subject",
                     controls=["label_shuffle", "control_task", "random_features"],
                     seeds=list(range(100 * i, 100 * i + {seeds})))
    claim.that(probe.accuracy).is_at_least(0.0)


@pytest.mark.parametrize("head", HEADS)
def test_head(model, claim, head):
    score = ic.attention_score(model, data=REP, head=head, pattern="induction")
    claim.that(score).is_at_least(-1.0)
    effect = ic.ablate(model, head, data=REP, how="mean", metric="loss")
    claim.that(effect).is_at_least(-100.0)
'''

SPIN = "import time\nt=time.perf_counter()\ns=0\nfor i in range({n}): s+=i\nprint(time.perf_counter()-t)"


def parallel_capacity(n: int = 15_000_000) -> dict[str, float]:
    """Throughput of two pure-CPU processes at once relative to one (2.0 = two free cores)."""
    code = SPIN.format(n=n)
    t1, _ = run([PY, "-c", code])
    start = time.perf_counter()
    procs = [subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, env=child_env())
             for _ in range(2)]
    for p in procs:
        p.communicate()
    t2 = time.perf_counter() - start
    return {"one_s": t1, "two_s": t2, "capacity": 2 * t1 / t2}


def bench_xdist(ctx: Ctx) -> None:
    from interpclaims.models import resolve_model_path

    probe = subprocess.run([PY, "-c", "import xdist"], env=child_env(), capture_output=True)
    if probe.returncode != 0:  # without pytest-xdist, -n is an unknown option: skip, say why
        ctx.add("xdist", "wall time -n 0 / -n 2 (16 CPU-bound claims, cache off)", None,
                "SKIPPED", ">= 1.5x", None,
                f"pytest-xdist is not installed for {PY}; install it with "
                "`pip install pytest-xdist` (or `pip install -e '.[test]'`) and rerun "
                "`python benchmarks/run.py --only xdist`")
        return

    cfg = json.loads((Path(resolve_model_path(MODEL)[0]) / "config.json").read_text())
    n_layers = cfg.get("num_hidden_layers", cfg.get("n_layer"))
    n_heads = cfg.get("num_attention_heads", cfg.get("n_head"))
    scale, seeds = (2, 4) if ctx.quick else (10, 8)
    suite = Path(tempfile.mkdtemp(prefix="xdist-", dir=ctx.tmp))
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_cpu_bound.py").write_text(XDIST_SUITE.format(
        n=16, model=MODEL, scale=scale, seeds=seeds, n_layers=n_layers, n_heads=n_heads,
        n_half=8))
    base = [PY, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
            "--claims-backends=tl", "--claims-cache=off", f"--claims-report-dir={suite / 'rep'}"]
    reps = 1 if ctx.quick else 3
    capacity = parallel_capacity()
    serial: list[float] = []
    parallel: list[float] = []
    calls: list[dict[str, Any]] = []
    foreign: dict[str, list[float]] = {"0": [], "2": []}
    for _ in range(reps):
        for n, sink in (("0", serial), ("2", parallel)):
            wall, proc = run([*base, "-n", n], cwd=suite)
            if proc.returncode != 0:
                raise RuntimeError(f"xdist suite -n {n} failed:\n{tail(proc.stdout + proc.stderr)}")
            sink.append(wall)
            foreign[n].append(proc.foreign_cores)  # type: ignore[attr-defined]
            m = json.loads((suite / "rep" / "claims.json").read_text())["manifest"]
            calls.append({"n": n, "wall_s": wall, "analysis_s": m["analysis_seconds"],
                          "foreign_cores": proc.foreign_cores})  # type: ignore[attr-defined]
    capacity_after = parallel_capacity()
    t0, t2 = min(serial), min(parallel)
    ratio = t0 / t2
    # Amdahl: start-up, collection, model load and report do not shrink with workers
    a0 = min(c["analysis_s"] for c in calls if c["n"] == "0")
    bound = t0 / ((t0 - a0) + a0 / 2)
    cap = min(capacity["capacity"], capacity_after["capacity"])
    ctx.add("xdist", "wall time -n 0 / -n 2 (16 CPU-bound claims, cache off)", ratio,
            f"{ratio:.2f}x ({t0:.1f}s / {t2:.1f}s)", ">= 1.5x", ratio >= 1.5,
            f"best of {reps} each; parallel capacity of the machine {capacity['capacity']:.2f}x before, "
            f"{capacity_after['capacity']:.2f}x after (2.0 = two free cores); other processes "
            f"used {_runs(foreign['0'])} cores during the -n 0 runs, {_runs(foreign['2'])} "
            f"during -n 2 (wall {_runs(serial, 's')} / {_runs(parallel, 's')}); summed test "
            f"time {a0:.1f}s (-n 0) vs "
            f"{min(c['analysis_s'] for c in calls if c['n'] == '2'):.1f}s (-n 2); "
            f"Amdahl bound with 2 free cores {bound:.2f}x ({t0 - a0:.1f}s not parallel)")
    ctx.details["xdist"] = {"runs": calls, "foreign_cores": foreign, "amdahl_bound": bound,
                            "scale": scale, "seeds": seeds,
                            "capacity_before": capacity, "capacity_after": capacity_after,
                            "capacity_min": cap}
    shutil.rmtree(suite, ignore_errors=True)


# ----------------------------------------------------------------------- 4. bootstrap vs scipy
def bench_bootstrap_vs_scipy(ctx: Ctx) -> None:
    sys.path.insert(0, str(HERE))
    try:
        import bench_bootstrap  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(HERE))
    repeats = 3 if ctx.quick else 7
    details = bench_bootstrap.same_interval(ctx, repeats)
    details.update(bench_bootstrap.many_quantities(ctx, repeats))
    details["cold_claims"] = bench_bootstrap.stats_share(ctx, run_claims)
    ctx.details["bootstrap_vs_scipy"] = details


# --------------------------------------------------------------------------- 5. RSS, 1 GB store
def fresh_child(args: list[str]) -> list[str]:
    """A command that runs ``args`` as a grandchild forked by ``sh``, so it starts as a small
    process image (``rss_probe.py`` measures ``VmHWM``, which is per image anyway)."""
    return ["/bin/sh", "-c", '"$0" "$@"; exit $?', *args]


def bench_rss_1gb_cache(ctx: Ctx) -> None:
    mib = 256 if ctx.quick else 1024
    script = str(HERE / "rss_probe.py")
    root = Path(tempfile.mkdtemp(prefix="store-1gb-", dir=ctx.tmp))
    reads: dict[str, dict[str, Any]] = {}
    try:
        _, proc = run([PY, script, "write", str(root), str(mib)])
        if proc.returncode != 0:
            raise RuntimeError(f"writing the store failed:\n{tail(proc.stderr)}")
        wrote = json.loads(proc.stdout.strip().splitlines()[-1])
        on_disk = sum(p.stat().st_size for p in root.rglob("*.npy"))
        for path in ("probe", "memmap"):
            _, proc = run(fresh_child([PY, script, "probe", str(root), str(wrote["prompts"]),
                                       path]))
            if proc.returncode != 0:
                raise RuntimeError(f"reading the store failed ({path}):\n{tail(proc.stderr)}")
            reads[path] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    size = f"{wrote['bytes'] / 2**30:.2f} GiB L0.mlp_post entry of {wrote['prompts']} prompts" + (
        " (quick: not >= 1 GB)" if ctx.quick else "")
    r, old = reads["probe"], reads["memmap"]
    base = r["import_and_model_rss_mib"]
    ctx.add("rss_1gb_cache", "peak RSS of a fresh process running ic.probe on the entry",
            r["peak_rss_mib"], f"{r['peak_rss_mib']:.0f} MiB", "< 300 MB",
            r["peak_rss_mib"] * 2**20 < 300e6,
            f"{size}; Python + torch + interpclaims + the TL model alone: {base:.0f} MiB "
            f"(the target is out of reach for any analysis on this stack); probe accuracy "
            f"{r['accuracy']:.2f}, {r['forward_passes']} forward passes, {r['read_s']:.1f}s")
    for name, x, label in (("probe", r, "ic.probe (chunked read)"),
                           ("memmap", old, "former path: mask on the store's memmap")):
        ctx.add("rss_1gb_cache", f"RSS added by the read: {label}", x["read_added_mib"],
                f"{x['read_added_mib']:.0f} MiB", "< 300 MB" if name == "probe" else "context",
                x["read_added_mib"] * 2**20 < 300e6 if name == "probe" else None,
                f"peak {x['read_peak_mib']:.0f} MiB over {x['baseline_rss_mib']:.0f} MiB after "
                f"imports, model, a warm-up probe and tokenization; {x['read_s']:.1f}s")
    ctx.details["rss_1gb_cache"] = {"write": wrote, "bytes_on_disk": on_disk, "reads": reads}


# ------------------------------------------------------------------------------ 6. plugin cost
PLUGIN_CONFTEST = '''\
import json, os, sys

def pytest_sessionfinish(session):
    path = os.environ.get("BENCH_MODULES_OUT")
    if path:
        mods = ("torch", "transformers", "transformer_lens", "nnsight", "numpy", "scipy")
        out = {m: m in sys.modules for m in mods}
        out["plugin_loaded"] = session.config.pluginmanager.hasplugin("interpclaims")
        with open(path, "w") as f:
            json.dump(out, f)
'''


def bench_plugin_cost(ctx: Ctx) -> None:
    folder = Path(tempfile.mkdtemp(prefix="plain-", dir=ctx.tmp))
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(PLUGIN_CONFTEST)
    (folder / "test_trivial.py").write_text("".join(
        f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n\n" for i in range(50)))
    base = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    variants = {"with": base, "without": [*base, "-p", "no:interpclaims"]}
    mods: dict[str, Any] = {}
    for name, cmd in variants.items():  # warm-up, and what each run imported
        out = folder / f"modules-{name}.json"
        _, proc = run(cmd, cwd=folder, env=child_env(BENCH_MODULES_OUT=str(out)))
        if proc.returncode != 0:
            raise RuntimeError(f"trivial suite failed ({name}):\n{tail(proc.stdout)}")
        mods[name] = json.loads(out.read_text())
    reps = 3 if ctx.quick else 9
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(reps):  # interleaved
        for name, cmd in variants.items():
            wall, _ = run(cmd, cwd=folder)
            times[name].append(wall)
    shutil.rmtree(folder, ignore_errors=True)
    diffs = [a - b for a, b in zip(times["with"], times["without"], strict=True)]
    cost = median(diffs)
    ok_disabled = mods["with"]["plugin_loaded"] and not mods["without"]["plugin_loaded"]
    ctx.add("plugin_cost", "median wall: with plugin - without (50 trivial tests)", cost * 1e3,
            f"{cost * 1e3:+.0f} ms ({median(times['with']):.2f}s vs "
            f"{median(times['without']):.2f}s)", "< 100 ms", cost < 0.1,
            f"{reps} interleaved pairs; -p no:interpclaims disables it: {ok_disabled}; imports "
            f"numpy {mods['with']['numpy']}, scipy {mods['with']['scipy']}")
    torch_loaded = mods["with"]["torch"] or mods["with"]["transformers"]
    ctx.add("plugin_cost", "torch / transformers imported by the plugin",
            float(torch_loaded), "yes" if torch_loaded else "no", "no", not torch_loaded)
    ctx.details["plugin_cost"] = {"times": times, "diffs": diffs, "modules": mods}


def bench_device_map(ctx: Ctx) -> None:
    sys.path.insert(0, str(HERE))
    try:
        import device_map  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(HERE))
    device_map.bench(ctx)


def bench_sequential(ctx: Ctx) -> None:
    sys.path.insert(0, str(HERE))
    import sequential  # type: ignore[import-not-found]

    sequential.bench(ctx)


# ------------------------------------------------------------------------------------ driver
def bench_atp(ctx: Ctx) -> None:
    """Attribution patching vs exact patching (issue 13.3): see ``atp_sweeps.py``."""
    from atp_sweeps import bench_atp as atp

    atp(ctx.add, ctx.details, run_claims, ctx.tmp)


BENCHMARKS: dict[str, Callable[[Ctx], None]] = {
    "claims_vs_script": bench_claims_vs_script,
    "cold_vs_warm": bench_cold_vs_warm,
    "xdist": bench_xdist,
    "bootstrap_vs_scipy": bench_bootstrap_vs_scipy,
    "rss_1gb_cache": bench_rss_1gb_cache,
    "plugin_cost": bench_plugin_cost,
    "device_map": bench_device_map,
    "atp": bench_atp,
    "sequential": bench_sequential,
}


def print_machine(info: dict[str, Any]) -> None:
    print("machine")
    print(f"  cpu      {info.get('cpu', '?')}; {info['cores']} cores "
          f"({info.get('cores_usable', '?')} usable); RAM {info.get('ram_gib', '?')} GiB; "
          f"load {' '.join(info.get('loadavg', []))}")
    print(f"  python   {info['python']}; torch {info['torch']}; transformer-lens "
          f"{info['transformer-lens']}; numpy {info['numpy']}; scipy {info['scipy']}; pytest "
          f"{info['pytest']}; xdist {info['pytest-xdist']}")
    print(f"  zoo      {info['fixtures']}")
    print(f"  platform {info['platform']}", flush=True)


def print_table(rows: list[Row]) -> None:
    w_b = max(len(r.bench) for r in rows)
    w_m = max(len(r.metric) for r in rows)
    w_v = max(len(r.shown) for r in rows)
    w_t = max(len(r.target) for r in rows)
    head = f"{'benchmark':<{w_b}}  {'ratio / measure':<{w_m}}  {'measured':<{w_v}}  " \
           f"{'target':<{w_t}}  result"
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        result = "SKIP" if r.shown == "SKIPPED" else "-" if r.ok is None else (
            "PASS" if r.ok else "MISS")
        print(f"{r.bench:<{w_b}}  {r.metric:<{w_m}}  {r.shown:<{w_v}}  {r.target:<{w_t}}  "
              f"{result}")
        if r.note:
            print(f"{'':<{w_b}}    {r.note}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description="interpclaims benchmarks: ratios with targets, PASS/MISS",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="benchmarks: " + ", ".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true", help="fast smoke version (smaller, 1 repeat)")
    ap.add_argument("--only", metavar="NAME", help="run only these benchmarks (comma-separated)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        raise SystemExit(f"unknown child {args.child[0]}")

    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from interpclaims.models import resolve_model_path

    resolve_model_path(MODEL)  # fails fast, naming the zoo folder, when the model is missing
    info = machine()
    print_machine(info)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="interpclaims-bench-"))
    ctx = Ctx(quick=args.quick, tmp=tmp)
    failures: dict[str, str] = {}
    try:
        for name in names:
            t = time.perf_counter()
            print(f"running {name} ...", end=" ", flush=True)
            try:
                BENCHMARKS[name](ctx)
                print(f"{time.perf_counter() - t:.0f}s", flush=True)
            except Exception as e:
                failures[name] = f"{type(e).__name__}: {e}"
                print(f"FAILED after {time.perf_counter() - t:.0f}s: {failures[name]}", flush=True)
                ctx.add(name, "benchmark failed to run", None, "error", "-", False,
                        failures[name].splitlines()[0][:200])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started
    print_table(ctx.rows)
    misses = [r for r in ctx.rows if r.ok is False]
    print(f"\n{sum(r.ok is True for r in ctx.rows)} PASS, {len(misses)} MISS; "
          f"{total:.0f}s in all{' (quick)' if args.quick else ''}")
    if LOAD_LOG:
        loads = [e["foreign_cores"] for e in LOAD_LOG]
        print(f"other processes on this machine used {statistics.mean(loads):.2f} cores on "
              f"average (max {max(loads):.2f}) during the measured runs"
              + (" — a busy machine: read the ratios with that in mind"
               if statistics.mean(loads) > 0.2 else ""))
    RESULTS.write_text(json.dumps({
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full", "benchmarks": names, "seconds": total,
        "machine": info, "rows": [asdict(r) for r in ctx.rows], "details": ctx.details,
        "failures": failures, "load_log": LOAD_LOG,
    }, indent=1, default=str))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
