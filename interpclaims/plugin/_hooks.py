"""pytest wiring: options, markers, backend parametrization, fixtures, verdict statuses.

Thin by design: bodies delegate to the rest of the package. Results ride on the ``TestReport``
(``report.interpclaims``, JSON-safe rows), so pytest-xdist carries them to the controller, where
one :class:`~interpclaims.report.Reporter` writes the report files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from interpclaims import _context
from interpclaims._errors import Unsupported
from interpclaims.backends import backend_available, install_hint
from interpclaims.plugin._families import declare, is_claim_test
from interpclaims.plugin._fixtures import claim, model
from interpclaims.plugin._identity import CLAIM_ID_MARKER_SIGNATURE, test_id
from interpclaims.plugin._markers import (
    FAMILY_MARKER_SIGNATURE,
    MODEL_MARKER,
    MODEL_MARKER_SIGNATURE,
    ModelParam,
    read_model_marker,
    read_model_placement,
    read_model_remote,
)
from interpclaims.plugin._options import WORKER_SEED_KEY, add_options, read_settings
from interpclaims.plugin._results import clear_results, result_cache_of, take_result_counters
from interpclaims.plugin._stash import (
    CLAIM,
    DATA_USED,
    FAMILY_SIZES,
    MODEL,
    PLAN_FIRST_CLAIM,
    PLAN_NOTES,
    REGISTRY,
    REPORTER,
    RESULTS,
    SETTINGS,
)
from interpclaims.plugin._terminal import terminal_stream
from interpclaims.plugin._yaml_items import add_yaml_ini, collect_claims_file
from interpclaims.verdicts import Verdict

__all__ = ["claim", "model"]  # the fixtures, found by pytest on this plugin module

SELECTION_KEY = "interpclaims_selection"  # sent by xdist workers in workeroutput


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    add_yaml_ini(parser)


class _XdistHooks:
    """Registered only when pytest-xdist is active: the controller hands its seed to workers."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_SEED_KEY] = self.config.stash[SETTINGS].seed

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        selection = getattr(node, "workeroutput", {}).get(SELECTION_KEY)
        if selection and REPORTER in self.config.stash:
            self.config.stash[REPORTER].note_selection(*selection)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before any Hugging Face library is imported: never stall ~20 s on an unreachable hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config.addinivalue_line("markers", MODEL_MARKER_SIGNATURE)
    config.addinivalue_line("markers", FAMILY_MARKER_SIGNATURE)
    config.addinivalue_line("markers", CLAIM_ID_MARKER_SIGNATURE)
    settings = read_settings(config)
    config.stash[SETTINGS] = settings
    from interpclaims.models import ModelRegistry

    def open_store() -> Any:  # numpy and the store load only when a model does
        from interpclaims.activations import ActivationStore

        return ActivationStore(settings.cache_dir, mode=settings.store_mode)

    def open_cache() -> Any:
        from interpclaims.activations import ActivationStore, StoreCache, plan_cache

        if settings.plan:  # the store is only read (its mode says what a run would write)
            return plan_cache(ActivationStore(settings.cache_dir, mode="read"),
                              settings.store_mode)
        return StoreCache(open_store())

    clear = config.getoption("claims_cache_clear") and not settings.plan
    if clear and not hasattr(config, "workerinput"):
        open_store().clear()
        clear_results(config)
    config.stash[REGISTRY] = ModelRegistry(
        cache_factory=open_cache if settings.store_mode != "off" else None,
        planning=settings.plan, remote=settings.remote)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "interpclaims-xdist")
    if not hasattr(config, "workerinput"):
        from interpclaims.report import PlanReporter, Reporter

        if settings.plan:  # no claims are decided: no report, the plan instead
            config.pluginmanager.register(PlanReporter(settings.report_dir), "interpclaims-plan")
            return
        reporter = Reporter(config, settings)
        config.stash[REPORTER] = reporter
        config.pluginmanager.register(reporter, "interpclaims-reporter")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release what the loaded models built beside themselves (replacement models)."""
    registry = config.stash.get(REGISTRY, None)
    if registry is not None:
        registry.close()


# -- collection ----------------------------------------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Claims files in YAML (``claims_yaml_files``, default ``test_*.yaml``)."""
    return collect_claims_file(file_path, parent)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object
                              ) -> Generator[None, object, object]:
    items = yield
    if isinstance(items, list):  # a test function: all its parametrized instances at once
        declare(items, collector.config)
    elif isinstance(items, pytest.Function):
        declare([items], collector.config)
    return items


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """After -k, -m, --lf and node ids chose: how many of the declared claim tests will run (a
    report of fewer is marked partial)."""
    selected = sum(1 for item in items if is_claim_test(item))
    declared = sum(config.stash.get(FAMILY_SIZES, {}).values())
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[SELECTION_KEY] = (selected, declared)
    elif REPORTER in config.stash:
        config.stash[REPORTER].note_selection(selected, declared)


# -- parametrization -----------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker(MODEL_MARKER)
    if mark is None:
        return  # the fixture explains what is missing
    name, marker_backends = read_model_marker(mark, metafunc.definition.nodeid)
    placement = read_model_placement(mark, metafunc.definition.nodeid)
    remote = read_model_remote(mark, metafunc.definition.nodeid)
    selected = metafunc.config.stash[SETTINGS].backends
    params = []
    for backend in (b for b in selected if b in marker_backends):
        marks = () if backend_available(backend) else (pytest.mark.skip(reason=install_hint(backend)),)
        params.append(pytest.param(ModelParam(name, backend, placement, remote), id=backend,
                                   marks=marks))
    metafunc.parametrize("model", params, indirect=True)


