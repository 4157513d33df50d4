"""Linear probes with controls: "layer L encodes feature X, with a CI above the shuffled-label
control".

The probe is a linear classifier on standardized activations (``classifier="ridge"``, closed
form, the default, or ``"logistic"``, L2 strength 1; see :mod:`._classifiers`), cross-fitted: each
seed partitions the prompts at random into folds (stratified by class; two halves by default,
``test_fraction=0.5``), and every prompt is tested by the probe trained on the other fold(s), so
every prompt gets a held-out prediction under every seed. ``split="field"`` instead takes a fixed
split from the data (each row's field is ``"train"`` or ``"test"``): one probe, the test prompts
scored, ``seeds`` then only drawing the controls (1 by default). AUROC (two classes) is the mean
of per-positive placement values (the fraction of the same fold's negatives scored below each
positive), which decomposes it over prompts.

Controls (``controls=[...]``), each the same probe and folds with something removed:

* ``label_shuffle`` — trained on permuted labels: the *training* labels of each fold are
  permuted (a new permutation per fold and seed) and the probe is scored against the test
  prompts' true labels: the accuracy an unrelated labelling gets (chance, 0.5 for two balanced
  classes, averaged over permutations — a single permutation can land far from it, 0.3–0.7 on the
  zoo, because a probe of strongly encoded features amplifies the permutation's chance
  correlation with the truth);
* ``control_task`` — Hewitt & Liang: each *word type* at the read position gets a random label
  (a new assignment per seed); a probe that memorizes word identity does well here, so
  ``selectivity = task − control``;
* ``random_features`` — trained on Gaussian noise features of the same dimension (a new draw per
  seed), unrelated to the prompts: a matched-capacity random baseline;
* ``reset_network`` — the same probe on the same site of the same architecture with
  re-initialized weights: what survives there is decodable from the tokens themselves;
* ``permutation_null`` — a permutation test (Ojala & Garriga 2010): ``permutations=`` (999)
  permutations of *all* the labels, each probe retrained and scored against the permuted labels
  on the same split(s), seeds and folds as the real one, the statistic pooled the same way. The
  control's estimate carries these null accuracies (value: their mean; interval: their 2.5–97.5
  percentiles) and ``claim.that(probe.accuracy).exceeds(probe.control("permutation_null"))`` is
  decided by ``p = (1 + #{null >= accuracy}) / (k + 1)`` (ties against the claim). Ridge: one
  factorization per fold fits all ``k`` label vectors; logistic: batched Newton steps.

Seeds: everything above is random — the folds, the permutations, the control labels, the noise —
and a single draw moves an accuracy by more than its interval over prompts (one split of the
shuffled-label control ranged 0.15–0.68 on one site). So the probe pools ``seeds=`` draws
(:data:`DEFAULT_SEEDS` = 10 by default; about 0.1 s for four runs on 200 prompts): each estimate is
the mean of a seeds × prompts table whose interval (two-way random effects,
:func:`interpclaims.stats.table_interval`) carries the seed-to-seed variance as well as the
prompt-to-prompt one, and a claim comparing two of them (``probe.accuracy`` against
``probe.control("label_shuffle")``) keeps the table, pairing cells of the same seed and prompt.
Measured on the zoo (``benchmarks/draw_coverage.py``): these intervals cover the all-draws value
95% of the time; one seed (``seeds=1``, the interval of one split's test prompts) covers it only
70–86% of the time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from interpclaims import _context
from interpclaims._data import Dataset, DataSpec
from interpclaims._errors import DataError, InterpClaimsError
from interpclaims._estimate import Estimate, estimate_from_seeds
from interpclaims._sites import Site
from interpclaims.analyses._classifiers import (
    CLASSIFIERS,
    Classifier,
    fit_weights,
    predict,
    scores,
)
from interpclaims.analyses._permutation_null import null_accuracies, null_estimate
from interpclaims.analyses._prepare import (
    Positions,
    check_model,
    choice,
    class_labels,
    count,
    fraction,
    names,
    positions_mask,
    prepare,
    seed_list,
)

if TYPE_CHECKING:
    from interpclaims.models import Batch, Model

__all__ = ["ProbeResult", "probe"]

PROBE_CONTROLS = ("label_shuffle", "control_task", "random_features", "reset_network",
                  "permutation_null")
# random partitions pooled by default: enough that the split's luck is in the interval (a t
# quantile with few degrees of freedom when seeds disagree) and costs little — the probes are
# closed-form ridge fits (see benchmarks/draw_coverage.py for the coverage this gives)
DEFAULT_SEEDS = 10
DEFAULT_PERMUTATIONS = 999


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """``accuracy`` (with its controls), ``auroc`` (two classes only) and ``selectivity``
    (accuracy − control-task accuracy, paired per test prompt)."""

    accuracy: Estimate
    auroc: Estimate | None
    selectivity: Estimate | None
    classes: tuple[str, ...]
    # two classes: the unit direction (in the site's own coordinates) along which the probe
    # separates classes[1] from classes[0], fitted on all prompts — a steering vector
    direction: np.ndarray | None = field(default=None, compare=False, repr=False)

    def control(self, name: str) -> Estimate:
        """Accuracy of the probe under control ``name``."""
        return self.accuracy.control(name)


def _folds(y: np.ndarray, test_fraction: float, rng: np.random.Generator
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (test, train) index pairs of one seed: a random partition of the prompts into ``K``
    folds, stratified by class, in which every prompt is tested by probes that did not train on it.

    ``test_fraction <= 0.5``: ``K = round(1 / test_fraction)``, each probe trains on ``K - 1``
    folds and is tested on the remaining one (every prompt tested once); above 0.5:
    ``K = round(1 / (1 - test_fraction))``, each probe trains on one fold and is tested on the
    other ``K - 1``. Stratified because an unstratified split of a fixed set makes the test set's
    majority the training set's minority; a probe that learns only the majority class then scores
    *below* chance.
    """
    many_tests = test_fraction > 0.5
    k = max(2, round(1 / (1 - test_fraction if many_tests else test_fraction)))
    fold = np.empty(y.size, dtype=np.intp)
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (start + np.arange(idx.size)) % k  # round robin: folds of equal size
        start += idx.size
    pairs = []
    for j in range(k):
        held, rest = np.flatnonzero(fold == j), np.flatnonzero(fold != j)
        pairs.append((rest, held) if many_tests else (held, rest))
    return [(test, train) for test, train in pairs if test.size]


