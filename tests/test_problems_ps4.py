"""autograder.problems.ps4: the helpers of ps4's test cells, run in-process (the solution and
each bug fixture of tests/bugs_ps4.py: tests/test_bug_fixtures.py). test_assignments.py grades
the same cells in the judge."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import source_cell

from autograder.problems import ps4 as P


def test_straight_through_reference_and_torch_clipping():
    t = torch.tensor([-2.0, 0.1, 3.0], dtype=torch.float64, requires_grad=True)
    out = P.st_reference(-1.0, 1.0)(t)
    assert torch.equal(out.detach(), t.detach().clamp(-1.0, 1.0))
    out.sum().backward()
    assert torch.equal(t.grad, torch.ones(3, dtype=torch.float64))
    g = torch.tensor([3.0, 4.0], dtype=torch.float64)  # norm 5
    np.testing.assert_allclose(P.clipped_by_torch(g, 1.0), g * (1.0 / (5.0 + 1e-6)))
    np.testing.assert_allclose(P.clipped_by_torch(g, 10.0), g)


def test_linear_products_counts_what_backward_computes():
    class AllProducts(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x @ w.T + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g @ w, g.T @ x, g.sum(0)

    assert P.linear_products(AllProducts, {"bias"}) == 2
    assert P.linear_products(AllProducts, {"x", "weight", "bias"}) == 2


def test_gradcheck_passes_names_what_failed():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g

    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="Wrong: torch.autograd.gradcheck failed"):
        P.gradcheck_passes(Wrong.apply, [x], "Wrong")


def test_clip_checks_see_a_cached_scale_and_a_change_made_inside_backward():
    def good(max_norm):
        return lambda g: g * (max_norm / (g.norm() + 1e-6)).clamp(max=1.0)

    def cached(max_norm):
        cache = {}
        return lambda g: g * cache.setdefault("s", (max_norm / (g.norm() + 1e-6)).clamp(max=1.0))

    def in_place(max_norm):
        return lambda g: g.mul_((max_norm / (g.norm() + 1e-6)).clamp(max=1.0))

    xs = [np.array([1.0, -2.0, 3.0]) * k for k in (2.0, 0.2, 4.0)]
    P.check_clip_reused(good, xs, 1.0, "good")
    with pytest.raises(AssertionError, match="(?s)the same hook used again.*earlier call"):
        P.check_clip_reused(cached, xs, 1.0, "cached")
    P.check_clip_in_backward(good, xs[0], 1.0)
    P.check_clip_leaf(in_place, xs[0], 1.0, "x.grad")  # x.grad is right all the same
    with pytest.raises(AssertionError, match="changed its argument in place"):
        P.check_clip_in_backward(in_place, xs[0], 1.0)


def test_check_hvp_leaves_x_alone_sees_an_answer_written_into_x():
    def into_x(f, x, v):
        x = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        (hv,) = torch.autograd.grad(g, x, grad_outputs=v)
        return x.detach().copy_(hv)

    with pytest.raises(AssertionError, match="changed the values of the caller's x"):
        P.check_hvp_leaves_x_alone(into_x, np.array([0.5, -1.0, 2.0]), np.ones(3), x_requires_grad=False)


def test_clip_hook_checks_take_the_ways_of_writing_the_formula_and_refuse_other_thresholds():
    """Every check of ps4-clip-hook-test, hidden ones included, on hooks written from the
    text's formula in several ways (a tensor scale clamped at 1, a Python min, an if with
    the 1e-6 added, the norm clamped at 1e-6 instead): all pass. Hooks that clip only above
    twice max_norm, compare the squared norm with it, or add the 1e-6 under the square
    root (wrong at a small max_norm), fail."""
    def clamp_scale(max_norm):
        return lambda g: g * (max_norm / (g.norm() + 1e-6)).clamp(max=1.0)

    def python_min(max_norm):
        return lambda g: g * min(1.0, max_norm / (g.norm().item() + 1e-6))

    def if_above(max_norm):
        def clip(g):
            coef = max_norm / (g.norm() + 1e-6)
            return g * coef if coef < 1 else g.clone()
        return clip

    def norm_clamped(max_norm):
        return lambda g: g * torch.clamp(max_norm / g.norm().clamp(min=1e-6), max=1.0)

    def doubled(max_norm):
        return lambda g: g * (max_norm / (g.norm() + 1e-6)) if g.norm() > 2 * max_norm else g * 1.0

    def squared(max_norm):
        return lambda g: g * (max_norm / (g.norm() + 1e-6)) if g.norm() ** 2 > max_norm else g * 1.0

    def eps_under_the_root(max_norm):  # 10% off at a norm of 0.002
        return lambda g: g * (max_norm / (g.pow(2).sum() + 1e-6).sqrt()).clamp(max=1.0)

    source = source_cell("ps4", "ps4-clip-hook-test")
    assert "BEGIN HIDDEN TESTS" in source
    for make in (clamp_scale, python_min, if_above, norm_clamped):
        exec(source, {"make_clip_hook": make})
    for make in (doubled, squared, eps_under_the_root):
        with pytest.raises(AssertionError, match="a gradient of norm"):
            exec(source, {"make_clip_hook": make})
