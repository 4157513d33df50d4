"""End-to-end tests of the pytest plugin with pytester: run pytest on small claim files, read the
JSON report."""

from __future__ import annotations

import json
import textwrap

import pytest

CLAIMS = textwrap.dedent(
    """
    import pytest
    import interpclaims as ic

    pytestmark = ic.model("zoo/agreement")

    def test_true(model, claim):
        e = ic.measure(model, data="agreement", metric="logit_diff")
        claim.that(e).is_at_least(0.5)

    def test_false(model, claim):
        e = ic.measure(model, data="agreement", metric="logit_diff")
        claim.that(e).is_at_most(-1.0)

    def test_undecided(model, claim):
        e = ic.measure(model, data="agreement", metric="logit_diff")
        claim.that(e).is_at_least(e.value)   # the threshold sits inside the interval

    @pytest.mark.xfail(strict=True)
    def test_expected_false(model, claim):
        e = ic.measure(model, data="agreement", metric="logit_diff")
        claim.that(e).is_negligible(within=0.01)
    """
)


def _report(pytester: pytest.Pytester, folder: str = "reports") -> dict:
    return json.loads((pytester.path / folder / "claims.json").read_text())


def _numbers(report: dict) -> list[tuple]:
    return sorted(
        (c["nodeid"], c["verdict"], c["estimate"]["value"], c["tested"]["ci_low"],
         c["tested"]["ci_high"], c["seed"])
        for c in report["claims"]
    )


@pytest.fixture
def claims_file(pytester: pytest.Pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    return pytester


def test_pass_fail_inconclusive_and_json(claims_file: pytest.Pytester) -> None:
    result = claims_file.runpytest("-p", "no:xdist", "-p", "no:cacheprovider", "-rA")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2, result.stdout.str()
    assert outcomes.get("failed") == 2
    assert outcomes.get("inconclusive") == 2
    assert outcomes.get("xfailed") == 2
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "INCONCLUSIVE" in out and "interpclaims verdicts" in out
    # the table lists what needs a look (SUPPORTED claims only with -v), named by claim id
    result.stdout.fnmatch_lines(["REFUTED      test_false [[]tl]",
                                 "(2 SUPPORTED not listed; -v lists every claim)"])

    report = _report(claims_file)
    assert report["summary"]["SUPPORTED"] == 2
    assert report["summary"]["REFUTED"] == 4  # test_false and the xfail, on both backends
    assert report["summary"]["INCONCLUSIVE"] == 2
    by_id = {c["nodeid"]: c for c in report["claims"]}
    true_tl = by_id["test_claims.py::test_true[tl]"]
    assert true_tl["backend"] == "tl" and true_tl["model"] == "zoo/agreement"
    assert true_tl["xfail"] is False and by_id["test_claims.py::test_expected_false[nnsight]"]["xfail"]
    est = true_tl["estimate"]
    assert est["ci_low"] <= est["value"] <= est["ci_high"] and est["n"] == 200
    assert true_tl["reference"] == {"kind": "threshold", "value": 0.5, "label": ">= 0.5"}
    manifest = report["manifest"]
    assert manifest["seed"] == 0
    assert manifest["models"]["zoo/agreement"]["weights_sha256"] == true_tl["model_sha256"]
    assert sorted(manifest["models"]["zoo/agreement"]["backends"]) == ["nnsight", "tl"]
    assert "agreement" in [d["name"] for d in manifest["data"]] and manifest["versions"]["torch"]
    assert manifest["devices"] == ["cpu"] and manifest["dtypes"] == ["float32"]  # as loaded
    assert report["schema_version"] == 2
    assert manifest["started"] <= manifest["finished"]
    # both backends agree on the numbers (same seed, same prompts, same model)
    nn = by_id["test_claims.py::test_true[nnsight]"]["estimate"]
    assert nn["value"] == pytest.approx(est["value"], rel=1e-4)
    # ... and draw the same bootstrap resamples (the claim's RNG ignores the backend)
    assert nn["ci_low"] == pytest.approx(est["ci_low"], rel=1e-4)
    assert nn["ci_high"] == pytest.approx(est["ci_high"], rel=1e-4)
    html = (claims_file.path / "reports" / "claims.html").read_text()
    assert ">test_true<" in html and "SUPPORTED" in html  # rows are named by claim id


def test_inconclusive_can_pass(claims_file: pytest.Pytester) -> None:
    result = claims_file.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                   "--claims-inconclusive=pass", "-k", "undecided or true")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes.get("inconclusive") == 2


