"""Remote nnsight traces (``remote="local"``: nnsight's local simulation of NDIF, made strict):
reads and every edit kind give numbers bit-identical to local nnsight; what cannot run remotely
says so; failed jobs are retried, then reported with their job id."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpclaims._errors import InterpClaimsError, ModelLoadError, Unsupported
from interpclaims._sites import Site

NAME = "zoo/agreement"


@pytest.fixture(scope="module")
def remote_model():
    from interpclaims.models import Model

    return Model(NAME, "nnsight", remote="local")


@pytest.fixture(scope="module")
def local_model(zoo_models):
    return zoo_models[(NAME, "nnsight")]


@pytest.fixture(scope="module")
def batch(local_model):
    texts = ["the dog runs", "the cats run", "the dog near the cats runs",
             "the cats near the dog run"]
    return local_model.tokenize(texts, [f"p{i}" for i in range(len(texts))])


READS = [Site("resid_pre", 0), Site("z", 1), Site("attn_out", 0), Site("attn_out", 1),
         Site("pattern", 1), Site("resid_mid", 1), Site("mlp_post", 0), Site("mlp_out", 1),
         Site("resid_post", 1), Site("ln_final")]


def _same(local_model, remote_model, tokens, edits, batch_size=None):
    """Run both models; every logit and activation must be equal bit for bit."""
    import torch

    la, xa = local_model.forward(tokens, READS, edits, batch_size)
    lb, xb = remote_model.forward(tokens, READS, edits, batch_size)
    assert torch.equal(la, lb), float((la - lb).abs().max())
    for s in READS:
        assert torch.equal(xa[s], xb[s]), (s, float((xa[s] - xb[s]).abs().max()))
    return la


def _edits(model, batch):
    """One edit of every kind interpclaims builds, on several sites."""
    import torch

    from interpclaims._data import fixtures_dir
    from interpclaims.interventions import ablation_edit, patch_edit, steering_edit
    from interpclaims.interventions._sae import sae_feature_edit
    from interpclaims.models import load_sae

    g = torch.Generator().manual_seed(0)
    _, clean = model.forward(batch.tokens, READS, {})
    _, other = model.forward(batch.tokens.flip(0), READS, {})
    head, neuron = Site("z", 1, head=2), Site("mlp_post", 0, neuron=7)
    sae = load_sae(fixtures_dir() / "models" / "agreement" / "sae")
    real = batch.mask.clone()
    real[:, 0] = False
    kinds = {
        "zero head": {Site("z", 1): ablation_edit(model, head, "zero", clean[Site("z", 1)],
                                                  batch, None, None, "t")},
        "mean neuron": {Site("mlp_post", 0): ablation_edit(
            model, neuron, "mean", clean[Site("mlp_post", 0)], batch, None, None, "t")},
        "mean per position": {Site("attn_out", 1): ablation_edit(
            model, Site("attn_out", 1), "mean", clean[Site("attn_out", 1)], batch, None, None,
            "t", mean_over="position")},
        "resample head": {Site("z", 1): ablation_edit(model, head, "resample",
                                                      clean[Site("z", 1)], batch, None, None, "t")},
        "direction": {Site("resid_post", 0): ablation_edit(
            model, Site("resid_post", 0), "mean", clean[Site("resid_pre", 0)], batch, None,
            torch.randn(64, generator=g), "t")},
        "patch": {Site("resid_mid", 1): patch_edit(Site("resid_mid", 1),
                                                   other[Site("resid_mid", 1)], real)},
        "steer": {Site("resid_pre", 0): steering_edit(Site("resid_pre", 0),
                                                      torch.randn(64, generator=g), 3.0, real)},
        "sae set": {sae.site: sae_feature_edit(sae, [1, 5], "set", 4.0, real)},
        "sae add": {sae.site: sae_feature_edit(sae, [3], "add", 2.5, real)},
    }
    from interpclaims.analyses._sae_quality import _replace

    kinds["sae splice"] = {sae.site: _replace(sae, real)}
    kinds["zero splice"] = {sae.site: _replace(None, real)}
    return kinds


def test_reads_equal_local_bit_for_bit(local_model, remote_model, batch) -> None:
    _same(local_model, remote_model, batch.tokens, {})


def test_every_edit_kind_equals_local_bit_for_bit(local_model, remote_model, batch) -> None:
    import torch

    clean, _ = local_model.forward(batch.tokens, [], {})
    kinds = _edits(local_model, batch)
    for kind, edits in kinds.items():
        logits = _same(local_model, remote_model, batch.tokens, edits, batch_size=3)
        assert not torch.equal(logits, clean), f"{kind}: the edit changed nothing"
    # several sites at once, and two edits of one site composed (an open intervene context)
    multi = {**kinds["zero head"], **kinds["steer"], **kinds["sae add"]}
    with local_model.intervene(kinds["patch"]), remote_model.intervene(kinds["patch"]):
        la, _ = local_model.run(batch.tokens, edits={**multi, **kinds["direction"]})
        lb, _ = remote_model.run(batch.tokens, edits={**multi, **kinds["direction"]})
    assert torch.equal(la, lb)
    with local_model.intervene(kinds["sae set"]), remote_model.intervene(kinds["sae set"]):
        la, _ = local_model.run(batch.tokens, edits=kinds["sae add"])
        lb, _ = remote_model.run(batch.tokens, edits=kinds["sae add"])
    assert torch.equal(la, lb)


def test_requests_and_bytes_are_counted(remote_model, batch) -> None:
    before = remote_model.remote_counters()
    logits, acts = remote_model.forward(batch.tokens, [Site("resid_post", 0)], {}, batch_size=2)
    after = remote_model.remote_counters()
    # one trace per batch of two prompts, both in one session: one request
    assert after["traces"] - before["traces"] == 2
    assert after["requests"] - before["requests"] == 1
    returned = logits.nelement() * 4 + acts[Site("resid_post", 0)].nelement() * 4
    assert after["bytes_returned"] - before["bytes_returned"] == returned
    assert after["bytes_sent"] > before["bytes_sent"]


def test_sessions_hold_what_fits_the_memory_cap(remote_model, batch, monkeypatch) -> None:
    """A session holds consecutive passes while what they return fits the memory cap: with a
    cap of about one pass, each pass is a session of its own; the numbers do not change."""
    import torch

    from interpclaims.models._batch import returned_bytes

    read = [Site("resid_post", 0)]
    together, acts = remote_model.forward(batch.tokens, read, {}, batch_size=1)
    one = returned_bytes(remote_model.spec, batch.tokens[:1], read)
    monkeypatch.setenv("INTERPCLAIMS_MEMORY_CAP_MB", str(1.5 * one / 2**20))
    before = remote_model.remote_counters()
    apart, acts_apart = remote_model.forward(batch.tokens, read, {}, batch_size=1)
    after = remote_model.remote_counters()
    assert after["requests"] - before["requests"] == after["traces"] - before["traces"] == 4
    assert torch.equal(together, apart) and torch.equal(acts[read[0]], acts_apart[read[0]])


def test_the_cells_of_a_sweep_are_one_request(remote_model, local_model) -> None:
    """An exact sweep patches every cell: one session for all of them (plus the clean reads),
    with the cells' values equal to local nnsight's bit for bit."""
    import numpy as np

    import interpclaims as ic
    from interpclaims.analyses import patch_sweep

    rows = [r for r in ic.load_data("agreement").rows if len(r["text"].split()) == 5][:24]
    kw = {"data": rows, "kind": "resid_pre", "direction": "denoising",
          "metric": "normalized", "method": "exact"}
    before = remote_model.remote_counters()
    remote = patch_sweep(remote_model, **kw)
    sent = remote_model.remote_counters()
    local = patch_sweep(local_model, **kw)
    cells = sum(len(row) for row in remote.cells)
    assert sent["traces"] - before["traces"] >= cells
    # the clean/corrupt logits, their activations, and every cell: three requests
    assert sent["requests"] - before["requests"] == 3
    for a, b in zip(remote.cells, local.cells, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.value == y.value and np.array_equal(x.samples, y.samples)


def test_a_model_on_ndif_loads_no_weights_here(local_model, batch, monkeypatch) -> None:
    """``remote="ndif"``: the config and tokenizer only, the modules on the meta device; with a
    stand-in server holding the weights (the strict simulation, deserializing against the
    server's modules), reads, edits, the head output weights and the unembedding equal local
    nnsight bit for bit, and the weights read back cost one request each time they are new."""
    import torch

    from interpclaims.interventions import ablation_edit
    from interpclaims.models import Model, _model

    with pytest.raises(ModelLoadError, match=r"a folder on this machine .*--claims-remote=local"):
        Model(NAME, "nnsight", remote="ndif")
    with monkeypatch.context() as m:  # the zoo folder plays a hub model here
        m.setattr(_model, "check_hosted", lambda name, source: None)
        ndif = Model(NAME, "nnsight", remote="ndif")
    assert {p.device.type for _, p in ndif._backend.named_parameters()} == {"meta"}
    assert ndif.placement()[0] == ["ndif"]
    ndif._backend.remote.server = local_model.native  # the weights live "on the server" only
    _, clean = local_model.forward(batch.tokens, [Site("z", 1)], {})
    edits = {Site("z", 1): ablation_edit(local_model, Site("z", 1, head=2), "mean",
                                         clean[Site("z", 1)], batch, None, None, "t")}
    _same(local_model, ndif, batch.tokens, {})
    _same(local_model, ndif, batch.tokens, edits)
    before = ndif.remote_counters()["requests"]
    for layer in range(ndif.spec.n_layers):
        assert torch.equal(ndif._backend.w_o(layer), local_model._backend.w_o(layer))
    for a, b in zip(ndif.unembedding(), local_model.unembedding(), strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
    ndif.unembedding()
    assert ndif.remote_counters()["requests"] - before == ndif.spec.n_layers + 1
    result = Site("result", 1)
    assert torch.equal(ndif.run(batch.tokens, [result])[1][result.base],
                       local_model.run(batch.tokens, [result])[1][result.base])
    assert not ndif.leaks()


def test_a_plan_of_a_model_on_ndif_counts_its_requests(monkeypatch) -> None:
    """A planned ``remote="ndif"`` model counts a request per session and one per weight read
    the first time (as the real one sends them); the reset-network control is refused in a plan
    as in a real run."""
    from interpclaims.models import Model, _model

    plan = Model.planned(NAME, "nnsight", remote="ndif")
    tokens = plan.tokenize(["the dog runs"] * 5, [f"p{i}" for i in range(5)]).tokens
    plan.forward(tokens, [Site("resid_post", 0)], {}, batch_size=2)  # 3 passes, one session
    for layer in (0, 0, 1):
        plan.run(tokens, [Site("result", layer)])  # the clean read: one session each
    plan.unembedding()
    plan.unembedding()
    # 1 + 3 sessions, W_O of layers 0 and 1, the unembedding
    assert plan.remote_counters() == {"requests": 7}
    with pytest.raises(Unsupported, match="reset-network control needs a model with fresh"):
        plan.reset_network(0)
    monkeypatch.setattr(_model, "check_hosted", lambda name, source: None)
    with pytest.raises(Unsupported, match="reset-network control needs a model with fresh"):
        Model(NAME, "nnsight", remote="ndif").reset_network(0)


def test_a_python_function_edit_is_refused(remote_model, batch) -> None:
    def my_edit(act, rows):
        return act * 0

    with pytest.raises(InterpClaimsError, match=r"L0\.resid_post is a Python function.*"
                       r"my_edit.*--claims-remote=off"):
        remote_model.forward(batch.tokens, [], {Site("resid_post", 0): my_edit})


def test_a_trace_needing_interpclaims_names_the_module(remote_model, batch) -> None:
    """The strict simulation refuses interpclaims on the 'server', also when it is installed in
    editable mode (nnsight's own simulation would import it through the editable finder)."""
    from interpclaims.interventions import steering_edit

    runner = remote_model._backend.remote
    lm = remote_model.native
    steps = [{"mod": lm.model.layers[0], "attr": "output", "tuple": False, "z": None,
              "key": "x", "read": False, "ops": [], "pattern": None, "helper": steering_edit}]
    with pytest.raises(InterpClaimsError, match="needs the module 'interpclaims', which the NDIF "
                       "server does not have"):
        runner.run(lm, [{"tokens": batch.tokens, "steps": steps, "final": None,
                         "unembed": lm.lm_head}])


def test_a_failed_job_is_retried_then_reported_with_its_id(remote_model, batch, monkeypatch
                                                            ) -> None:
    import torch

    from interpclaims.backends import RemoteJobError, _remote

    real = _remote.remote_session
    calls = []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("job expired")
        return real(*args, **kw)

    runner = remote_model._backend.remote
    monkeypatch.setattr(runner, "backoff_s", 0.0)
    monkeypatch.setattr(_remote, "remote_session", flaky)
    retries = runner.failures
    logits, _ = remote_model.forward(batch.tokens, [], {})
    assert runner.failures - retries == 2 and len(calls) == 3
    monkeypatch.setattr(_remote, "remote_session", real)
    assert torch.equal(logits, remote_model.forward(batch.tokens, [], {})[0])

    def down(*args, **kw):
        raise ConnectionError("NDIF unreachable")

    monkeypatch.setattr(_remote, "remote_session", down)
    with pytest.raises(RemoteJobError, match=r"remote job local-\d+ of zoo/agreement on 'local' "
                       r"failed 4 times \(ConnectionError: NDIF unreachable\)") as info:
        remote_model.forward(batch.tokens, [], {})
    assert info.value.job_id.startswith("local-")


def test_graphs_and_tl_cannot_run_remotely(remote_model) -> None:
    from interpclaims.backends import load_backend

    with pytest.raises(Unsupported, match=r"circuit-tracer .* cannot run remotely"):
        remote_model.replacement(Path("transcoders"))
    with pytest.raises(Unsupported, match="runs the nnsight backend only"):
        load_backend("tl", None, None, remote_model.spec, remote="local", model_name=NAME)


# -- end to end: the plugin with --claims-remote=local -------------------------------------------
E2E = '''
import interpclaims as ic

pytestmark = ic.model("zoo/agreement", backends=["nnsight"])


def test_patching_the_subject(model, claim):
    effect = ic.patch(model, "L0.resid_post", data="agreement", direction="denoising",
                      positions="subject_pos", metric="normalized")
    claim.that(effect).is_at_least(0.8)


def test_job_expires(model, claim):
    effect = ic.patch(model, "L0.resid_post", data="agreement", direction="noising",
                      positions="subject_pos", metric="normalized")
    claim.that(effect).is_at_most(0.2)
'''

# the second test's remote jobs all fail (as an expired NDIF job would), without waiting
E2E_CONFTEST = '''
import pytest


@pytest.fixture(autouse=True)
def _ndif_down_for_one_test(request, monkeypatch):
    from interpclaims.backends import _remote

    monkeypatch.setattr(_remote.time, "sleep", lambda s: None)
    if request.node.originalname == "test_job_expires":
        def expired(*args, **kw):
            raise RuntimeError("job expired on the server")
        monkeypatch.setattr(_remote, "remote_session", expired)
'''


def test_a_failed_job_is_an_error_row_and_the_report_is_written(pytester: pytest.Pytester,
                                                                 monkeypatch) -> None:
    import json

    import nnsight

    secret = "ndif-key-that-must-not-leak-1234"
    monkeypatch.setenv("NDIF_API_KEY", secret)
    monkeypatch.setattr(nnsight.CONFIG.API, "APIKEY", secret)
    pytester.makepyfile(test_remote_claims=E2E)
    pytester.makeconftest(E2E_CONFTEST)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                "--claims-remote=local", "--claims-backends=nnsight",
                                "--claims-cache=off")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*remote (local): * requests (* traces), * bytes sent, "
                                 "* bytes returned, 3 retries*"])
    report = pytester.path / "reports" / "claims.json"
    data = json.loads(report.read_text())
    assert [c["nodeid"].split("::")[1] for c in data["claims"]] == ["test_patching_the_subject[nnsight]"]
    assert data["claims"][0]["verdict"] == "SUPPORTED"
    (error,) = data["errors"]
    assert error["nodeid"].endswith("test_job_expires[nnsight]")
    assert "remote job local-" in error["message"] and "failed 4 times" in error["message"]
    remote = data["manifest"]["remote"]
    assert remote["mode"] == "local" and remote["requests"] > 0 and remote["retries"] == 3
    page = (pytester.path / "reports" / "claims.html").read_text(encoding="utf-8")
    assert (f"<td>remote</td><td>local: {remote['requests']} requests ({remote['traces']} traces)"
            in page)
    for path in (pytester.path / "reports").iterdir():
        assert secret not in path.read_text(encoding="utf-8"), path.name
        assert nnsight.CONFIG.API.HOST not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize(("args", "message"), [
    (["--claims-remote=ndfi"], "*--claims-remote: expected off, local, ndif, got 'ndfi'; did you "
                               "mean ndif?*"),
    (["--claims-remote=local"], "*--claims-remote=local runs the nnsight backend remotely*"
                                "--claims-backends=nnsight*"),
])
def test_remote_option_mistakes(pytester: pytest.Pytester, args, message) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", *args)
    result.stderr.fnmatch_lines([message])


