"""autograder.plots: finite differences agree with torch.autograd, error curves have the textbook shape."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from autograder import random_inputs, torch_gradients  # noqa: E402
from autograder.plots import (  # noqa: E402
    finite_difference,
    plot_step_size_errors,
    relative_error,
    show_matrix,
    step_size_errors,
)


def f_np(a):
    return float(np.sum(np.tanh(a) * a**2))


def f_torch(t):
    return (torch.tanh(t) * t**2).sum()


X = random_inputs((3, 2), seed=3)[0]
EXACT = torch_gradients(f_torch, [X]).grads[0]
STEPS = np.logspace(-12, -1, 23)


def test_central_difference_matches_torch_in_float64():
    approx = finite_difference(f_np, X, 1e-5)
    assert approx.shape == X.shape
    assert relative_error(approx, EXACT) < 1e-9


def test_forward_difference_is_first_order():
    e1 = relative_error(finite_difference(f_np, X, 1e-3, "forward"), EXACT)
    e2 = relative_error(finite_difference(f_np, X, 1e-4, "forward"), EXACT)
    assert 5 < e1 / e2 < 20, (e1, e2)  # error ~ h: ten times smaller step, ~ten times smaller error


def test_central_difference_is_second_order():
    e1 = relative_error(finite_difference(f_np, X, 1e-2), EXACT)
    e2 = relative_error(finite_difference(f_np, X, 1e-3), EXACT)
    assert 50 < e1 / e2 < 200, (e1, e2)  # error ~ h^2


def test_error_curve_is_v_shaped_and_float32_is_far_worse():
    e64 = step_size_errors(f_np, X, EXACT, STEPS)
    e32 = step_size_errors(f_np, X.astype(np.float32), EXACT, STEPS)
    best64, best32 = int(np.argmin(e64)), int(np.argmin(e32))
    # rounding error on the left, truncation error on the right: the best step is in between
    assert 0 < best64 < len(STEPS) - 1
    assert e64[0] > 100 * e64[best64] and e64[-1] > 100 * e64[best64]
    assert 1e-7 < STEPS[best64] < 1e-3, STEPS[best64]
    # float32 has ~7 digits: its best error is orders of magnitude worse, at a larger step
    assert e32[best32] > 1000 * e64[best64]
    assert STEPS[best32] > STEPS[best64]


def test_finite_difference_rejects_bad_input():
    with pytest.raises(TypeError, match="floating-point"):
        finite_difference(f_np, np.arange(3), 1e-3)
    with pytest.raises(ValueError, match="scheme"):
        finite_difference(f_np, X, 1e-3, "backward-ish")


def test_plot_step_size_errors_draws_one_line_per_curve():
    curves = {"central, float64": step_size_errors(f_np, X, EXACT, STEPS),
              "forward, float64": step_size_errors(f_np, X, EXACT, STEPS, "forward")}
    ax = plot_step_size_errors(STEPS, curves, title="t")
    labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert labels == list(curves)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title() == "t"
    assert len(ax.texts) == 2  # the best step of each curve is annotated
    plt.close(ax.figure)


def test_show_matrix_writes_every_number():
    jac = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, 0),
                                             torch.tensor(random_inputs((4,), seed=1)[0]))
    ax = show_matrix(jac, title="J")
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 16
    assert texts[0] == f"{float(jac[0, 0]):.2f}"
    plt.close(ax.figure)
    ax = show_matrix(np.arange(3.0))  # a vector is drawn as one row
    assert [t.get_text() for t in ax.texts] == ["0.00", "1.00", "2.00"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        show_matrix(np.zeros((2, 2, 2)))
