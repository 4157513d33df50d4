"""Options: ``--claims-*`` command-line options and ``claims_*`` ini keys, read into :class:`Settings`."""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from interpclaims.backends import BACKENDS, REMOTE_MODES
from interpclaims.report import FailOn, parse_fail_on
from interpclaims.verdicts import CORRECTIONS, Correction

__all__ = ["WORKER_SEED_KEY", "Settings", "add_options", "read_settings"]

WORKER_SEED_KEY = "interpclaims_seed"
BASELINES = ".interpclaims/baselines"  # under the rootdir: baselines saved by name
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class Settings:
    backends: tuple[str, ...]
    seed: int
    allow_inconclusive: bool
    n_resamples: int
    report_dir: Path
    cache_mode: str  # rw | read | off | activations (the activation store rw, no result cache)
    cache_dir: Path
    correction: Correction = "bonferroni"  # within each declared family
    baseline: Path | None = None  # --claims-baseline: the claims.json to compare with
    fail_on: FailOn = field(default_factory=FailOn)  # what fails the run against a baseline
    save: Path | None = None  # --claims-save: where to copy this run's claims.json
    csv: Path | None = None  # --claims-csv: where to write the table
    plan: bool = False  # --claims-plan: print the work the run would do, run no model
    sequential: bool = False  # --claims-sequential: decide per-prompt claims on growing batches
    remote: str = "off"  # --claims-remote: off | local | ndif

    @property
    def store_mode(self) -> str:
        """The activation store's mode (rw, read or off)."""
        return "rw" if self.cache_mode == "activations" else self.cache_mode

    @property
    def results_mode(self) -> str:
        """The result cache's mode: as the store's, off under ``--claims-cache=activations``."""
        if self.plan:  # a plan computes placeholders: never read or written as results
            return "off"
        return "off" if self.cache_mode == "activations" else self.cache_mode


def add_options(parser: pytest.Parser) -> None:
    """The ``--claims-*`` options, each with a matching ``claims_*`` ini key."""
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
    add("remote", "where the nnsight backend runs its traces: off (here; the default), ndif (the "
        "NDIF service; host and API key from nnsight's configuration) or local (nnsight's local "
        "simulation of NDIF)", "off", metavar="off|local|ndif")
    add("report-dir", "folder for claims.json and claims.html", "reports", metavar="DIR")
    add("resamples", "bootstrap resamples per interval", "10000", metavar="N")
    add("correction", "multiple-comparison correction within each declared family, applied when "
        "each claim is decided: bonferroni or none", "bonferroni", metavar="bonferroni|none")
    add("cache", "activation store and result cache: rw (default), read (never write), off, or "
        "activations (the activation store only, every result computed)", "rw",
        metavar="rw|read|off|activations")
    add("cache-dir", "activation store folder (default: in pytest's cache dir)", "", metavar="DIR")
    add("baseline", "compare with an earlier claims.json: a PATH, or a NAME saved with "
        f"--claims-save (read from {BASELINES}/NAME.json)", "", metavar="PATH|NAME")
    add("fail-on", "what fails the run against the baseline, comma-separated: verdict (a "
        "SUPPORTED claim no longer is; the default), effect:20%% or effect:0.5 (its margin to the "
        "reference shrank by more than that, relative or absolute), none", "verdict",
        metavar="LIST")
    add("save", f"save this run's claims.json as baseline NAME ({BASELINES}/NAME.json)", "",
        metavar="NAME")
    group.addoption("--claims-csv", dest="claims_csv", nargs="?", const="claims.csv",
                    default=None, metavar="PATH",
                    help="also write the claims as CSV to PATH, relative to the report folder "
                    "(default: claims.csv there) (ini: claims_csv)")
    parser.addini("claims_csv", "write the claims as CSV to this path (empty: do not)", default="")
    group.addoption("--claims-cache-clear", action="store_true", default=False,
                    help="empty the activation store and the result cache before the run")
    group.addoption("--claims-plan", action="store_true", default=False,
                    help="print the forward passes, activation-store bytes and remote requests "
                    "the selected claims would take, per model and backend, without loading any "
                    "weights or running any model (no report is written; plan.json instead)")
    group.addoption("--claims-sequential", action="store_true", default=False,
                    help="evaluate the prompts of per-prompt analyses in growing batches and stop "
                    "each claim as soon as an anytime-valid confidence sequence decides it")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    return str(value if value is not None else config.getini(name))


def _backends(raw: str) -> tuple[str, ...]:
    """The backends of ``--claims-backends``: known, distinct, at least one."""
    backends = tuple(b.strip() for b in raw.split(",") if b.strip())
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise pytest.UsageError(
            f"--claims-backends: unknown backend(s) {bad}; choose from "
            f"{', '.join(BACKENDS)} (comma-separated)" if bad else
            f"--claims-backends: {raw!r} names no backend; choose from {', '.join(BACKENDS)} "
            "(comma-separated, e.g. --claims-backends=tl)"
        )
    twice = sorted({b for b in backends if backends.count(b) > 1})
    if twice:
        raise pytest.UsageError(
            f"--claims-backends: {raw!r} names {', '.join(twice)} more than once, which would run "
            "every claim twice there; list each backend once")
    return backends