# E2E's first claim and a head sweep (an AtP sweep: ranked by patching every cell remotely)
WARM = E2E.split("def test_job_expires")[0] + '''
def test_the_subject_head(model, claim):
    heads = ic.patch_heads(model, data="agreement", direction="denoising", positions=-1)
    claim.that(heads["L1", "H3"]).is_at_least(0.8)
'''


def test_a_rerun_sends_nothing(pytester: pytest.Pytester) -> None:
    """The activation store and the result cache make a rerun free: no request, same rows (the
    remote sweep, ranked by patching every cell, included)."""
    import json

    pytester.makepyfile(test_warm=WARM)
    docs = []
    for run in ("cold", "warm"):
        result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                    "--claims-remote=local", "--claims-backends=nnsight",
                                    "--claims-cache-dir=store", f"--claims-report-dir={run}")
        result.assert_outcomes(passed=2)
        docs.append(json.loads((pytester.path / run / "claims.json").read_text()))
    cold, warm = docs
    assert cold["manifest"]["remote"]["requests"] > 0
    assert warm["manifest"]["remote"].get("requests", 0) == 0
    assert not warm["manifest"].get("forward_passes")
    assert cold["claims"] == warm["claims"]


def test_the_model_marker_runs_one_module_remotely(pytester: pytest.Pytester) -> None:
    """``ic.model(..., remote="local")`` without --claims-remote: that module's nnsight traces run
    in the simulation (counted in the manifest), as their own registry entry."""
    import json

    pytester.makepyfile(test_marker=E2E.replace('backends=["nnsight"])',
                                                'backends=["nnsight"], remote="local")'))
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "--claims-cache=off",
                                "-k", "patching")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "reports" / "claims.json").read_text())
    remote = data["manifest"]["remote"]
    # every forward pass is a trace; the traces of each run_many call share one request
    assert remote["traces"] == sum(data["manifest"]["forward_passes"].values()) == 20
    assert remote["requests"] == 3
    assert list(data["manifest"]["forward_passes"]) == ["zoo/agreement [nnsight, remote=local]"]