def _placements(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-positive AUROC placement values (ties count one half)."""
    pos, neg = scores[y == 1], scores[y == 0]
    if pos.size == 0 or neg.size == 0:
        raise DataError("probe: the test split holds a single class; AUROC is undefined")
    below = (neg[None, :] < pos[:, None]).sum(1) + 0.5 * (neg[None, :] == pos[:, None]).sum(1)
    return below / neg.size


@dataclass(frozen=True, slots=True)
class _Features:
    """What the probes of one claim read: one row per prompt, at the read position."""

    x: np.ndarray  # [n_prompts, d] float64, the site's activation
    reset: np.ndarray | None  # the same in the re-initialized network (control reset_network)
    words: list[str]  # word type per prompt (control_task)


def _features(model: Model, s: Site, ds: Dataset, batch: Batch, position: Positions,
              controls: Sequence[str], word_field: str | None) -> _Features:
    __tracebackhide__ = True
    where = positions_mask(batch, ds, position, "probe", "position")
    n = int(where.sum())
    # only the read positions, chunk by chunk: a large stored entry is never held in memory
    feats = model.run_at(batch.tokens, [s], where)[s].reshape(n, -1).double().numpy()
    reset_feats = None
    if "reset_network" in controls:
        reset = model.reset_network(0).run_at(batch.tokens, [s], where)[s]
        reset_feats = reset.reshape(n, -1).double().numpy()
    if word_field is not None:
        words = [str(v) for v in ds.field(word_field, analysis="probe(word_field=)")]
    else:
        words = [str(t) for t in batch.tokens[where].tolist()]
    return _Features(feats, reset_feats, words)


Split = float | list[tuple[np.ndarray, np.ndarray]]  # a test fraction, or the fixed (test, train)


def _one_seed(f: _Features, y: np.ndarray, k: int, controls: Sequence[str], seed: int,
              split: Split, rng: np.random.Generator, per_seed: dict[str, list[np.ndarray]],
              classifier: Classifier) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit the probe and its controls on every fold of one seed's partition; append to
    ``per_seed`` one row per run, one value per tested prompt: its accuracy (0/1, or the mean of
    its tests when ``test_fraction > 0.5`` tests it more than once), and for two classes one AUROC
    placement per tested positive prompt. Returns the (test, train) folds used."""
    __tracebackhide__ = True
    runs = ["task", *(c for c in PROBE_CONTROLS if c in controls and c != "permutation_null")]
    truth = {name: y for name in runs}
    x = {name: f.x for name in runs}
    if "control_task" in controls:
        types = sorted(set(f.words))
        mapping = dict(zip(types, rng.integers(0, k, size=len(types)).tolist(), strict=True))
        truth["control_task"] = np.array([mapping[w] for w in f.words])
    if f.reset is not None:
        x["reset_network"] = f.reset
    if "random_features" in controls:
        proj = rng.standard_normal((f.x.shape[1], f.x.shape[1]))
        x["random_features"] = rng.standard_normal(f.x.shape) @ proj
    sums = {name: np.zeros(y.size) for name in [*runs, "auroc"]}
    tested = np.zeros(y.size)
    folds = split if isinstance(split, list) else _folds(y, split, rng)
    for test, train in folds:
        _check_classes(y[train], k, seed, split)
        tested[test] += 1
        for name in runs:
            # label_shuffle: only the training labels are permuted (within this fold); every
            # run is scored against the test prompts' own labels
            y_train = (rng.permutation(y[train]) if name == "label_shuffle"
                       else truth[name][train])
            mu, sd, w = fit_weights(x[name][train], y_train[:, None], k, classifier)
            sums[name][test] += predict(x[name][test], mu, sd, w)[:, 0] == truth[name][test]
            if name == "task" and k == 2:
                sums["auroc"][test[y[test] == 1]] += _placements(
                    scores(x[name][test], mu, sd, w)[:, 0], y[test])
    keep = tested > 0
    for name in runs:
        per_seed.setdefault(name, []).append(sums[name][keep] / tested[keep])
    if k == 2:
        per_seed.setdefault("auroc", []).append(sums["auroc"][keep & (y == 1)]
                                                / tested[keep & (y == 1)])
    return folds


def _check_classes(y_train: np.ndarray, k: int, seed: int, split: Split) -> None:
    __tracebackhide__ = True
    if len(set(y_train.tolist())) < k:
        missing = sorted(set(range(k)) - set(y_train.tolist()))
        if isinstance(split, list):
            raise DataError(f"probe: the fixed split's training rows have no prompt of class "
                            f"index {missing[0]}; put prompts of that class in the 'train' split")
        raise DataError(f"probe: a training fold of seed {seed} has no prompt of class index "
                        f"{missing[0]} (too few prompts of it for test_fraction={split}); add "
                        "prompts of that class or lower test_fraction")


def _fixed_split(ds: Dataset, field_name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The one (test, train) pair of a per-row split field."""
    __tracebackhide__ = True
    values = ds.field(field_name, analysis="probe(split=)")
    for row, v in zip(ds.rows, values, strict=True):
        if v not in ("train", "test"):
            raise DataError(f"probe(split={field_name!r}): row {row['id']!r} of dataset "
                            f"{ds.name!r} has {field_name}={v!r}; each row's split is 'train' "
                            "or 'test'")
    where = np.array(values)
    test, train = np.flatnonzero(where == "test"), np.flatnonzero(where == "train")
    if test.size == 0 or train.size == 0:
        empty = "test" if test.size == 0 else "train"
        raise DataError(f"probe(split={field_name!r}): no row of dataset {ds.name!r} is in the "
                        f"{empty!r} split; give some rows {field_name}={empty!r}")
    return [(test, train)]


def _check_arguments(model: Model, site: str | Site, controls: Sequence[str],
                     seeds: int | Sequence[int] | None, test_fraction: float, split: str | None
                     ) -> tuple[Site, tuple[str, ...], list[int]]:
    """The probed site, the controls and the split seeds, once the arguments are checked."""
    __tracebackhide__ = True
    checked = names(controls, PROBE_CONTROLS, "control", "controls", "probe")
    fraction(test_fraction, "test_fraction", "probe", 0.1, 0.9)
    s = model.site(site, default_kind="resid_post")
    if s.kind in ("pattern", "logits"):
        raise InterpClaimsError(f"probe(): cannot probe {s}; probe a residual, attn_out, "
                                "mlp_out, mlp_post or head site")
    if split is not None and not isinstance(split, str):
        raise InterpClaimsError(f"probe(split=): name the per-row field that says 'train' or "
                                f"'test', e.g. split='split'; got {type(split).__name__}")
    if seeds is None:
        seeds = 1 if split is not None else DEFAULT_SEEDS
    return s, checked, seed_list(seeds, "probe")


def probe(
    model: Model,
    site: str | Site,
    task: str,
    data: DataSpec | Dataset = "agreement",
    *,
    position: Positions = -1,
    controls: Sequence[str] = ("label_shuffle", "control_task"),
    word_field: str | None = None,
    seeds: int | Sequence[int] | None = None,
    test_fraction: float = 0.5,
    split: str | None = None,
    classifier: Classifier = "ridge",
    permutations: int = DEFAULT_PERMUTATIONS,
) -> ProbeResult:
    """Train a linear probe for the dataset field ``task`` on activations at ``site``.

    ``position``: which token is read (``-1`` the last, an int, or a field such as
    ``"subject_pos"``). ``word_field`` names the field whose value is the word type for the
    control task (default: the token at the read position). ``seeds``: how many random
    partitions (or which partition seeds) to pool, :data:`DEFAULT_SEEDS` by default (1 with
    ``split=``); ``seeds=1`` leaves the draw out of the interval. ``test_fraction``: the share of
    prompts each probe is tested on — ``1/K`` folds (0.5: two halves, 0.2: five folds) or, above
    0.5, train on one fold of ``K`` and test on the rest; rounded to the nearest such split.
    ``split``: a per-row field, ``"train"`` or ``"test"``, for a fixed split instead (estimates
    are then over the test rows). ``classifier``: ``"ridge"`` or ``"logistic"``.
    ``permutations``: the null replicates of the ``permutation_null`` control.
    """
    __tracebackhide__ = True
    model = check_model(model, "probe")
    s, controls, seeds_used = _check_arguments(model, site, controls, seeds, test_fraction, split)
    classifier = choice(classifier, CLASSIFIERS, "classifier", "probe")  # type: ignore[assignment]
    permutations = count(permutations, "permutations", "probe")
    ds, batch = prepare(model, data)
    classes, labels_raw = class_labels(ds, task, "probe")
    y = np.array([classes.index(v) for v in labels_raw])
    fixed: Split = test_fraction if split is None else _fixed_split(ds, split)
    feats = _features(model, s, ds, batch, position, controls, word_field)
    per_seed: dict[str, list[np.ndarray]] = {}
    folds_per_seed = []
    for seed in seeds_used:
        rng = _context.rng("probe", str(s), task, seed)
        folds_per_seed.append(_one_seed(feats, y, len(classes), controls, seed, fixed, rng,
                                        per_seed, classifier))
    null = None
    if "permutation_null" in controls:
        null = null_accuracies(feats.x, y, len(classes), folds_per_seed, classifier,
                                permutations, _context.rng("probe-null", str(s), task))
    tested = np.ones(y.size, bool) if split is None else np.isin(np.arange(y.size),
                                                                  folds_per_seed[0][0][0])
    where_txt = (f"{s} at position {position} on {ds.name}"
                 + ("" if split is None else f", fixed split {split!r}"))
    seeds_txt = f", {len(seeds_used)} split seed(s)" if len(seeds_used) > 1 else ""
    return _result(per_seed, null, tuple(np.array(ds.ids)[tested].tolist()), s, task, classes,
                   controls, (where_txt, seeds_txt, classifier), feats.x, y, tested)


def _result(per_seed: dict[str, list[np.ndarray]], null: np.ndarray | None,
            unit_ids: tuple[str, ...], s: Site, task: str, classes: tuple[str, ...],
            controls: Sequence[str], texts: tuple[str, str, str], feats: np.ndarray,
            y: np.ndarray, tested: np.ndarray) -> ProbeResult:
    """The estimates of a probe from its seeds × prompts tables."""
    k = len(classes)
    where_txt, seeds_txt, classifier = texts

    def method(name: str) -> str:
        return (f"{classifier} linear probe of {task!r} ({k} classes), {where_txt}, test accuracy "
                f"per held-out prompt ({name}){seeds_txt}")

    def est(name: str, label: str) -> Estimate:
        if name == "permutation_null" and null is not None:
            return null_estimate(null, len(unit_ids), label, method(name))
        rows = per_seed[name]  # a rate: 0/1 per prompt, or several seeds of values in [0, 1]
        rate = len(rows) > 1 or bool(np.isin(rows[0], (0.0, 1.0)).all())
        return estimate_from_seeds(rows, rate=rate, method=method(name), label=label,
                                   unit_ids=unit_ids)

    ctrl = {name: est(name, f"probe({s}, {task}) under {name}") for name in controls}
    accuracy = dataclasses.replace(est("task", f"probe_accuracy({s}, {task})"), controls=ctrl)
    auroc = None
    if k == 2:
        auroc = estimate_from_seeds(
            per_seed["auroc"],
            method=f"AUROC of the probe of {task!r}, {where_txt}: mean placement value per "
                   f"held-out positive prompt{seeds_txt}",
            label=f"probe_auroc({s}, {task})",
            unit_ids=tuple(u for u, c in zip(unit_ids, y[tested], strict=True) if c == 1),
        )
    selectivity = None
    if "control_task" in controls:
        diff = [t - c for t, c in zip(per_seed["task"], per_seed["control_task"], strict=True)]
        selectivity = estimate_from_seeds(
            diff, method=f"selectivity (task − control-task accuracy) per held-out prompt, "
                         f"{where_txt}{seeds_txt}",
            label=f"probe_selectivity({s}, {task})", unit_ids=unit_ids,
        )
    direction = None
    if k == 2:
        _, sd, w = fit_weights(feats, y[:, None], k, classifier)  # type: ignore[arg-type]
        raw = w[:-1, 0, 0] / sd  # back from standardized to the site's coordinates
        norm = float(np.linalg.norm(raw))
        direction = raw / norm if norm > 0 else None  # None: constant features, no direction
    return ProbeResult(accuracy=accuracy, auroc=auroc, selectivity=selectivity, classes=classes,
                       direction=direction)
