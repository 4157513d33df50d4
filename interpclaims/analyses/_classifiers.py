"""The linear classifiers of a probe, fitted in closed form (ridge) or by Newton's method
(logistic), on standardized features; both fit many label vectors at once, sharing the work that
depends only on the features (what a permutation null of a probe needs).

* ``ridge`` — least squares on ±1 one-vs-rest targets with an L2 penalty :data:`RIDGE` on the
  standardized weights (not the bias): ``W = (AᵀA + λR)⁻¹ AᵀT``, one factorization of ``AᵀA + λR``
  for every label vector;
* ``logistic`` — L2-regularized logistic regression (one-vs-rest above two classes) minimizing
  ``Σ log-loss + (λ/2)·|w|²`` with :data:`LOGISTIC_L2` = 1.0 (scikit-learn's default strength,
  ``C = 1``; the bias is not penalized), by Newton's method from zero, every label vector at once.

Two classes: the prediction is class 1 when the score (the logit, or the ridge score of class 1)
is > 0, class 0 otherwise. More: the class of the largest score.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from interpclaims._errors import InterpClaimsError

__all__ = ["CLASSIFIERS", "LOGISTIC_L2", "RIDGE", "Classifier", "design", "fit_weights", "predict",
           "scores", "standardizer"]

Classifier = Literal["ridge", "logistic"]
CLASSIFIERS: tuple[Classifier, ...] = ("ridge", "logistic")
RIDGE = 1.0
LOGISTIC_L2 = 1.0
_NEWTON_STEPS = 100
_TOLERANCE = 1e-9
_CHUNK_BYTES = 64 * 2**20  # Hessians held at once by the batched Newton solver


def standardizer(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sd)`` of the training features (a constant feature gets sd ≈ 0 + 1e-6)."""
    return x_train.mean(0), x_train.std(0) + 1e-6


def design(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Standardized features with a bias column: ``[n, d + 1]``."""
    return np.hstack([(x - mu) / sd, np.ones((x.shape[0], 1))])


def _penalty(d1: int, strength: float) -> np.ndarray:
    reg = strength * np.eye(d1)
    reg[-1, -1] = 0.0  # no penalty on the bias
    return reg


def _columns(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, int]:
    """One-vs-rest 0/1 targets ``[n, m·c]`` of ``labels [n, m]`` (``c = 1`` for two classes:
    the column of class 1)."""
    if n_classes == 2:
        return labels.astype(np.float64), 1
    onehot = (labels[:, :, None] == np.arange(n_classes)).astype(np.float64)
    return onehot.reshape(labels.shape[0], -1), n_classes


def fit_weights(x_train: np.ndarray, labels: np.ndarray, n_classes: int,
                classifier: Classifier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu, sd, W)``: ``W [d + 1, m, c]`` fits of ``labels [n, m]`` (``m`` label vectors of the
    same training prompts; ``c = 1`` for two classes, else ``n_classes``)."""
    mu, sd = standardizer(x_train)
    a = design(x_train, mu, sd)
    targets, c = _columns(labels, n_classes)
    if classifier == "ridge":
        w = np.linalg.solve(a.T @ a + _penalty(a.shape[1], RIDGE), a.T @ (targets * 2 - 1))
    else:
        w = _logistic(a, targets)
    return mu, sd, w.reshape(a.shape[1], labels.shape[1], c)


def _logistic(a: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """L2 logistic regression of every column of ``targets [n, m]`` by Newton's method.

    Fewer prompts than features: the penalized weights lie in the span of the training rows (a
    component outside it changes no logit and only adds to the penalty), so the fit runs on the
    rows' coordinates in an orthonormal basis of that span — the same solution, in at most ``n``
    dimensions instead of ``d`` (what keeps a permutation null on a wide MLP site affordable)."""
    xs, ones = a[:, :-1], a[:, -1:]
    basis = None
    if xs.shape[0] < xs.shape[1]:
        _, sv, vt = np.linalg.svd(xs, full_matrices=False)
        basis = vt[sv > 1e-10 * max(float(sv.max(initial=0.0)), 1e-300)].T  # [d, r]
        a = np.hstack([xs @ basis, ones])
    d1, m = a.shape[1], targets.shape[1]
    reg = _penalty(d1, LOGISTIC_L2)
    chunk = max(1, _CHUNK_BYTES // (8 * d1 * d1))
    w = np.zeros((d1, m))
    for start in range(0, m, chunk):
        cols = slice(start, min(m, start + chunk))
        w[:, cols] = _newton(a, targets[:, cols], reg)
    return w if basis is None else np.vstack([basis @ w[:-1], w[-1:]])


def _newton(a: np.ndarray, t: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Regularized Newton iterations (the objective is strictly convex: λ > 0 on every weight
    but the bias, whose Hessian block is positive while any fitted probability is in (0, 1))."""
    w = np.zeros((a.shape[1], t.shape[1]))
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - t) + reg @ w  # [d1, m]
        curv = p * (1 - p)  # [n, m]
        hess = np.einsum("ni,nm,nj->mij", a, curv, a, optimize=True) + reg
        hess[:, -1, -1] += 1e-10  # all points fitted with certainty: keep the bias solvable
        step = np.linalg.solve(hess, grad.T[:, :, None])[:, :, 0].T
        w -= step
        if np.abs(step).max() <= _TOLERANCE * max(1.0, float(np.abs(w).max())):
            return w
    raise InterpClaimsError(
        f"logistic probe: Newton's method did not converge in {_NEWTON_STEPS} steps (largest "
        f"last step {np.abs(step).max():.3g}); the features may be badly scaled — try "
        "classifier='ridge'")


def predict(x_test: np.ndarray, mu: np.ndarray, sd: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Predicted class indices ``[n_test, m]`` of the fits ``w [d + 1, m, c]``: two classes
    (``c = 1``) class 1 when the score is > 0; more, the class of the largest score."""
    scores = np.einsum("ni,imc->nmc", design(x_test, mu, sd), w)
    if w.shape[2] == 1:
        return (scores[:, :, 0] > 0).astype(np.intp)
    return scores.argmax(2)


def scores(x_test: np.ndarray, mu: np.ndarray, sd: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The decision score of class 1 (two classes) ``[n_test, m]``."""
    return np.einsum("ni,im->nm", design(x_test, mu, sd), w[:, :, 0])
