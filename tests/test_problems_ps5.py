"""autograder.problems.ps5: the helpers of ps5's test cells, run in-process on the course's
engine (the solution and each bug fixture of tests/bugs_ps5.py: tests/test_bug_fixtures.py).
test_assignments.py grades the same cells in the judge, on the engine a student submits
(tests/test_ps5_engine.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.data import make_moons
from autograder.problems import ps5 as P
from autograder.testing import torch_mlp

ROOT = Path(__file__).resolve().parents[1]


def test_tanh_layer_loss_is_one_expression_for_both_engines():
    x, W, b = (np.random.default_rng(0).normal(size=s) for s in ((4, 3), (2, 3), (2,)))
    got = P.tanh_layer_loss(torch.tensor(x), torch.tensor(W), torch.tensor(b))
    np.testing.assert_allclose(got.item(), np.mean(np.tanh(x @ W.T + b) ** 2))


def test_torch_training_follows_torch_optim_and_falls():
    X, y = make_moons(40, noise=0.15, seed=0)
    rng = np.random.default_rng(0)
    initial = [rng.uniform(-0.5, 0.5, s) for s in ((4, 2), (4,), (1, 4), (1,))]
    losses = P.torch_training(initial, X, y, steps=30, lr=0.5)
    assert losses.shape == (30,) and losses[-1] < losses[0]
    params = [torch.tensor(p) for p in initial]
    first = torch.nn.functional.binary_cross_entropy_with_logits(
        torch_mlp(torch.tensor(X), *params), torch.tensor(y, dtype=torch.float64).reshape(-1, 1))
    assert losses[0] == pytest.approx(first.item(), rel=1e-12)


def test_grads_copies_and_keeps_none():
    class P_:
        def __init__(self, g):
            self.grad = g

    class M:
        def parameters(self):
            return [P_(None), P_(np.ones(2))]

    got = P.grads(M())
    assert got[0] is None and np.array_equal(got[1], np.ones(2))


def test_torch_training_with_a_leftover_gradient_differs_from_the_second_loss_on():
    X, y = make_moons(40, noise=0.15, seed=1)
    rng = np.random.default_rng(1)
    initial = [rng.uniform(-0.5, 0.5, s) for s in ((4, 2), (4,), (1, 4), (1,))]
    right = P.torch_training(initial, X, y, steps=5, lr=0.5)
    wrong = P.torch_training(initial, X, y, steps=5, lr=0.5, leftover=True)
    assert wrong[0] == right[0] and not np.allclose(wrong[1:], right[1:], rtol=1e-6)


def test_the_near_zero_logit_changes_sides_in_float32_only():
    X, weight, bias = P.NEAR_ZERO
    logits64 = (torch.tensor(X) @ torch.tensor(weight).T + torch.tensor(bias))[:, 0]
    assert (logits64 > 0).tolist() == [False, True] and logits64[0] != 0
    logits32 = X.astype(np.float32).astype(np.float64) @ weight.T + bias
    assert (logits32[:, 0] > 0).tolist() == [True, True]


def _engine():
    spec = importlib.util.spec_from_file_location("minigrad_ps5_helpers", ROOT / "source/ps5/minigrad.py")
    mg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mg)
    return mg.Variable


class _SGD:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.data -= self.lr * p.grad


class _SGDScalesGrad(_SGD):
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.grad *= self.lr
                p.data -= p.grad


def test_check_step_keeps_grad_passes_sgd_and_names_a_step_that_scales_grad():
    Variable = _engine()
    P.check_step_keeps_grad(_SGD, Variable, 0.1, seed=6)
    with pytest.raises(AssertionError, match=r"step\(\) changed weight\.grad"):
        P.check_step_keeps_grad(_SGDScalesGrad, Variable, 0.1, seed=6)
