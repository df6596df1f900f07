"""Figures and numerics shared by the lessons (2-5): finite differences and matrices with numbers.

* :func:`finite_difference` estimates the gradient of a scalar function
  elementwise, by central (or forward) differences, in the dtype of its input.
* :func:`step_size_errors` measures how far such estimates are from an exact
  gradient (torch's) for a range of step sizes; :func:`plot_step_size_errors`
  draws the classic V-shaped log-log curve (truncation error on the right,
  rounding error on the left).
* :func:`show_matrix` draws a small matrix (a Jacobian, a gradient) as a heat
  map with its numbers written in the cells.

Graphs of tensors and Variables are drawn by :mod:`autograder.graph`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "finite_difference",
    "plot_step_size_errors",
    "relative_error",
    "show_matrix",
    "step_size_errors",
]


def finite_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float,
                      scheme: str = "central") -> np.ndarray:
    """Estimate the gradient of the scalar function ``f`` at ``x``, one element at a time.

    ``scheme="central"``: (f(x + h e_i) - f(x - h e_i)) / 2h, error O(h^2);
    ``scheme="forward"``: (f(x + h e_i) - f(x)) / h, error O(h).
    The arithmetic happens in ``x``'s dtype (float32 inputs give float32 rounding);
    the result is float64.
    """
    if scheme not in ("central", "forward"):
        raise ValueError(f"scheme must be 'central' or 'forward', not {scheme!r}")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"finite differences need a floating-point x, got dtype {x.dtype}")
    step = x.dtype.type(h)
    grad = np.zeros(x.shape, dtype=np.float64)
    f0 = float(f(x)) if scheme == "forward" else None
    for i in np.ndindex(x.shape):
        plus = x.copy()
        plus[i] = plus[i] + step
        if scheme == "central":
            minus = x.copy()
            minus[i] = minus[i] - step
            grad[i] = (float(f(plus)) - float(f(minus))) / (2 * h)
        else:
            grad[i] = (float(f(plus)) - f0) / h
    return grad


def relative_error(approx: np.ndarray, exact: np.ndarray, eps: float = 1e-12) -> float:
    """max |approx - exact| / max(|exact|, eps): the scale-free error gradcheck-style checks use."""
    approx = np.asarray(approx, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    return float(np.max(np.abs(approx - exact)) / max(float(np.max(np.abs(exact))), eps))


def step_size_errors(f: Callable[[np.ndarray], float], x: np.ndarray, exact: np.ndarray,
                     steps: Sequence[float], scheme: str = "central") -> np.ndarray:
    """The relative error of :func:`finite_difference` against ``exact`` for each step size."""
    return np.array([relative_error(finite_difference(f, x, h, scheme), exact) for h in steps])


def plot_step_size_errors(steps: Sequence[float], curves: Mapping[str, Sequence[float]],
                          ax=None, *, title: str | None = None, mark_best: bool = True):
    """Log-log plot of error against step size, one line per entry of ``curves``.

    ``curves``: ``{label: errors}`` with one error per step. Marks each curve's
    best step with a dot (``mark_best``). Returns the axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    steps = np.asarray(steps, dtype=np.float64)
    for label, errors in curves.items():
        errors = np.maximum(np.asarray(errors, dtype=np.float64), 1e-18)  # log scale: no zeros
        (line,) = ax.loglog(steps, errors, marker=".", label=label)
        if mark_best:
            best = int(np.argmin(errors))
            ax.plot(steps[best], errors[best], "o", color=line.get_color(), markersize=9,
                    markerfacecolor="none")
            ax.annotate(f"h={steps[best]:.0e}", (steps[best], errors[best]),
                        textcoords="offset points", xytext=(4, -14), fontsize=8,
                        color=line.get_color())
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative error vs torch.autograd")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def show_matrix(matrix, ax=None, *, title: str | None = None, fmt: str = "{:.2f}",
                row_label: str | None = None, col_label: str | None = None, cmap: str = "RdBu_r"):
    """Draw a small 1-D or 2-D array as a heat map with each number written in its cell.

    Colours are symmetric around 0 (blue negative, red positive). Returns the axes.
    """
    import matplotlib.pyplot as plt

    m = np.asarray(getattr(matrix, "detach", lambda: matrix)(), dtype=np.float64)
    if m.ndim == 0:
        m = m.reshape(1, 1)
    elif m.ndim == 1:
        m = m.reshape(1, -1)
    elif m.ndim > 2:
        raise ValueError(f"show_matrix draws 1-D or 2-D arrays, not shape {m.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * m.shape[1] + 1.2, 0.5 * m.shape[0] + 0.9))
    vmax = max(float(np.max(np.abs(m))), 1e-12)
    ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * vmax else "black")
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    if row_label:
        ax.set_ylabel(row_label)
    if col_label:
        ax.set_xlabel(col_label)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
