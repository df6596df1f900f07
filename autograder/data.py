"""Small generated 2-D data sets and a decision-boundary picture, for lesson 8 and ps5.

Everything is made with numpy from a seed: no downloads, the same points on
every machine. Labels are integers 0/1, points are float64 arrays of shape (n, 2).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["accuracy", "make_moons", "make_spirals", "plot_decision_boundary"]


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: ``n`` points, about half of each class.

    Class 0 lies on the upper arc (centre (0, 0), radius 1), class 1 on the lower
    arc (centre (1, 0.5)). Gaussian ``noise`` (standard deviation) is added to
    every coordinate. Returns ``X`` (n, 2) float64 and ``y`` (n,) int64, shuffled.
    """
    if n < 2:
        raise ValueError(f"make_moons needs n >= 2 points, got {n}")
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower])
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def make_spirals(n: int = 200, noise: float = 0.1, turns: float = 1.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (class 0 and class 1, each the other rotated by 180 degrees).

    ``turns`` is how many times each arm winds around the centre; the points lie
    within radius 1. Returns ``X`` (n, 2) float64 and ``y`` (n,) int64, shuffled.
    """
    if n < 2:
        raise ValueError(f"make_spirals needs n >= 2 points, got {n}")
    rng = np.random.default_rng(seed)
    sizes = (n // 2, n - n // 2)
    Xs, ys = [], []
    for label, m in enumerate(sizes):
        r = np.linspace(0.05, 1.0, m)
        theta = 2 * np.pi * turns * r + label * np.pi
        Xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(m, label, dtype=np.int64))
    X = np.concatenate(Xs) + rng.normal(0.0, noise, size=(n, 2))
    y = np.concatenate(ys)
    order = rng.permutation(n)
    return X[order], y[order]


def accuracy(predicted, y) -> float:
    """Fraction of labels predicted right (``predicted`` and ``y``: arrays of 0/1)."""
    p = np.asarray(predicted).reshape(-1)
    t = np.asarray(y).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"accuracy: {p.shape[0]} predictions for {t.shape[0]} labels")
    return float(np.mean(p == t))


def plot_decision_boundary(predict_fn: Callable[[np.ndarray], np.ndarray], X, y, ax=None, *,
                           resolution: int = 150, margin: float = 0.5, title: str | None = None):
    """Colour the plane by ``predict_fn`` and scatter the points ``X`` coloured by ``y``.

    ``predict_fn`` takes a float64 array of points (m, 2) and returns m numbers:
    labels 0/1 or a score per point (a probability, or a logit); the picture
    shades the predicted class and draws the boundary where the score crosses
    0.5 (labels, probabilities) or 0 (any score that goes negative).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    lo = X.min(axis=0) - margin
    hi = X.max(axis=0) + margin
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    scores = np.asarray(predict_fn(grid), dtype=np.float64).reshape(-1)
    if scores.shape[0] != grid.shape[0]:
        raise ValueError(f"plot_decision_boundary: predict_fn returned {scores.shape[0]} values "
                         f"for {grid.shape[0]} points; it must return one number per point")
    level = 0.0 if scores.min() < 0 else 0.5
    Z = scores.reshape(gx.shape)
    ax.contourf(gx, gy, (Z > level).astype(float), levels=[-0.5, 0.5, 1.5],
                colors=["#c6dbef", "#fdd0a2"], alpha=0.8)
    if Z.min() < level < Z.max():
        ax.contour(gx, gy, Z, levels=[level], colors="k", linewidths=1)
    for label, colour in ((0, "#2171b5"), (1, "#d94801")):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=12, c=colour, edgecolors="white",
                   linewidths=0.3, label=f"class {label}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
