"""The result cache (issue 13.1): its key changes with every ingredient, a hit gives the computed
result bit for bit and replays what the call did, damaged entries are rebuilt, and an unchanged
rerun of a claims file computes nothing (end to end)."""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from interpclaims import _context
from interpclaims._errors import StoreWarning
from interpclaims._estimate import Estimate
from interpclaims.activations import ResultStore
from interpclaims.analyses import ResultCache, cached, use_result_cache
from interpclaims.analyses._result_codec import decode, encode
from interpclaims.analyses._result_key import NotClean, Uncacheable, call_digest
from interpclaims.models import Model, Placement
from interpclaims.stats import generators_derived

THRESHOLD = 0.5  # read by `_reads_global`


class FakeModel(Model):
    """What the key reads of a model, without loading one."""

    def __init__(self, weights: str = "w1", backend: str = "tl", leaked: tuple[str, ...] = ()
                 ) -> None:
        self.name, self.backend, self.weights_hash = "zoo/fake", backend, weights
        self.tokenizer_hash, self.source, self._leaked = "tok", "/nonexistent/model", leaked
        self.placement_spec = Placement()

    def leaks(self) -> list[str]:
        return list(self._leaked)

    def placement(self) -> tuple[list[str], list[str]]:
        return ["cpu"], ["float32"]


def analysis(model: Model, data: object, k: int = 2, metric: object = None) -> Estimate:
    return Estimate(value=1.0, ci_low=0.5, ci_high=1.5, n=k, method="m")


def _reads_global(x: float) -> float:
    return x * THRESHOLD


def _key(*args: object, **kwargs: object) -> str:
    return call_digest(analysis, (FakeModel(), "agreement", *args), kwargs)


def test_every_ingredient_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interpclaims.analyses import _result_key

    base = _key()
    assert _key() == base == _key(2)  # stable; defaults applied
    changed = {
        "weights": call_digest(analysis, (FakeModel(weights="w2"), "agreement"), {}),
        "backend": call_digest(analysis, (FakeModel(backend="nnsight"), "agreement"), {}),
        "data": call_digest(analysis, (FakeModel(), "repeated_tokens"), {}),
        "argument": _key(3),
        "array": _key(metric=np.arange(3.0)),
        "callable": _key(metric=lambda x: x + 1),
        "callable code": _key(metric=lambda x: x + 2),
        "closure": _key(metric=(lambda c: lambda x: x + c)(1)),
        "closure value": _key(metric=(lambda c: lambda x: x + c)(2)),
        "global": _key(metric=_reads_global),
    }
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "THRESHOLD", 0.6)
    changed["global value"] = _key(metric=_reads_global)
    for name, ctx in {"seed": _context.ClaimContext(seed=1),
                      "claim key": _context.ClaimContext(key="other"),
                      "n_resamples": _context.ClaimContext(n_resamples=2000),
                      "ci_level": _context.ClaimContext(ci_level=0.9)}.items():
        with _context.use(ctx):
            changed[name] = _key()
    monkeypatch.setattr(_result_key, "harness_hash", lambda: "edited harness")
    changed["harness code"] = _key()
    monkeypatch.undo()
    assert len(set(changed.values()) | {base}) == len(changed) + 1, changed


def test_a_data_file_is_keyed_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"text": "a b"}\n')
    before = call_digest(analysis, (FakeModel(), str(path)), {})
    path.write_text('{"text": "a b c"}\n')
    assert call_digest(analysis, (FakeModel(), str(path)), {}) != before


def test_what_cannot_be_hashed_is_not_cached() -> None:
    with pytest.raises(Uncacheable, match="cannot be hashed reliably"):
        _key(metric=object())
    with pytest.raises(NotClean):
        call_digest(analysis, (FakeModel(leaked=("a hook",)), "agreement"), {})


def _estimate() -> Estimate:
    rng = np.random.default_rng(0)
    control = Estimate(value=0.1, ci_low=-math.inf, ci_high=0.2, n=3, method="c",
                       samples=rng.normal(size=3), unit_ids=("a", "b", "c"))
    return Estimate(value=1 / 3, ci_low=0.1, ci_high=math.inf, n=3, method="m", label="x",
                    samples=rng.normal(size=3), unit_ids=("a", "b", "c"),
                    controls={"random": control}, context={"cell": [1, 2]}, seeds=1,
                    null=rng.normal(size=5).astype(np.float32))


def _same(a: Estimate, b: Estimate) -> None:
    assert a == b and a.unit_ids == b.unit_ids and dict(a.context) == dict(b.context)
    for x, y in ((a.samples, b.samples), (a.null, b.null)):
        assert x is not None and y is not None
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    assert a.controls.keys() == b.controls.keys()
    for k in a.controls:
        assert a.controls[k] == b.controls[k]


def test_codec_round_trip_is_exact() -> None:
    est = _estimate()
    tree, arrays = encode({"est": est, "pair": (est, 2.5)})
    back = decode(json.loads(json.dumps(tree)), arrays)
    _same(back["est"], est)
    assert back["pair"][1] == 2.5 and isinstance(back["pair"], tuple)


