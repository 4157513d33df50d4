"""``--claims-plan``: the plan's forward passes equal what a real run then does (per model and
backend, cold and warm store), no weights are loaded, no claim is decided, nothing is written to
the store; the planning backend's placeholders; the plan document."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from interpclaims.report import plan_document

# clean reads, an ablation, a patch, a head sweep, and a false claim
# (xfail strict): in a real run its refuted claim stops the test, in a plan every step runs
CLAIMS = textwrap.dedent(
    """
    import pytest
    import interpclaims as ic

    pytestmark = ic.model("zoo/agreement")

    def test_prefers(model, claim):
        claim.that(ic.measure(model, data="agreement")).is_at_least(1.0)

    def test_induction(model, claim):
        score = ic.attention_score(model, data="repeated_tokens", head="L1H2")
        claim.that(score).exceeds(score.control("random_heads"), by=0.3)

    def test_ablate(model, claim):
        e = ic.ablate(model, "L1H3", data="agreement", how="mean", metric="logit_diff")
        claim.that(e).is_at_most(-1.0)

    def test_patch(model, claim):
        e = ic.patch(model, "L0.resid_post", data="agreement", direction="denoising",
                     positions="subject_pos", metric="normalized")
        claim.that(e).is_at_least(0.8)

    def test_heads(model, claim):
        heads = ic.patch_heads(model, data="agreement", direction="denoising", positions=-1)
        claim.that(heads["L1", "H3"]).is_at_least(0.8)

    @pytest.mark.xfail(strict=True, reason="L1H2 does not carry subject number")
    def test_false(model, claim):
        heads = ic.patch_heads(model, data="agreement", direction="denoising", positions=-1)
        claim.that(heads["L1", "H2"]).is_at_least(0.5)
    """
)

# a plan must never load weights: this conftest makes any weight load fail the run
NO_WEIGHTS = textwrap.dedent(
    """
    import transformers

    def _refuse(*args, **kwargs):
        raise RuntimeError("a plan loaded model weights")

    transformers.AutoModelForCausalLM.from_pretrained = _refuse
    """
)

# few resamples: the intervals do not change what runs, and the test stays fast
ARGS = ("-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly", "--claims-resamples=200")


def _pytest(folder: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", *ARGS, *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def _outcomes(stdout: str) -> dict[str, int]:
    last = stdout.strip().splitlines()[-1]
    return {w: int(n) for n, w in re.findall(r"(\d+) (\w+)", last)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Plan on an empty store, real (cold) run, plan on the filled store, real (warm) run."""
    folder = tmp_path_factory.mktemp("plan")
    (folder / "test_claims.py").write_text(CLAIMS)
    out = {}
    for name in ("plan_cold", "cold", "plan_warm", "warm"):
        plan = name.startswith("plan")
        if plan:
            (folder / "conftest.py").write_text(NO_WEIGHTS)
        # both backends cold; the warm pair on tl alone (the store logic is the backends')
        # the plan does not consult the result cache (a warm one would make the run cheaper)
        ret, stdout = _pytest(folder, "--claims-cache-dir=store", f"--claims-report-dir={name}",
                              "--claims-cache=activations", *(("--claims-plan",) if plan else ()),
                              *(("--claims-backends=tl",) if name.endswith("warm") else ()))
        (folder / "conftest.py").unlink(missing_ok=True)
        doc = folder / name / ("plan.json" if plan else "claims.json")
        out[name] = {"ret": ret, "stdout": stdout, "outcomes": _outcomes(stdout),
                     "doc": json.loads(doc.read_text()) if doc.is_file() else None,
                     "report": sorted(f.name for f in (folder / name).iterdir()),
                     "store_files": sorted(str(f.relative_to(folder))
                                           for f in (folder / "store").rglob("*") if f.is_file())
                     if (folder / "store").is_dir() else []}
    return out


def test_plan_equals_the_real_run_cold(runs: dict[str, dict]) -> None:
    plan, real = runs["plan_cold"], runs["cold"]
    assert plan["ret"] == 0, plan["stdout"]
    assert real["ret"] == 0, real["stdout"]
    passes = real["doc"]["manifest"]["forward_passes"]
    assert set(passes) == {"zoo/agreement [tl]", "zoo/agreement [nnsight]"}
    assert plan["doc"]["forward_passes"] == passes
    assert plan["doc"]["exact"], plan["doc"]["estimates"]
    m = plan["doc"]["models"]["zoo/agreement [tl]"]
    assert m["clean"] > 0 and m["intervention"] > 0
    assert m["clean"] + m["intervention"] + m["gradient"] == m["forward_passes"]
    assert (m["remote"], m["remote_requests"]) == ("off", 0)
    # what the store would hold: the entries and bytes the real run wrote
    assert plan["doc"]["store"]["writes"] == real["doc"]["manifest"]["cache"]["writes"]
    data = [f for f in runs["cold"]["store_files"] if f.endswith(".npy")]
    assert len(data) == plan["doc"]["store"]["writes"]