def test_model_marker_remote_mistakes() -> None:
    import interpclaims as ic
    from interpclaims.plugin._markers import MarkerError

    with pytest.raises(MarkerError, match=r"remote= runs the nnsight backend remotely .* add "
                       r"backends=\['nnsight'\]"):
        ic.model("zoo/agreement", remote=True)
    with pytest.raises(MarkerError, match="remote= takes True, False, 'ndif', 'local' or 'off', "
                       "got 'nidf'"):
        ic.model("zoo/agreement", backends=["nnsight"], remote="nidf")
    assert ic.model("zoo/agreement", backends=["nnsight"], remote=True).mark.kwargs["remote"]


# every kind of analysis on small data: the same claims.json rows off and in the simulation
SUBSET = '''
import numpy as np
import interpclaims as ic

pytestmark = ic.model("zoo/agreement", backends=["nnsight"])

ROWS = [dict(r) for r in ic.load_data("agreement").rows if len(r["text"].split()) == 5]
SING = [r for r in ROWS if r["number"] == "singular"][:12]
PLUR = [r for r in ROWS if r["number"] == "plural"][:12]
DATA = SING + PLUR


def test_ablations(model, claim):
    claim.that(ic.ablate(model, "L1H3", DATA, how=["zero", "mean", "resample"],
                         metric="logit_diff")).is_at_least(-100.0)
    u = np.random.default_rng(0).standard_normal(model.spec.d_model)
    claim.that(ic.ablate(model, "L0.resid_post", DATA, how="mean", direction=u,
                         metric="logit_diff"), id="direction").is_at_least(-100.0)


def test_patching(model, claim):
    # exact sweeps: with method="atp" a remote model (no gradients) ranks by exact patching, so
    # its heatmap scores differ from local AtP scores (the claimed cells are equal either way)
    sweep = ic.patch_sweep(model, data=DATA, kind="resid_pre", direction="denoising",
                           method="exact")
    claim.that(sweep["L1", "pos2"]).is_at_least(-100.0)
    heads = ic.patch_heads(model, data=DATA, direction="noising", positions=-1, method="exact")
    claim.that(heads["L1", "H3"], id="heads").is_at_least(-100.0)


def test_steering(model, claim):
    number = ic.mean_difference(model, "L0.resid_post", DATA, field="number", a="plural",
                                b="singular", position="subject_pos")
    result = ic.steer(model, "L0.resid_post", number, data=SING, strengths=[1.0],
                      metric="flip_rate", positions="subject_pos", side_data=PLUR)
    claim.that(result.effect(1.0)).is_at_least(-100.0)


def test_sae(model, claim):
    claim.that(ic.sae_ablate(model, "L0.resid_post/sae:80", SING, "logit_diff",
                             positions="subject_pos").effect).is_at_least(-100.0)
    claim.that(ic.sae_steer(model, "L0.resid_post/sae:69", SING, 8.0, "flip_rate",
                            positions="subject_pos").effect, id="steer").is_at_least(-100.0)
    claim.that(ic.sae_quality(model, DATA).ce_recovered, id="quality").is_at_least(-100.0)


def test_probe(model, claim):
    probe = ic.probe(model, ic.resid_post(0), "number", data=DATA, position=-1, controls=[])
    claim.that(probe.accuracy).is_at_least(0.0)
'''


