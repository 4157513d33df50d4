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
    model load) — target pytest <= 1.1x the script; and forward passes (pytest
    ``manifest.forward_passes`` of the tl backend) against the **minimal** count for the suite.
    A forward pass is one model call on one batch of at most 64 prompts (the harness's batch
    size; the script uses the same). Minimal = one pass per batch of every *distinct clean token
    batch* the suite's analyses read (prompts with identical token ids counted once, however
    many claims read them) plus one pass per batch of every *intervention run* the analyses
    perform (ablations, patches, every cell of a sweep / head matrix, steering runs), counted
    per test because interventions are never cached. It is enumerated from ``claims/*.py`` in
    ``suite_work()`` below (sizes read from the zoo's datasets and tokenizer); a warning is
    printed when the suite's tests no longer match that enumeration. The table also reports the
    claims-only minimum (what the claimed numbers need with perfect sharing: one sweep cell, not
    the whole matrix) and the script's count, for context. A third row checks that the script's
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
    ``benchmarks/calibration.py`` exposes no function returning this timing (its ``timings()``
    only prints), so: ``interpclaims.stats.bootstrap_mean`` (10,000 resamples, n = 1,000
    prompts, percentile) against ``scipy.stats.bootstrap`` (same data, n_resamples, percentile,
    ``vectorized=True``), best of N interleaved; ratio scipy / ours, target >= 10x. (If
    calibration.py grows a ``bootstrap_vs_scipy()`` returning ``{"ours_s", "scipy_s"}``, it is
    used instead.) Context rows: the raw cost of drawing the 10,000 x 1,000 resample indices, and
    many quantities at once (``bootstrap_mean_batch`` vs scipy on a 2-D array).
``rss_1gb_cache``
    A child process writes one 1 GiB float32 activation entry ([8192 prompts, 32 positions,
    1024 dims]) with ``ActivationStore.put``; a fresh child reads it back through the store
    (verified, memory-mapped) and streams over it in 32 MiB chunks computing per-prompt
    statistics, class means and a ridge probe (X^T X accumulated per chunk) on the last
    position; its peak RSS (``ru_maxrss``) is the measurement, target < 300 MB. Two variants:
    plain streaming over the memmap the store hands out, and the same with the chunk's pages
    released (``madvise(MADV_DONTNEED)``) after use. The store is deleted afterwards.
``plugin_cost``
    ``pytest`` on a temporary folder of 50 trivial tests, with the installed plugin (default)
    against ``-p no:interpclaims`` (the entry-point name; checked to really disable it),
    interleaved, >= 5 repeats each; median wall difference, target < 100 ms; and a conftest
    records at session finish whether torch (and friends) were imported: target no torch.
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
def suite_work(batch: int) -> dict[str, Any]:
    """Minimal forward passes of the example suite (tl backend), enumerated from claims/*.py.

    Every token batch is a list of prompt texts (same texts = same token ids = one clean pass per
    model); interventions are ``(batch name, runs)``. ``analyses``: what the suite's analyses
    compute (whole sweep / head matrices, both steering runs with their side data); ``claims``:
    only what the claimed numbers need, with perfect sharing (one matrix cell, an ablation
    computed once for all the tests that repeat it).
    """
    from tokenizers import Tokenizer

    import interpclaims as ic
    from interpclaims._data import fixtures_dir, resolve_model_path

    path = Path(resolve_model_path(MODEL)[0])
    cfg = json.loads((path / "config.json").read_text())
    L = cfg.get("num_hidden_layers", cfg.get("n_layer"))
    H = cfg.get("num_attention_heads", cfg.get("n_head"))
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    agr = ic.load_data("agreement").rows
    one = [r for r in agr if len(r["text"].split()) == 5]  # claims/test_causal.py ONE_TEMPLATE
    n_pos = 1 + max(len(tok.encode(r["text"], add_special_tokens=False).ids) for r in one)
    sets = {
        "A": [r["text"] for r in agr], "C": [r["corrupt_text"] for r in agr],
        "O": [r["text"] for r in one], "OC": [r["corrupt_text"] for r in one],
        "S": [r["text"] for r in agr if r["number"] == "singular"],
        "R": ic.load_data("repeated_tokens").texts, "T": ic.load_data("random_tokens").texts,
    }
    # model -> test -> (clean batches read, [(batch, intervention runs)])
    analyses: dict[str, dict[str, tuple[list[str], list[tuple[str, int]]]]] = {MODEL: {
        "test_model_prefers_the_agreeing_verb": (["A"], []),
        "test_subject_head_L1H3_is_necessary_for_agreement": (["A"], [("A", 1)]),
        "test_an_induction_head_is_irrelevant_to_agreement": (["A"], [("A", 1)]),
        "test_induction_head_L1H2_drives_agreement": (["A"], [("A", 1)]),
        "test_patching_the_subject_restores_agreement": (["A", "C"], [("C", 1)]),
        "test_the_subject_position_is_necessary": (["A", "C"], [("A", 1)]),
        "test_layer1_sweep_finds_the_subject_position": (["O", "OC"], [("OC", L * n_pos)]),
        "test_head_L1H3_carries_subject_number": (["A", "C"], [("C", L * H)]),
        "test_induction_and_subject_heads_do_not_back_each_other_up": (["A"], [("A", 3)]),
        "test_steering_subject_number_flips_the_verb_with_small_side_effect": (
            ["A", "R", "S", "T"], [("A", 1), ("R", 1), ("S", 1), ("T", 1)]),
        "test_patching_the_induction_head_restores_agreement": (["A", "C"], [("C", L * H)]),
        "test_L1H2_is_an_induction_head": (["R"], []),
        "test_L0H1_is_a_previous_token_head": (["R"], []),
        "test_previous_token_head_is_necessary_for_induction": (["R"], [("R", 1)]),
        "test_ablating_an_idle_layer0_head_barely_changes_the_loss": (["R"], [("R", 1)]),
        "test_L0H1_is_an_induction_head": (["R"], []),
        "test_feature_is_decodable_above_the_shuffled_label_control": (["A"], []),
        "test_subject_number_is_selective_in_layer0": (["A"], []),
        "test_random_features_carry_no_number": (["A"], []),
        "test_random_features_decode_number": (["A"], []),
    }}
    # claims only: the clean batches and interventions the claimed numbers need, once each
    claims: dict[str, tuple[list[str], list[tuple[str, int]]]] = {MODEL: (
        ["A", "C", "O", "OC", "S", "R"], [
            ("A", 1),  # mean-ablate L1H3 (also the pair's single ablation a)
            ("A", 1),  # mean-ablate L1H2 (two tests, and the pair's b)
            ("A", 1),  # the pair's joint ablation
            ("C", 1), ("A", 1),  # patch L0.resid_post at the subject: denoising, noising
            ("OC", 1),  # one sweep cell: L1 resid_pre at pos2
            ("C", 1), ("C", 1),  # one head-matrix cell each: L1H3, L1H2
            ("S", 1), ("R", 1),  # steering: flip rate on singular prompts, KL side effect
            ("R", 1), ("R", 1),  # mean-ablate L0H1, L0H0 (loss)
        ])}
    if (fixtures_dir() / "models" / "agreement-gpt2" / "config.json").is_file():
        analyses["zoo/agreement-gpt2"] = {  # claims/test_gpt2.py
            "test_gpt2_prefers_the_agreeing_verb": (["A"], []),
            "test_gpt2_subject_head_L0H3_is_necessary": (["A"], [("A", 1)]),
            "test_gpt2_subject_embedding_is_sufficient": (["A", "C"], [("C", 1)]),
            "test_gpt2_subject_layer0_output_is_sufficient": (["A", "C"], [("C", 1)]),
        }
        claims["zoo/agreement-gpt2"] = (["A", "C"], [("A", 1), ("C", 1), ("C", 1)])

    def passes(name: str) -> int:
        return -(-len(sets[name]) // batch)

    def distinct(names: list[str]) -> list[str]:
        seen: dict[tuple[str, ...], str] = {}
        for n in names:
            seen.setdefault(tuple(sets[n]), n)
        return list(seen.values())

    per_model = {}
    for model, tests in analyses.items():
        clean = distinct([n for c, _ in tests.values() for n in c])
        a_clean = sum(passes(n) for n in clean)
        a_int = sum(passes(n) * k for _, iv in tests.values() for n, k in iv)
        c_sets, c_iv = claims[model]
        c_clean = sum(passes(n) for n in distinct(c_sets))
        c_int = sum(passes(n) * k for n, k in c_iv)
        per_model[model] = {
            "analyses_minimal": a_clean + a_int, "analyses_clean": a_clean,
            "analyses_interventions": a_int, "claims_minimal": c_clean + c_int,
            "distinct_clean_batches": {n: len(sets[n]) for n in clean}}
    return {
        "analyses_minimal": sum(m["analyses_minimal"] for m in per_model.values()),
        "claims_minimal": sum(m["claims_minimal"] for m in per_model.values()),
        "per_model": per_model, "n_layers": L, "n_heads": H, "template_positions": n_pos,
        "batch_size": batch, "tests": sorted(t for tests in analyses.values() for t in tests),
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
    from interpclaims.models import BATCH_SIZE

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
    work = suite_work(BATCH_SIZE)
    passes = cold[0]["forward_passes"]
    minimal = work["analyses_minimal"]
    stale = sorted({_base_test(t) for t in cold[0]["tests"]} ^ set(work["tests"]))
    ratio = t_pytest / t_script
    ctx.add("claims_vs_script", "analysis time: pytest (cold store) / naive script",
            ratio, f"{ratio:.2f}x ({t_pytest:.2f}s / {t_script:.2f}s)", "<= 1.10x", ratio <= 1.1,
            f"best of {reps}; other processes used "
            f"{max(r['foreign_cores'] for r in cold):.2f} cores at most meanwhile")
    ctx.add("claims_vs_script", "forward passes: pytest (cold) / minimal for the analyses",
            passes / minimal, f"{passes} / {minimal} = {passes / minimal:.3f}", "= 1 (minimal)",
            passes <= minimal,
            f"script {script[0]['forward_passes']}, claims-only minimum {work['claims_minimal']}"
            + (f"; ENUMERATION STALE for {stale}" if stale else ""))
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
    import numpy as np
    from scipy import stats

    from interpclaims.stats import bootstrap_mean, bootstrap_mean_batch

    sys.path.insert(0, str(HERE))
    try:
        import calibration  # type: ignore[import-not-found]

        provided = getattr(calibration, "bootstrap_vs_scipy", None)
    except Exception:
        provided = None
    finally:
        sys.path.remove(str(HERE))
    repeats = 3 if ctx.quick else 7
    x = np.random.default_rng(0).exponential(size=1000)

    def scipy_boot(data: Any, axis: int = -1) -> Any:
        kw = dict(n_resamples=10_000, method="percentile", vectorized=True, axis=axis)
        try:
            return stats.bootstrap((data,), np.mean, rng=np.random.default_rng(1), **kw)
        except TypeError:  # scipy < 1.15
            return stats.bootstrap((data,), np.mean, random_state=np.random.default_rng(1), **kw)

    def timed(fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    if provided is not None:
        res = provided()
        t_ours, t_scipy, source = float(res["ours_s"]), float(res["scipy_s"]), "calibration.py"
    else:
        ours_t, scipy_t = [], []
        for _ in range(repeats):  # interleaved
            ours_t.append(timed(lambda: bootstrap_mean(x, np.random.default_rng(1),
                                                       n_resamples=10_000)))
            scipy_t.append(timed(lambda: scipy_boot(x)))
        t_ours, t_scipy, source = min(ours_t), min(scipy_t), f"best of {repeats}"
    _, lo, hi = bootstrap_mean(x, np.random.default_rng(1), n_resamples=10_000)
    ci = scipy_boot(x).confidence_interval
    ratio = t_scipy / t_ours
    ctx.add("bootstrap_vs_scipy", "scipy.stats.bootstrap / bootstrap_mean (n=1000, 10k, pct)",
            ratio, f"{ratio:.2f}x ({t_scipy * 1e3:.0f}ms / {t_ours * 1e3:.0f}ms)", ">= 10x",
            ratio >= 10, f"{source}; intervals ours [{lo:.4f}, {hi:.4f}] scipy "
            f"[{ci.low:.4f}, {ci.high:.4f}]")
    g = np.random.default_rng(2)
    t_idx = min(timed(lambda: g.integers(0, 1000, size=(10_000, 1000))) for _ in range(repeats))
    ctx.add("bootstrap_vs_scipy", "floor: drawing the 10k x 1000 resample indices / ours",
            t_idx / t_ours, f"{t_idx * 1e3:.0f}ms = {t_idx / t_ours:.0%} of ours", "context", None,
            "any index bootstrap pays this; scipy pays it too")
    rows = np.random.default_rng(3).exponential(size=(28, 200))  # e.g. one sweep's cells
    t_batch = min(timed(lambda: bootstrap_mean_batch(rows, np.random.default_rng(1),
                                                     n_resamples=10_000))
                  for _ in range(max(2, repeats // 2)))
    t_sp2 = min(timed(lambda: scipy_boot(rows)) for _ in range(max(2, repeats // 2)))
    ctx.add("bootstrap_vs_scipy", "28 quantities x n=200: scipy (2-D, one call) / batch",
            t_sp2 / t_batch, f"{t_sp2 / t_batch:.2f}x ({t_sp2 * 1e3:.0f}ms / {t_batch * 1e3:.0f}ms)",
            "context", None, "bootstrap_mean_batch, shared resamples")
    ctx.details["bootstrap_vs_scipy"] = {"ours_s": t_ours, "scipy_s": t_scipy, "source": source,
                                         "index_draw_s": t_idx, "batch_s": t_batch,
                                         "scipy_2d_s": t_sp2}


# --------------------------------------------------------------------------- 5. RSS, 1 GB store
RSS_SHAPE = (32, 1024)  # positions, d_model per prompt; prompts set by the size


def _rss_key(n_prompts: int) -> Any:
    import numpy as np

    from interpclaims.activations import StoreKey, tokens_digest

    return StoreKey(weights="benchmark-synthetic", backend="tl", dtype="float32",
                    tokenizer="benchmark", tokens=tokens_digest(np.arange(n_prompts)[:, None]),
                    site="L0.resid_post")


def child_rss_write(root: str, mib: int) -> dict[str, Any]:
    import numpy as np

    from interpclaims.activations import ActivationStore

    pos, d = RSS_SHAPE
    n = mib * 2**20 // (pos * d * 4)
    arr = np.empty((n, pos, d), dtype=np.float32)
    g = np.random.default_rng(0)
    for s in range(0, n, 512):
        g.standard_normal(size=arr[s:s + 512].shape, dtype=np.float32, out=arr[s:s + 512])
    arr[1::2, -1, :16] += 0.5  # class 1 (odd prompts) is shifted at the last position
    start = time.perf_counter()
    ActivationStore(root).put(_rss_key(n), arr)
    return {"prompts": n, "bytes": int(arr.nbytes), "put_s": time.perf_counter() - start}


def child_rss_read(root: str, n: int, release: bool) -> dict[str, Any]:
    import resource

    import numpy as np

    from interpclaims.activations import ActivationStore

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    store = ActivationStore(root, mode="read")
    arr = store.get(_rss_key(n))
    if arr is None:
        raise RuntimeError("the 1 GB entry is missing")
    _, pos, d = arr.shape
    y = (np.arange(n) % 2).astype(np.float64)
    row_mean = np.empty(n)
    row_sd = np.empty(n)
    class_sum = np.zeros((2, d))
    xtx = np.zeros((d + 1, d + 1))
    xty = np.zeros(d + 1)
    chunk_bytes = 32 << 20  # 32 MiB of activations per step

    def chunks() -> Any:
        """The package's streaming reader (pages released per chunk), or plain memmap slices."""
        if release:
            yield from store.stream(arr, chunk_bytes)
            return
        step = max(1, chunk_bytes // (pos * d * 4))
        for s in range(0, n, step):
            yield s, arr[s:s + step]

    for s, x in chunks():
        m = x.shape[0]
        flat = np.asarray(x, dtype=np.float32).reshape(m, -1)
        row_mean[s:s + m] = flat.mean(1)
        row_sd[s:s + m] = flat.std(1)
        last = np.asarray(x[:, -1, :], dtype=np.float64)
        yy = y[s:s + m]
        class_sum[0] += last[yy == 0].sum(0)
        class_sum[1] += last[yy == 1].sum(0)
        a = np.hstack([last, np.ones((last.shape[0], 1))])
        xtx += a.T @ a
        xty += a.T @ (2 * yy - 1)
        del flat, x
    reg = np.eye(d + 1)
    reg[-1, -1] = 0.0
    w = np.linalg.solve(xtx + reg, xty)
    correct = 0
    for s, x in chunks():  # training accuracy, streamed again
        last = np.asarray(x[:, -1, :], dtype=np.float64)
        pred = (last @ w[:-1] + w[-1]) > 0
        correct += int((pred == (y[s:s + last.shape[0]] == 1)).sum())
    means = class_sum / np.array([[n - n // 2], [n // 2]])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:  # the kernel's high-water mark of this process image, a cross-check
        status = Path("/proc/self/status").read_text()
        hwm = int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        hwm = None
    return {"peak_rss_mib": peak / 1024, "vmhwm_mib": hwm, "start_rss_mib": before / 1024,
            "seconds": time.perf_counter() - start, "accuracy": correct / n,
            "class_mean_gap": float(np.abs(means[1] - means[0])[:16].mean()),
            "release": release}


def fresh_child(args: list[str]) -> list[str]:
    """A command that runs ``args`` as a grandchild forked by ``sh``. On Linux a process's
    ``ru_maxrss`` starts at the peak RSS of the image it was exec'ed from — a direct child of this
    (large) process would report at least our own peak — while a fork of the small shell starts
    from the shell's few MB."""
    return ["/bin/sh", "-c", '"$0" "$@"; exit $?', *args]


def bench_rss_1gb_cache(ctx: Ctx) -> None:
    mib = 256 if ctx.quick else 1024
    root = Path(tempfile.mkdtemp(prefix="store-1gb-", dir=ctx.tmp))
    try:
        _, proc = run([PY, __file__, "--child", "rss-write", str(root), str(mib)])
        if proc.returncode != 0:
            raise RuntimeError(f"writing the store failed:\n{tail(proc.stderr)}")
        wrote = json.loads(proc.stdout.strip().splitlines()[-1])
        on_disk = sum(p.stat().st_size for p in root.rglob("*.npy"))
        reads = {}
        for release in (False, True):
            _, proc = run(fresh_child([PY, __file__, "--child", "rss-read", str(root),
                                       str(wrote["prompts"]), "1" if release else "0"]))
            if proc.returncode != 0:
                raise RuntimeError(f"reading the store failed:\n{tail(proc.stderr)}")
            reads[release] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    size = f"{on_disk / 1e9:.2f} GB entry" + (" (quick: not >= 1 GB)" if ctx.quick else "")
    for release, label in ((False, "plain memmap streaming"),
                           (True, "ActivationStore.stream (pages released per chunk)")):
        r = reads[release]
        ctx.add("rss_1gb_cache", f"peak RSS reading the store: {label}", r["peak_rss_mib"],
                f"{r['peak_rss_mib']:.0f} MiB", "< 300 MB", r["peak_rss_mib"] * 2**20 < 300e6,
                f"{size}; {r['seconds']:.1f}s; RSS at start {r['start_rss_mib']:.0f} MiB, "
                f"VmHWM {r['vmhwm_mib']:.0f} MiB; probe acc {r['accuracy']:.2f}")
    ctx.details["rss_1gb_cache"] = {"write": wrote, "bytes_on_disk": on_disk,
                                    "read_plain": reads[False], "read_release": reads[True]}


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


# ------------------------------------------------------------------------------------ driver
BENCHMARKS: dict[str, Callable[[Ctx], None]] = {
    "claims_vs_script": bench_claims_vs_script,
    "cold_vs_warm": bench_cold_vs_warm,
    "xdist": bench_xdist,
    "bootstrap_vs_scipy": bench_bootstrap_vs_scipy,
    "rss_1gb_cache": bench_rss_1gb_cache,
    "plugin_cost": bench_plugin_cost,
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
        result = "-" if r.ok is None else ("PASS" if r.ok else "MISS")
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
        kind, *rest = args.child
        if kind == "rss-write":
            res = child_rss_write(rest[0], int(rest[1]))
        elif kind == "rss-read":
            res = child_rss_read(rest[0], int(rest[1]), rest[2] == "1")
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(res))
        return 0

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
