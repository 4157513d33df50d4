"""pytest wiring: options, markers, backend parametrization, fixtures, verdict statuses.

Thin by design: bodies delegate to the rest of the package. Results ride on the ``TestReport``
(``report.interpclaims``, JSON-safe), so pytest-xdist carries them to the controller, where one
:class:`~interpclaims.report._reporter.Reporter` writes the report files.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from interpclaims import _context
from interpclaims._errors import ModelLoadError
from interpclaims.backends import BACKENDS, backend_available, install_hint
from interpclaims.plugin._markers import (
    FAMILY_MARKER,
    FAMILY_MARKER_SIGNATURE,
    MODEL_MARKER,
    MODEL_MARKER_SIGNATURE,
    ModelParam,
    read_family_marker,
    read_model_marker,
)
from interpclaims.plugin._stash import DATA_USED, MODEL, REGISTRY, REPORTER, RESULTS, SETTINGS, Settings
from interpclaims.verdicts import Claim, ClaimResult

WORKER_SEED_KEY = "interpclaims_seed"


# -- options -------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interpclaims", "interpretability claims (interpclaims)")

    def add(name: str, help: str, default: str, **kw: Any) -> None:
        ini = "claims_" + name.replace("-", "_")
        group.addoption(f"--claims-{name}", dest=ini, default=None, help=help + f" (ini: {ini})",
                        **kw)
        parser.addini(ini, help, default=default)

    add("backends", "comma-separated backends to run each claim on: tl, nnsight",
        ",".join(BACKENDS), metavar="LIST")
    add("seed", "seed of every random draw (bootstrap, controls); 'random' picks one", "0",
        metavar="N|random")
    add("inconclusive", "outcome of an INCONCLUSIVE claim: fail (default) or pass", "fail",
        metavar="fail|pass")
    add("report-dir", "folder for claims.json and claims.html", "reports", metavar="DIR")
    add("resamples", "bootstrap resamples per interval", "10000", metavar="N")
    add("correction", "multiple-comparison correction of p-values within each family: holm, bh "
        "or none", "holm", metavar="holm|bh|none")
    add("cache", "activation store: rw (default), read (never write) or off", "rw",
        metavar="rw|read|off")
    add("cache-dir", "activation store folder (default: in pytest's cache dir)", "", metavar="DIR")
    group.addoption("--claims-cache-clear", action="store_true", default=False,
                    help="empty the activation store before the run")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    return str(value if value is not None else config.getini(name))


def _settings(config: pytest.Config) -> Settings:
    backends = tuple(b.strip() for b in _setting(config, "claims_backends").split(",") if b.strip())
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise pytest.UsageError(
            f"--claims-backends: unknown backend(s) {bad or backends}; choose from "
            f"{', '.join(BACKENDS)} (comma-separated)"
        )
    workerinput = getattr(config, "workerinput", None)
    raw_seed = _setting(config, "claims_seed")
    if workerinput is not None and WORKER_SEED_KEY in workerinput:
        seed = int(workerinput[WORKER_SEED_KEY])
    elif raw_seed == "random":
        seed = random.SystemRandom().randrange(2**31)
    else:
        try:
            seed = int(raw_seed)
        except ValueError:
            raise pytest.UsageError(
                f"--claims-seed: expected an integer or 'random', got {raw_seed!r}") from None
    policy = _setting(config, "claims_inconclusive")
    if policy not in ("fail", "pass"):
        raise pytest.UsageError(f"--claims-inconclusive: expected 'fail' or 'pass', got {policy!r}")
    try:
        n_resamples = int(_setting(config, "claims_resamples"))
        if n_resamples < 100:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            "--claims-resamples: expected an integer >= 100, got "
            f"{_setting(config, 'claims_resamples')!r}"
        ) from None
    report_dir = Path(_setting(config, "claims_report_dir"))
    if not report_dir.is_absolute():
        report_dir = config.invocation_params.dir / report_dir
    cache_mode = _setting(config, "claims_cache")
    if cache_mode not in ("rw", "read", "off"):
        raise pytest.UsageError(f"--claims-cache: expected rw, read or off, got {cache_mode!r}")
    raw_dir = _setting(config, "claims_cache_dir")
    if raw_dir:
        cache_dir = Path(raw_dir)
        if not cache_dir.is_absolute():
            cache_dir = config.invocation_params.dir / cache_dir
    else:
        cache_dir = config.rootpath / ".pytest_cache" / "interpclaims" / "activations"
    correction = _setting(config, "claims_correction")
    if correction not in ("holm", "bh", "none"):
        raise pytest.UsageError(f"--claims-correction: expected holm, bh or none, got {correction!r}")
    return Settings(backends=backends, seed=seed, allow_inconclusive=policy == "pass",
                    n_resamples=n_resamples, report_dir=report_dir, cache_mode=cache_mode,
                    cache_dir=cache_dir, correction=correction)


class _XdistHooks:
    """Registered only when pytest-xdist is active: the controller hands its seed to workers."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_SEED_KEY] = self.config.stash[SETTINGS].seed


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before any Hugging Face library is imported: never stall ~20 s on an unreachable hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config.addinivalue_line("markers", MODEL_MARKER_SIGNATURE)
    config.addinivalue_line("markers", FAMILY_MARKER_SIGNATURE)
    settings = _settings(config)
    config.stash[SETTINGS] = settings
    from interpclaims.models import ModelRegistry

    def open_store() -> Any:  # numpy and the store load only when a model does
        from interpclaims.activations import ActivationStore

        return ActivationStore(settings.cache_dir, mode=settings.cache_mode)

    if config.getoption("claims_cache_clear") and not hasattr(config, "workerinput"):
        open_store().clear()
    config.stash[REGISTRY] = ModelRegistry(
        store_factory=open_store if settings.cache_mode != "off" else None)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "interpclaims-xdist")
    if not hasattr(config, "workerinput"):
        from interpclaims.report._reporter import Reporter

        reporter = Reporter(config, settings)
        config.stash[REPORTER] = reporter
        config.pluginmanager.register(reporter, "interpclaims-reporter")


