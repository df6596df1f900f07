"""autograder.plots: finite differences agree with torch.autograd, error curves have the textbook shape."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from autograder import random_inputs, torch_gradients
from autograder.plots import (
    draw_value_graph,
    finite_difference,
    plot_step_size_errors,
    relative_error,
    show_matrix,
    step_size_errors,
    value_graph,
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


def _diamond():
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    a = x * y
    b = torch.sin(a)
    c = a * a * x  # a used twice by one node chain, x reused further up
    L = b + c
    return {"x": x, "y": y, "a": a, "b": b, "c": c, "L": L}


def test_value_graph_edges_and_numbers_agree_with_torch():
    named = _diamond()
    g = value_graph(named)
    edges = sorted((e.parent, e.child, e.use) for e in g.edges)
    assert edges == [("a", "b", 0), ("a", "c", 0), ("a", "c", 1), ("b", "L", 0), ("c", "L", 0),
                     ("x", "a", 0), ("x", "c", 0), ("y", "a", 0)]
    totals = torch.autograd.grad(named["L"], [named[n] for n in g.names], retain_graph=True)
    for n, t in zip(g.names, totals):
        np.testing.assert_allclose(g.grads[n], t.numpy(), rtol=1e-12, err_msg=n)
        np.testing.assert_allclose(g.values[n], named[n].detach().numpy())
        # accumulation: the gradients flowing back along a value's edges sum to dL/dvalue
        flows = [e.grad for e in g.edges if e.parent == n]
        if flows:
            np.testing.assert_allclose(np.sum(flows), t.numpy(), rtol=1e-12, err_msg=n)
    for e in g.edges:  # each edge: upstream gradient x local derivative
        np.testing.assert_allclose(e.grad, g.grads[e.child] * e.local, rtol=1e-12)
    # a*a: each use's local derivative is the other factor times x, not the total 2*a*x
    a_uses = [e.local for e in g.edges if (e.parent, e.child) == ("a", "c")]
    direct = torch.autograd.grad(named["c"], named["a"], retain_graph=True)[0].item()
    assert a_uses[0] == pytest.approx(direct / 2) and a_uses[1] == pytest.approx(direct / 2)


def test_value_graph_leaves_grads_untouched_and_draws():
    named = _diamond()
    ax = draw_value_graph(named, exprs={"a": "x*y", "L": "b+c"}, title="diamond")
    assert named["x"].grad is None  # drawing never accumulates into .grad
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("a = x*y") for t in texts)
    assert sum("\u2193" in t for t in texts) == 8  # one backward label per edge
    named["L"].backward()  # the graph is still alive: drawing kept it
    plt.close(ax.figure)


def test_value_graph_rejects_empty():
    with pytest.raises(ValueError):
        value_graph({})