def test_a_reference_to_the_calls_model_is_linked_to_the_reading_calls_model() -> None:
    writer, reader = FakeModel(), FakeModel()
    tree, arrays = encode((writer, 1.0), models=(writer,))
    assert decode(tree, arrays, models=(reader,))[0] is reader
    with pytest.raises(Exception, match="Model"):
        encode(FakeModel(), models=(writer,))  # another model: not cached


def _counting(calls: list[int]):  # type: ignore[no-untyped-def]
    @cached
    def measured(model: Model, data: str) -> Estimate:
        calls.append(1)
        _context.note_data(data, "sha-" + data)
        warnings.warn("few prompts", UserWarning, stacklevel=1)
        return _estimate()

    return measured


def test_a_hit_returns_the_result_and_replays_data_and_warnings(tmp_path: Path) -> None:
    calls: list[int] = []
    fn = _counting(calls)
    cache = ResultCache(ResultStore(tmp_path))
    results = []
    for _ in range(2):
        ctx = _context.ClaimContext(seed=3, key="claim")
        with _context.use(ctx), use_result_cache(cache), pytest.warns(UserWarning, match="few"):
            drawn = generators_derived()
            results.append(fn(FakeModel(), "agreement"))
        assert ctx.data_used == {"agreement": "sha-agreement"}
    assert len(calls) == 1 and generators_derived() == drawn  # the hit drew nothing
    assert cache.counters()["hits"] == 1 and cache.counters()["misses"] == 1
    _same(results[0], results[1])
    with use_result_cache(cache), pytest.warns(UserWarning):  # not clean: computed, not stored
        fn(FakeModel(leaked=("a hook",)), "agreement")
    assert len(calls) == 2 and cache.bypassed == 1


@pytest.mark.parametrize("damage", ["flip a data byte", "truncate data", "edit the sidecar"])
def test_a_damaged_entry_is_warned_deleted_and_rebuilt(tmp_path: Path, damage: str) -> None:
    calls: list[int] = []
    fn = _counting(calls)
    cache = ResultCache(ResultStore(tmp_path))
    with use_result_cache(cache), pytest.warns(UserWarning):
        fn(FakeModel(), "agreement")
    npz = next(tmp_path.rglob("*.npz"))
    side = npz.with_suffix(".json")
    if damage == "flip a data byte":
        raw = bytearray(npz.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        npz.write_bytes(bytes(raw))
    elif damage == "truncate data":
        npz.write_bytes(npz.read_bytes()[:-7])
    else:
        side.write_text(side.read_text().replace('"n": 3', '"n": 4'))
    with use_result_cache(cache), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fn(FakeModel(), "agreement")
    assert any(w.category is StoreWarning and "damaged entry" in str(w.message) for w in said)
    assert len(calls) == 2 and cache.counters()["corrupt"] == 1
    with use_result_cache(cache), pytest.warns(UserWarning):
        fn(FakeModel(), "agreement")  # rebuilt: a hit
    assert len(calls) == 2


CLAIMS = textwrap.dedent(
    """
    import interpclaims as ic
    pytestmark = ic.model("zoo/agreement", backends=["tl"])

    def test_prefers(model, claim):
        claim.that(ic.measure(model, data="agreement")).is_at_least(1.0)

    def test_induction(model, claim):
        score = ic.attention_score(model, data="repeated_tokens", head="L1H2")
        claim.that(score).exceeds(score.control("random_heads"), by=0.3)

    def test_ablation(model, claim):
        effect = ic.ablate(model, "L1H2", data="repeated_tokens", how="mean", metric="loss")
        claim.that(effect).is_at_least(0.001)
    """
)
CONFTEST = textwrap.dedent(
    """
    import json, pathlib

    def pytest_sessionfinish(session):
        from interpclaims.stats import generators_derived
        if not hasattr(session.config, "workerinput"):
            pathlib.Path("derived.json").write_text(json.dumps(generators_derived()))
    """
)


def test_an_unchanged_rerun_computes_nothing(pytester: pytest.Pytester) -> None:
    """Cold under -n 2 (two workers writing one cache), warm in one process: no forward pass, no
    random draw, the same claims.json rows bit for bit; --claims-cache=off gives them too."""
    pytester.makepyfile(test_claims=CLAIMS)
    pytester.makeconftest(CONFTEST)
    args = ("-p", "no:cacheprovider", "--claims-cache-dir=store")
    cold = pytester.runpytest_subprocess(*args, "-n", "2", "--claims-report-dir=cold")
    warm = pytester.runpytest_subprocess(*args, "-p", "no:xdist", "--claims-report-dir=warm")
    derived = json.loads((pytester.path / "derived.json").read_text())
    off = pytester.runpytest_subprocess(*args, "-p", "no:xdist", "--claims-report-dir=off",
                                        "--claims-cache=off")
    assert cold.ret == warm.ret == off.ret == pytest.ExitCode.OK
    a, b, c = (json.loads((pytester.path / d / "claims.json").read_text())
               for d in ("cold", "warm", "off"))
    assert b["manifest"]["forward_passes"] == {} and derived == 0
    results = b["manifest"]["cache"]["results"]
    assert results["hits"] >= 5 and results.get("misses", 0) == 0, results
    assert a["manifest"]["cache"]["results"]["misses"] >= 5
    assert "results" not in c["manifest"]["cache"]
    rows = [sorted(r["claims"], key=lambda row: row["claim_id"]) for r in (a, b, c)]
    assert rows[0] == rows[1] == rows[2]