# -- parametrization -----------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker(MODEL_MARKER)
    if mark is None:
        return  # the fixture explains what is missing
    name, marker_backends = read_model_marker(mark, metafunc.definition.nodeid)
    selected = metafunc.config.stash[SETTINGS].backends
    params = []
    for backend in (b for b in selected if b in marker_backends):
        marks = () if backend_available(backend) else (pytest.mark.skip(reason=install_hint(backend)),)
        params.append(pytest.param(ModelParam(name, backend), id=backend, marks=marks))
    metafunc.parametrize("model", params, indirect=True)


def _claim_key(item: pytest.Item) -> str:
    """The node id without the backend: both backends of a claim draw the same random numbers."""
    from interpclaims.report._reporter import group_key

    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("model") if callspec is not None else None
    return group_key(item.nodeid, param.backend) if isinstance(param, ModelParam) else item.nodeid


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def model(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The model named by ``ic.model(...)``, loaded on one backend (ids ``tl``, ``nnsight``).

    After the test, the model must carry no hook or edit: a leak fails the test, naming it.
    """
    param = getattr(request, "param", None)
    if not isinstance(param, ModelParam):
        pytest.fail(
            f"{request.node.nodeid}: the `model` fixture needs a model marker; add "
            "`pytestmark = ic.model(\"zoo/agreement\")` to the module (or decorate the test "
            "with @ic.model(...))", pytrace=False,
        )
    try:
        loaded = request.config.stash[REGISTRY].get(param.name, param.backend)
    except ModelLoadError as e:
        pytest.fail(f"{request.node.nodeid}: {e}", pytrace=False)
    request.node.stash[MODEL] = loaded
    yield loaded
    leaks = loaded.leaks()
    if leaks:
        loaded.clean_up()
        pytest.fail(
            f"{request.node.nodeid}: hooks left attached to {loaded.name} [{loaded.backend}] "
            f"after the test: {', '.join(leaks)}. Attach hooks only inside a context that removes "
            "them (interpclaims removed them now so that later tests run on a clean model).",
            pytrace=False,
        )


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> Claim:
    """``claim.that(estimate).exceeds(...)``: decide a claim on intervals and record it."""
    item = request.node
    results = item.stash.setdefault(RESULTS, [])
    # all parametrized instances of one test function form a family unless ic.family() names one
    family = read_family_marker(item.get_closest_marker(FAMILY_MARKER),
                                item.nodeid.split("[", 1)[0], item.nodeid)

    def record(result: ClaimResult) -> None:
        loaded = item.stash.get(MODEL, None)
        result = dataclasses.replace(
            result, nodeid=item.nodeid, backend=loaded.backend if loaded else "",
            model=loaded.name if loaded else "", seed=request.config.stash[SETTINGS].seed,
            xfail=item.get_closest_marker("xfail") is not None, family=family,
        )
        entry = result.to_json()
        entry["index"] = len(results)  # a test may decide several claims
        if loaded is not None:
            entry["model_sha256"] = loaded.weights_hash
        results.append(entry)

    return Claim(record)


# -- running -------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    settings = item.config.stash[SETTINGS]
    ctx = _context.ClaimContext(
        seed=settings.seed, key=_claim_key(item), n_resamples=settings.n_resamples,
        allow_inconclusive=settings.allow_inconclusive,
    )
    item.stash[DATA_USED] = ctx.data_used
    with _context.use(ctx):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if "model" in getattr(item, "fixturenames", ()) or "claim" in getattr(item, "fixturenames", ()):
        report.interpclaims_test = True  # type: ignore[attr-defined]
    if report.when == "teardown":
        counters = item.config.stash[REGISTRY].take_counters()
        if counters:
            report.interpclaims_counters = counters  # type: ignore[attr-defined]
    if report.when == "call":
        results = item.stash.get(RESULTS, [])
        data = item.stash.get(DATA_USED, {})
        for entry in results:
            entry["data"] = dict(data)
        report.interpclaims = results  # type: ignore[attr-defined]
        loaded = item.stash.get(MODEL, None)
        if loaded is not None:
            report.interpclaims_model = {  # type: ignore[attr-defined]
                "name": loaded.name, "backend": loaded.backend,
                "weights_sha256": loaded.weights_hash, "spec": loaded.spec.to_json(),
            }
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config
                             ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when != "call" or hasattr(report, "wasxfail"):
        return None
    verdicts = [c["verdict"] for c in getattr(report, "interpclaims", [])]
    if verdicts and verdicts[-1] == "INCONCLUSIVE":
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None