def _remote(raw: str, backends: tuple[str, ...]) -> str:
    """``--claims-remote``: a known mode; remote runs need the nnsight backend alone."""
    if raw not in REMOTE_MODES:
        near = difflib.get_close_matches(raw, REMOTE_MODES, n=1)
        raise pytest.UsageError(f"--claims-remote: expected {', '.join(REMOTE_MODES)}, got "
                                f"{raw!r}" + (f"; did you mean {near[0]}?" if near else ""))
    if raw != "off" and backends != ("nnsight",):
        raise pytest.UsageError(
            f"--claims-remote={raw} runs the nnsight backend remotely; TransformerLens has no "
            "remote execution, so add --claims-backends=nnsight")
    return raw


def _folder(path: Path, option: str, what: str) -> None:
    """A usage error when ``path`` exists but is not a folder."""
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"{option}: {path} is a file, not a folder (it holds {what}); "
                                "give a folder path (it is created when missing)")


def read_settings(config: pytest.Config) -> Settings:
    """The run's settings from options and ini keys; a bad value is a :class:`pytest.UsageError`.

    On an xdist worker the seed is the one the controller chose (``workerinput``)."""
    backends = _backends(_setting(config, "claims_backends"))
    workerinput = getattr(config, "workerinput", None)
    raw_seed = _setting(config, "claims_seed")
    if workerinput is not None and WORKER_SEED_KEY in workerinput:
        seed = int(workerinput[WORKER_SEED_KEY])
    elif raw_seed == "random":
        seed = random.SystemRandom().randrange(2**31)
    else:
        try:
            seed = int(raw_seed)
            if not 0 <= seed < 2**32:
                raise ValueError
        except ValueError:
            raise pytest.UsageError(
                f"--claims-seed: expected an integer from 0 to {2**32 - 1} or 'random', got "
                f"{raw_seed!r}") from None
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
    _folder(report_dir, "--claims-report-dir", "claims.json and claims.html")
    cache_mode = _setting(config, "claims_cache")
    if cache_mode not in ("rw", "read", "off", "activations"):
        raise pytest.UsageError("--claims-cache: expected rw, read, off or activations, got "
                                f"{cache_mode!r}")
    raw_dir = _setting(config, "claims_cache_dir")
    if raw_dir:
        cache_dir = Path(raw_dir)
        if not cache_dir.is_absolute():
            cache_dir = config.invocation_params.dir / cache_dir
        _folder(cache_dir, "--claims-cache-dir", "the activation store")
    else:
        cache_dir = config.rootpath / ".pytest_cache" / "interpclaims" / "activations"
    correction = _setting(config, "claims_correction")
    if correction not in CORRECTIONS:
        later = (" (holm and bh need every p-value of a family before any of its claims is "
                 "decided, so they would change verdicts after pytest reported them)"
                 if correction in ("holm", "bh") else "")
        raise pytest.UsageError(
            f"--claims-correction: expected {' or '.join(CORRECTIONS)}, got {correction!r}{later}")
    baseline, fail_on, save = _gating(config)
    csv = _setting(config, "claims_csv")
    remote = _remote(_setting(config, "claims_remote"), backends)
    return Settings(backends=backends, seed=seed, allow_inconclusive=policy == "pass",
                    n_resamples=n_resamples, report_dir=report_dir, cache_mode=cache_mode,
                    cache_dir=cache_dir, correction=correction, baseline=baseline,
                    fail_on=fail_on, save=save, plan=bool(config.getoption("claims_plan")),
                    csv=report_dir / csv if csv else None,  # an absolute csv path stays
                    sequential=bool(config.getoption("claims_sequential", False)), remote=remote)


def _gating(config: pytest.Config) -> tuple[Path | None, FailOn, Path | None]:
    """``--claims-baseline`` (a path, or a saved name), ``--claims-fail-on``, ``--claims-save``."""
    folder = config.rootpath / BASELINES
    save = _setting(config, "claims_save")
    if save and (not _NAME.fullmatch(save)):
        raise pytest.UsageError(f"--claims-save: {save!r} is not a baseline name; use letters, "
                                "digits, '.', '_' and '-' (e.g. --claims-save=main)")
    raw = _setting(config, "claims_baseline")
    baseline = None
    if raw:
        path = Path(raw) if Path(raw).is_absolute() else config.invocation_params.dir / raw
        if not path.is_file() and _NAME.fullmatch(raw):
            path = folder / f"{raw}.json"
        if not path.is_file():
            saved = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
            near = difflib.get_close_matches(raw, saved, n=3)
            raise pytest.UsageError(
                f"--claims-baseline: {raw!r} is neither a file nor a baseline saved by name in "
                f"{folder}" + (f"; did you mean {', '.join(near)}?" if near else "")
                + (f" (saved: {', '.join(saved)})" if saved else
                   "; save one with --claims-save=NAME, or give the path of a claims.json"))
        baseline = path
    try:
        fail_on = parse_fail_on(_setting(config, "claims_fail_on"))
    except ValueError as e:
        raise pytest.UsageError(f"--claims-fail-on: {e}") from None
    return baseline, fail_on, folder / f"{save}.json" if save else None