def test_every_analysis_kind_gives_the_same_rows_remotely(pytester: pytest.Pytester) -> None:
    """A subset of claims/ covering every edit kind (the whole nnsight side of claims/ was
    compared the same way by hand: see README, "On NDIF")."""
    import json

    pytester.makepyfile(test_subset=SUBSET)
    rows = {}
    for mode in ("off", "local"):
        result = pytester.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                    "--claims-cache=off", "--claims-backends=nnsight",
                                    f"--claims-remote={mode}", f"--claims-report-dir=r-{mode}")
        result.assert_outcomes(passed=5)
        data = json.loads((pytester.path / f"r-{mode}" / "claims.json").read_text())
        rows[mode] = data["claims"]
    assert len(rows["off"]) == 9
    assert rows["off"] == rows["local"]
    remote = data["manifest"]["remote"]
    assert remote["traces"] == sum(data["manifest"]["forward_passes"].values())
    assert remote["requests"] < remote["traces"] / 2


def test_an_atp_sweep_of_a_remote_model_is_ranked_by_exact_patching(local_model, remote_model
                                                                     ) -> None:
    """Remote traces return no gradients: method='atp' patches every cell instead, so the
    sweep's scores are the exact values and its cells equal local exact patching's."""
    import interpclaims as ic
    from interpclaims._data import load_data

    data = load_data([dict(r) for r in load_data("agreement").rows[:12]])
    sweep = ic.patch_heads(remote_model, data, direction="denoising", positions=-1)
    exact = ic.patch_heads(local_model, data, direction="denoising", positions=-1, method="exact")
    assert isinstance(sweep, ic.AttributionSweep)
    for i, row in enumerate(exact.cells):
        for j, cell in enumerate(row):
            assert sweep.scores[i][j] == cell.value
            assert sweep[exact.rows[i], exact.cols[j]].value == cell.value
    heatmap = sweep.to_json()
    assert heatmap["method"] == "exact" and "ranked by exact patching" in heatmap["title"]
    import torch

    tokens = local_model.tokenize(["the dog runs"], ["p"]).tokens
    with pytest.raises(ic.InterpClaimsError, match="cannot run remotely"):
        remote_model.forward_grad(tokens, [Site("resid_post", 0)],
                                  torch.zeros(*tokens.shape, remote_model.spec.d_vocab))