def test_xdist_gives_the_same_numbers(claims_file: pytest.Pytester) -> None:
    serial = claims_file.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider",
                                              "--claims-report-dir=serial")
    parallel = claims_file.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                                "--claims-report-dir=parallel")
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    a, b = _report(claims_file, "serial"), _report(claims_file, "parallel")
    assert len(a["claims"]) == 8
    assert _numbers(a) == _numbers(b)


def test_random_seed_is_chosen_once_and_shared_with_workers(claims_file: pytest.Pytester) -> None:
    result = claims_file.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                              "--claims-seed=random", "-k", "true or false")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = _report(claims_file)
    seeds = {c["seed"] for c in report["claims"]}
    assert seeds == {report["manifest"]["seed"]}


def test_backend_selection(claims_file: pytest.Pytester) -> None:
    result = claims_file.runpytest("-p", "no:xdist", "-p", "no:cacheprovider",
                                   "--claims-backends=nnsight", "-k", "true")
    result.assert_outcomes(passed=1)
    assert [c["backend"] for c in _report(claims_file)["claims"]] == ["nnsight"]


def test_bad_backend_option_is_a_usage_error(claims_file: pytest.Pytester) -> None:
    result = claims_file.runpytest("-p", "no:xdist", "--claims-backends=tl,jax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-backends*unknown backend*jax*"])


def test_missing_marker_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_no_marker(model):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs a model marker*pytestmark = ic.model*"])


def test_bad_marker_argument_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.interpclaims_model("zoo/agreement", backends=["tl", "torchscript"])
        def test_x(model):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown backend*torchscript*"])


def test_unknown_model_fails_fast_with_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import interpclaims as ic
        pytestmark = ic.model("zoo/does-not-exist", backends=["tl"])

        def test_x(model):
            pass

        @ic.model("no-such-org/no-such-model-xyz", backends=["tl"])
        def test_hub(model):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*no zoo model 'zoo/does-not-exist'*Shipped zoo models: *zoo/agreement*",
        "*HF_HUB_OFFLINE=1*",
    ])
    report = _report(pytester)
    assert {e["nodeid"] for e in report["errors"]} == {"test_unknown_model_fails_fast_with_a_hint.py"
                                                       "::test_x[tl]",
                                                       "test_unknown_model_fails_fast_with_a_hint.py"
                                                       "::test_hub[tl]"}


def test_leaked_hooks_fail_the_test_and_are_removed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import interpclaims as ic
        pytestmark = ic.model("zoo/agreement")

        def test_leaks(model):
            if model.backend == "tl":
                model.native.blocks[0].attn.hook_z.add_hook(lambda act, hook: act)
            else:
                model.native._model.model.layers[0].mlp.register_forward_hook(
                    lambda mod, inp, out: out)

        def test_next_is_clean(model):
            assert model.leaks() == []
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines([
        "*left zoo/agreement [[]tl[]] modified*blocks.0.attn.hook_z*",
        "*left zoo/agreement [[]nnsight[]] modified*model.layers.0.mlp*",
    ])