# -- running -------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    settings = item.config.stash[SETTINGS]
    ctx = _context.ClaimContext(
        seed=settings.seed, key=test_id(item), n_resamples=settings.n_resamples,
        allow_inconclusive=settings.allow_inconclusive, sequential=settings.sequential,
    )
    item.stash[DATA_USED] = ctx.data_used
    if settings.plan:
        return (yield from _planned_call(item, ctx))
    stream = terminal_stream(item.config)
    with _context.use(ctx), _progress_to(stream), result_cache_of(item):
        try:
            result = yield
        except Unsupported as e:  # an analysis this backend or architecture cannot run
            pytest.skip(str(e))
    claim_fixture = item.stash.get(CLAIM, None)
    if claim_fixture is not None:  # the outcome follows the claims decided, not what escaped
        claim_fixture.settle(settings.allow_inconclusive)
    return result


_STOPS = (Exception, pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception)


def _planned_call(item: pytest.Item, ctx: _context.ClaimContext) -> Generator[None, object, object]:
    """The test body of a plan: run against planning models on placeholder numbers, so nothing
    it decides or raises counts; it is reported skipped ("planned"), with what makes its count an
    estimate (value-dependent steps, a stop before its end) in ``item.stash[PLAN_NOTES]``."""
    notes = item.stash.setdefault(PLAN_NOTES, [])
    small = dataclasses.replace(ctx, n_resamples=min(ctx.n_resamples, 200))  # numbers unused
    with _context.use(small):
        try:
            yield
        except _STOPS as e:
            line = str(e).strip().splitlines()[0] if str(e).strip() else ""
            notes.append(f"the plan stopped early ({type(e).__name__}: {line}); its later "
                         "steps are not counted")
    notes[:0] = small.value_dependent
    loaded, first = item.stash.get(MODEL, None), item.stash.get(PLAN_FIRST_CLAIM, None)
    after = loaded.forward_passes - first if loaded is not None and first is not None else 0
    if after and item.get_closest_marker("xfail") is not None:
        notes.append(f"expected to fail (xfail): a real run stops at its refuted claim, and "
                     f"{after} of the planned passes come after its first claim")
    pytest.skip("planned (--claims-plan): no model ran, no claim was decided")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if is_claim_test(item):
        report.interpclaims_test = True  # type: ignore[attr-defined]
    if report.when == "teardown":
        counters = item.config.stash[REGISTRY].take_counters()
        results = take_result_counters(item.config)
        if results:
            counters["results"] = results
        if counters:
            report.interpclaims_counters = counters  # type: ignore[attr-defined]
        if item.config.stash[SETTINGS].plan and is_claim_test(item):
            report.interpclaims_plan = {  # type: ignore[attr-defined]
                "nodeid": item.nodeid, "counters": counters,
                "notes": item.stash.get(PLAN_NOTES, [])}
    if report.when == "call":
        # every dataset the test read, also those read after a claim was decided
        used: dict[str, str] = item.stash.get(DATA_USED, {})
        data = dict(used)
        outcome = _outcome(report)
        # a skipped test (e.g. an analysis its backend cannot run: ic.Unsupported) reports no
        # claim, also none it decided before the skip; an xfailed one reports all of them
        skipped = report.skipped and not hasattr(report, "wasxfail")
        rows = [] if skipped else [dataclasses.replace(r, data=data, outcome=outcome).to_json()
                                   for r in item.stash.get(RESULTS, [])]
        report.interpclaims = rows  # type: ignore[attr-defined]
        properties = _properties(rows)
        item.user_properties.extend(properties)  # the teardown report (junitxml reads it)
        report.user_properties = [*report.user_properties, *properties]
        loaded = item.stash.get(MODEL, None)
        if loaded is not None:
            devices, dtypes = loaded.placement()
            report.interpclaims_model = {  # type: ignore[attr-defined]
                "name": loaded.name, "backend": loaded.backend,
                "weights_sha256": loaded.weights_hash, "spec": loaded.spec.to_json(),
                "devices": devices, "dtypes": dtypes,
                # ic.model(device_map=..., dtype=...), when given: "device_map=auto, dtype=..."
                **({"placement": loaded.placement_spec.label()}
                   if not loaded.placement_spec.is_default else {}),
            }
    return report


@contextlib.contextmanager
def _progress_to(stream: object) -> Iterator[None]:
    """Progress bars of the test to ``stream`` (nothing to do without one)."""
    if stream is None:
        yield
        return
    from interpclaims.models import progress_to

    with progress_to(stream):
        yield


def _properties(rows: list[dict[str, Any]]) -> list[tuple[str, object]]:
    """Each claim's numbers as ``user_properties`` (keys prefixed ``<k>.`` when a test decides
    several claims); a value that is None is left out."""
    from interpclaims.report import PROPERTIES, claim_row

    out: list[tuple[str, object]] = []
    for k, row in enumerate(rows):
        prefix = f"{k}." if len(rows) > 1 else ""
        values = claim_row(row)
        out += [(prefix + key, values[key]) for key in PROPERTIES if values[key] is not None]
    return out


def _outcome(report: pytest.TestReport) -> str:
    """The test's outcome as pytest reports it: passed, failed, xfailed or xpassed."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config
                             ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when != "call" or hasattr(report, "wasxfail"):
        return None
    verdict = Verdict.of_test(c["verdict"] for c in getattr(report, "interpclaims", []))
    if verdict is Verdict.INCONCLUSIVE:
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None