def test_plan_counts_the_remote_requests_of_a_real_run(tmp_path: Path) -> None:
    """With --claims-remote=local the plan groups passes into sessions as the real run does:
    the requests it counts are the ones the real run sends (nnsight's local simulation)."""
    (tmp_path / "test_claims.py").write_text(CLAIMS)
    docs = {}
    for name in ("plan", "real"):
        if name == "plan":
            (tmp_path / "conftest.py").write_text(NO_WEIGHTS)
        ret, stdout = _pytest(tmp_path, "--claims-cache=off", "--claims-backends=nnsight",
                              "--claims-remote=local", f"--claims-report-dir={name}",
                              *(("--claims-plan",) if name == "plan" else ()))
        (tmp_path / "conftest.py").unlink(missing_ok=True)
        assert ret == 0, stdout
        docs[name] = json.loads((tmp_path / name / ("plan.json" if name == "plan" else
                                                   "claims.json")).read_text())
    model = docs["plan"]["models"]["zoo/agreement [nnsight]"]
    real = docs["real"]["manifest"]["remote"]
    assert model["remote"] == "local"
    assert model["forward_passes"] == real["traces"]
    assert model["remote_requests"] == real["requests"] < real["traces"]


def test_plan_equals_the_real_run_warm(runs: dict[str, dict]) -> None:
    """On the store the cold run filled, the plan counts only the intervention runs, as the
    warm run does, and no write."""
    plan, real = runs["plan_warm"], runs["warm"]
    assert plan["ret"] == real["ret"] == 0, plan["stdout"] + real["stdout"]
    assert plan["doc"]["forward_passes"] == real["doc"]["manifest"]["forward_passes"]
    assert plan["doc"]["forward_passes"]["zoo/agreement [tl]"] > 0
    assert all(m["clean"] == 0 for m in plan["doc"]["models"].values())
    assert plan["doc"]["store"]["writes"] == 0 and plan["doc"]["store"]["bytes_written"] == 0


def test_plan_decides_nothing_writes_nothing(runs: dict[str, dict]) -> None:
    plan = runs["plan_cold"]
    assert plan["outcomes"] == {"skipped": 12}  # the false claim (xfail strict) too
    assert plan["report"] == ["plan.json"]  # no claims.json, no page
    assert "interpclaims plan (no model was run" in plan["stdout"]
    assert "zoo/agreement [tl]: " in plan["stdout"] and "remote: off, 0 requests" in plan["stdout"]
    assert plan["store_files"] == []  # the plan ran first, on an empty store: nothing created
    assert runs["plan_warm"]["store_files"] == runs["cold"]["store_files"]


def test_plan_document_sums_and_flags_estimates() -> None:
    rows = [
        {"nodeid": "a", "notes": [], "counters": {
            "forward_passes": {"m [tl]": 5, "m [nnsight]": 4},
            "intervention_passes": {"m [tl]": 3, "m [nnsight]": 3},
            "cache": {"hits": 1, "misses": 2, "writes": 2, "bytes_written": 100}}},
        {"nodeid": "b", "notes": ["greedy"], "counters": {
            "forward_passes": {"m [tl]": 1}, "intervention_passes": {"m [tl]": 1}}},
        {"nodeid": "c", "notes": [], "counters": {}},
    ]
    doc = plan_document(rows)
    assert doc["forward_passes"] == {"m [nnsight]": 4, "m [tl]": 6}
    assert doc["models"]["m [tl]"]["clean"] == 2 and doc["models"]["m [tl]"]["intervention"] == 4
    assert doc["by_backend"] == {"nnsight": 4, "tl": 6}
    assert doc["store"] == {"hits": 1, "misses": 2, "writes": 2, "bytes_written": 100}
    assert doc["estimates"] == {"b": ["greedy"]} and not doc["exact"] and doc["tests"] == 3


def test_planning_backend_is_causal_and_edits_fire() -> None:
    import torch

    from interpclaims._sites import Site
    from interpclaims.backends import ModelSpec, PlanBackend

    spec = ModelSpec("LlamaForCausalLM", n_layers=2, n_heads=4, d_model=8, d_head=2, d_mlp=16,
                     d_vocab=11, n_ctx=16)
    b = PlanBackend("tl", spec)
    tokens = torch.tensor([[0, 3, 4, 5], [0, 3, 7, 5]])
    z, pattern = Site("z", 1), Site("pattern", 0)
    logits, acts = b.forward(tokens, slice(0, 2), [z, pattern, Site("resid_post", 0)], {})
    assert logits.shape == (2, 4, 11) and acts[z].shape == (2, 4, 4, 2)
    assert acts[Site("resid_post", 0)].shape == (2, 4, 8)
    # causal: the prompts agree before position 2 and differ from it on
    assert torch.equal(acts[z][0, :2], acts[z][1, :2])
    assert (acts[z][0, 2:] != acts[z][1, 2:]).all()
    assert torch.allclose(acts[pattern].sum(-1), torch.ones(2, 4, 4))
    assert (acts[pattern].triu(1) == 0).all()
    # an edit changes the read at its site and the logit differences
    edited, acts2 = b.forward(tokens, slice(0, 2), [z], {z: lambda a, rows: a * 0})
    assert (acts2[z] == 0).all()
    diff = (edited[..., 1] - edited[..., 2]) - (logits[..., 1] - logits[..., 2])
    assert diff.abs().max() > 1e-3
    assert list(b.named_parameters()) == [] and b.attached() == []