def test_torch_hooks_and_weight_edits_are_caught_and_undone(pytester: pytest.Pytester) -> None:
    """Plain torch hooks on any submodule (or the model itself) and weights edited in place fail
    the test that leaves them, naming them; the next test sees the clean model."""
    pytester.makepyfile(
        """
        import torch
        import interpclaims as ic
        pytestmark = ic.model("zoo/agreement")

        def zero(mod, inp, out):
            return torch.zeros_like(out) if isinstance(out, torch.Tensor) else out

        def test_1_hook_on_a_block(model):
            root = model.native if model.backend == "tl" else model.native._model
            root.lm_head.register_forward_hook(zero) if model.backend == "nnsight" else (
                root.blocks[0].register_forward_hook(zero))

        def test_2_hook_on_the_model(model):
            root = model.native if model.backend == "tl" else model.native._model
            root.register_forward_pre_hook(lambda mod, args: None)

        def test_3_clean_and_true(model, claim):
            assert model.leaks() == []
            claim.that(ic.measure(model, data="agreement", metric="logit_diff")).is_at_least(5.0)

        def test_4_weight_edit(model):
            with torch.no_grad():
                if model.backend == "tl":
                    model.native.blocks[1].attn.W_O[3] = 0
                else:
                    model.native._model.model.layers[1].self_attn.o_proj.weight[:, 48:64] = 0

        def test_5_reloaded(model, claim):
            assert model.leaks() == []
            effect = ic.ablate(model, "L1H3", data="agreement", how="mean", metric="logit_diff")
            claim.that(effect).is_at_most(-1.0)
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:randomly")
    result.assert_outcomes(passed=10, errors=6)
    result.stdout.fnmatch_lines_random([
        "*test_1_hook_on_a_block[[]tl[]]*left zoo/agreement [[]tl[]] modified: blocks.0 (1 forward "
        "hook)*",
        "*test_1_hook_on_a_block[[]nnsight[]]*lm_head (1 forward hook)*",
        "*test_2_hook_on_the_model[[]tl[]]*<model> (1 forward pre hook)*",
        "*test_4_weight_edit[[]tl[]]*parameter blocks.1.attn.W_O edited in place*reloads the model*",
        "*test_4_weight_edit[[]nnsight[]]*parameter model.layers.1.self_attn.o_proj.weight edited*",
    ])


def test_interrupted_run_still_writes_what_finished(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import interpclaims as ic
        pytestmark = ic.model("zoo/agreement", backends=["tl"])

        def test_a_first(model, claim):
            claim.that(ic.measure(model, data="agreement")).is_at_least(0.5)

        def test_b_interrupt(model):
            raise KeyboardInterrupt

        def test_c_never_runs(model, claim):
            claim.that(ic.measure(model, data="agreement")).is_at_least(0.5)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = _report(pytester)
    assert [c["nodeid"].split("::")[1] for c in report["claims"]] == ["test_a_first[tl]"]
    assert report["manifest"]["interrupted"] is True


CLEAN_READS = textwrap.dedent(
    """
    import interpclaims as ic
    pytestmark = ic.model("zoo/agreement", backends=["tl"])

    def test_prefers(model, claim):
        claim.that(ic.measure(model, data="agreement")).is_at_least(1.0)

    def test_decodable(model, claim):
        probe = ic.probe(model, ic.resid_post(1), "number", data="agreement")
        claim.that(probe.accuracy).exceeds(probe.control("label_shuffle"), by=0.1)

    def test_induction(model, claim):
        score = ic.attention_score(model, data="repeated_tokens", head="L1H2")
        claim.that(score).exceeds(score.control("random_heads"), by=0.3)

    def test_previous(model, claim):
        score = ic.attention_score(model, data="repeated_tokens", head="L0H1",
                                   pattern="previous_token")
        claim.that(score).exceeds(score.control("random_heads"), by=0.3)
    """
)


def test_one_forward_pass_per_batch_then_none_when_warm(pytester: pytest.Pytester) -> None:
    """Four claims over two datasets of 200 prompts (batches of 64): the cold run needs 4 passes
    per dataset, shared by every claim; the warm run needs none; numbers are identical. (The
    activation store alone: the result cache would answer the warm run without reading it.)"""
    pytester.makepyfile(test_reads=CLEAN_READS)
    args = ("-p", "no:xdist", "-p", "no:cacheprovider", "--claims-cache-dir=store",
            "--claims-cache=activations")
    cold = pytester.runpytest_subprocess(*args, "--claims-report-dir=cold")
    warm = pytester.runpytest_subprocess(*args, "--claims-report-dir=warm")
    off = pytester.runpytest_subprocess(*args, "--claims-report-dir=off", "--claims-cache=off")
    assert cold.ret == warm.ret == off.ret == pytest.ExitCode.OK
    a, b, c = (_report(pytester, d) for d in ("cold", "warm", "off"))
    assert a["manifest"]["forward_passes"] == {"zoo/agreement [tl]": 8}
    assert b["manifest"]["forward_passes"] == {}
    assert b["manifest"]["cache"]["misses"] == 0 and b["manifest"]["cache"]["hits"] >= 4
    assert "results" not in a["manifest"]["cache"]  # --claims-cache=activations: no result cache
    assert c["manifest"]["forward_passes"]["zoo/agreement [tl]"] > 8  # no sharing without store
    assert _numbers(a) == _numbers(b) == _numbers(c)
