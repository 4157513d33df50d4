"""Linear probes with controls: "layer L encodes feature X, with a CI above the shuffled-label
control".

The probe is a ridge-regularized linear classifier (closed form on standardized activations,
one-vs-rest targets), trained on a random half of the prompts and tested on the other half: the
split is by prompt (stratified by class), seeded per claim. Accuracy is one 0/1 value per test
prompt, so its interval is a Wilson interval of a rate (one seed) or a seed-then-prompt bootstrap
(several seeds); AUROC (two classes) is the mean of per-positive placement
values (the fraction of negatives scored below each positive), which decomposes it over prompts.

Controls (``controls=[...]``), each the same probe and test set with something removed:

* ``label_shuffle`` — trained on permuted labels: the accuracy an unrelated labelling gets;
* ``control_task`` — Hewitt & Liang: each *word type* at the read position gets a random label;
  a probe that memorizes word identity does well here, so ``selectivity = task − control``;
* ``random_features`` — trained on a random projection of the activations to the same number of
  dimensions drawn with no relation to the model (a matched-dimension random baseline);
* ``reset_network`` — the same probe on the same site of the same architecture with
  re-initialized weights: what survives there is decodable from the tokens themselves.

``seeds=`` repeats the split (and the controls' randomness) per seed; the per-prompt values of all
seeds are pooled with a seed-then-prompt bootstrap, so the interval carries the split variance.
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
from interpclaims.analyses._prepare import Positions, check_model, positions_mask, prepare

if TYPE_CHECKING:
    from interpclaims.models import Batch, Model

__all__ = ["ProbeResult", "probe"]

PROBE_CONTROLS = ("label_shuffle", "control_task", "random_features", "reset_network")
RIDGE = 1.0


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


def _fit(x_train: np.ndarray, y_train: np.ndarray, n_classes: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge one-vs-rest probe on standardized features: ``(mu, sd, w [d+1, n_classes])``."""
    mu = x_train.mean(0)
    sd = x_train.std(0) + 1e-6
    a = np.hstack([(x_train - mu) / sd, np.ones((x_train.shape[0], 1))])
    targets = np.eye(n_classes)[y_train] * 2 - 1
    reg = RIDGE * np.eye(a.shape[1])
    reg[-1, -1] = 0.0  # no penalty on the bias
    return mu, sd, np.linalg.solve(a.T @ a + reg, a.T @ targets)


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_classes: int
                 ) -> np.ndarray:
    """Ridge one-vs-rest scores ``[n_test, n_classes]`` of a linear probe."""
    mu, sd, w = _fit(x_train, y_train, n_classes)
    b = np.hstack([(x_test - mu) / sd, np.ones((x_test.shape[0], 1))])
    return b @ w


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Test and train indices with the same class proportions.

    An unstratified split of a fixed set makes the test set's majority the training set's
    minority; a probe that learns only the majority class then scores *below* chance.
    """
    test, train = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = max(1, round(idx.size * test_fraction))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(test)), np.sort(np.concatenate(train))


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
    _, acts = model.run(batch.tokens, read=[s])
    where = positions_mask(batch, ds, position, "probe")
    feats = s.select(acts[s.base])[where].reshape(int(where.sum()), -1).double().numpy()
    reset_feats = None
    if "reset_network" in controls:
        _, reset_acts = model.reset_network(0).run(batch.tokens, read=[s])
        reset_feats = s.select(reset_acts[s.base])[where].reshape(int(where.sum()), -1)
        reset_feats = reset_feats.double().numpy()
    if word_field is not None:
        words = [str(v) for v in ds.field(word_field, analysis="probe(word_field=)")]
    else:
        words = [str(t) for t in batch.tokens[where].tolist()]
    return _Features(feats, reset_feats, words)


def _one_seed(f: _Features, y: np.ndarray, k: int, controls: Sequence[str], seed: int,
              test_fraction: float, rng: np.random.Generator, per_seed: dict[str, list[np.ndarray]]
              ) -> np.ndarray:
    """Fit the probe and its controls on one split; append each test prompt's 0/1 correctness
    (and the AUROC placements) to ``per_seed``. Returns the test indices."""
    __tracebackhide__ = True
    test, train = _stratified_split(y, test_fraction, rng)
    if len(set(y[train].tolist())) < k:
        raise DataError(f"probe: the training split of seed {seed} misses a class; use more "
                        "prompts")
    runs = {"task": (f.x, y[train])}
    if "label_shuffle" in controls:
        runs["label_shuffle"] = (f.x, rng.permutation(y[train]))
    if "control_task" in controls:
        types = sorted(set(f.words))
        mapping = dict(zip(types, rng.integers(0, k, size=len(types)).tolist(), strict=True))
        control_y = np.array([mapping[w] for w in f.words])
        runs["control_task"] = (f.x, control_y[train])
    if f.reset is not None:
        runs["reset_network"] = (f.reset, y[train])
    if "random_features" in controls:
        proj = rng.standard_normal((f.x.shape[1], f.x.shape[1]))
        noise = rng.standard_normal(f.x.shape) @ proj
        runs["random_features"] = (noise, y[train])
    for name, (x, y_train) in runs.items():
        scores = _fit_predict(x[train], y_train, x[test], k)
        truth = control_y[test] if name == "control_task" else y[test]
        correct = (scores.argmax(1) == truth).astype(np.float64)
        per_seed.setdefault(name, []).append(correct)
        if name == "task" and k == 2:
            per_seed.setdefault("auroc", []).append(_placements(scores[:, 1] - scores[:, 0],
                                                                y[test]))
    return test


def _check_arguments(model: Model, site: str | Site, controls: Sequence[str],
                     seeds: int | Sequence[int], test_fraction: float) -> tuple[Site, list[int]]:
    """The probed site and the split seeds, once the arguments are checked."""
    __tracebackhide__ = True
    for c in controls:
        if c not in PROBE_CONTROLS:
            raise InterpClaimsError(f"probe(): unknown control {c!r}; choose from "
                                    f"{', '.join(PROBE_CONTROLS)}")
    if not 0.1 <= test_fraction <= 0.9:
        raise InterpClaimsError(f"probe(test_fraction=): expected 0.1..0.9, got {test_fraction}")
    s = model.site(site, default_kind="resid_post")
    if s.kind in ("pattern", "logits"):
        raise InterpClaimsError(f"probe(): cannot probe {s}; probe a residual, attn_out, "
                                "mlp_out, mlp_post or head site")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise InterpClaimsError("probe(seeds=): give at least one seed")
    return s, seed_list


def probe(
    model: Model,
    site: str | Site,
    task: str,
    data: DataSpec | Dataset = "agreement",
    *,
    position: Positions = -1,
    controls: Sequence[str] = ("label_shuffle", "control_task"),
    word_field: str | None = None,
    seeds: int | Sequence[int] = 1,
    test_fraction: float = 0.5,
) -> ProbeResult:
    """Train a linear probe for the dataset field ``task`` on activations at ``site``.

    ``position``: which token is read (``-1`` the last, an int, or a field such as
    ``"subject_pos"``). ``word_field`` names the field whose value is the word type for the
    control task (default: the token at the read position). ``seeds``: how many splits (or which
    split seeds) to pool.
    """
    __tracebackhide__ = True
    model = check_model(model, "probe")
    s, seed_list = _check_arguments(model, site, controls, seeds, test_fraction)
    ds, batch = prepare(model, data)
    labels_raw = [str(v) for v in ds.field(task, analysis=f"probe(task={task!r})")]
    classes = tuple(sorted(set(labels_raw)))
    if len(classes) < 2:
        raise DataError(f"probe(task={task!r}): every row of {ds.name} has the same label "
                        f"{classes[0]!r}; a probe needs two or more classes")
    y = np.array([classes.index(v) for v in labels_raw])
    feats = _features(model, s, ds, batch, position, controls, word_field)
    per_seed: dict[str, list[np.ndarray]] = {}
    test_ids: list[str] = []
    for seed in seed_list:
        rng = _context.rng("probe", str(s), task, seed)
        test = _one_seed(feats, y, len(classes), controls, seed, test_fraction, rng, per_seed)
        test_ids += [f"{seed}:{ds.ids[i]}" for i in test]
    where_txt = f"{s} at position {position} on {ds.name}"
    seeds_txt = f", {len(seed_list)} split seed(s)" if len(seed_list) > 1 else ""
    return _result(per_seed, tuple(test_ids), s, task, classes, controls, where_txt, seeds_txt,
                   feats.x, y)


def _result(per_seed: dict[str, list[np.ndarray]], unit_ids: tuple[str, ...], s: Site, task: str,
            classes: tuple[str, ...], controls: Sequence[str], where_txt: str, seeds_txt: str,
            feats: np.ndarray, y: np.ndarray) -> ProbeResult:
    """The estimates of a probe from the per-seed values of its test prompts."""
    k = len(classes)

    def est(name: str, label: str, ids: tuple[str, ...] | None = unit_ids) -> Estimate:
        return estimate_from_seeds(
            per_seed[name], rate=True,
            method=f"ridge linear probe of {task!r} ({k} classes), {where_txt}, test accuracy per "
                   f"held-out prompt ({name}){seeds_txt}",
            label=label, unit_ids=ids,
        )

    ctrl = {name: est(name, f"probe({s}, {task}) under {name}") for name in controls}
    accuracy = dataclasses.replace(est("task", f"probe_accuracy({s}, {task})"), controls=ctrl)
    auroc = None
    if k == 2:
        auroc = estimate_from_seeds(
            per_seed["auroc"],
            method=f"AUROC of the probe of {task!r}, {where_txt}: mean placement value per "
                   f"held-out positive prompt{seeds_txt}",
            label=f"probe_auroc({s}, {task})",
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
        _, sd, w = _fit(feats, y, k)
        raw = (w[:-1, 1] - w[:-1, 0]) / sd  # back from standardized to the site's coordinates
        direction = raw / np.linalg.norm(raw)
    return ProbeResult(accuracy=accuracy, auroc=auroc, selectivity=selectivity, classes=classes,
                       direction=direction)
