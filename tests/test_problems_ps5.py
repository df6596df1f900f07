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
from conftest import source_cell

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


class _Box:
    """A "parameter" with numbers and no engine behind it (a red team's ps5, session 15)."""

    def __init__(self, shape, value=0.0):
        self.data, self.grad = np.full(shape, value), None
        self.requires_grad = self.is_leaf = True

    @property
    def shape(self):
        return self.data.shape

    def backward(self, gradient=None):
        pass  # no graph: nothing to do


class _Fickle(list):
    """parameters() whose third iteration is empty: the judge must iterate it once (a list, as
    the text asks: a subclass of one is taken, iterated once)."""

    def __init__(self, ps):
        super().__init__(ps)
        self.ps, self.n = ps, 0

    def __len__(self):
        return len(self.ps)

    def __iter__(self):
        self.n += 1
        return iter(self.ps if self.n <= 2 else [])


class _NoEngineMLP:
    """Every weight 0 but the last bias, 1: torch's network outputs that bias everywhere."""

    def __init__(self, sizes, rng):
        self.sizes = list(sizes)
        self.ps = [p for a, b in zip(sizes[:-1], sizes[1:]) for p in (_Box((b, a)), _Box((b,)))]
        self.ps[-1].data[:] = 1.0

    def __call__(self, x):
        return _Box((x.data.shape[0], self.sizes[-1]), float(self.ps[-1].data[0]))

    def parameters(self):
        return _Fickle(self.ps)


def _closed_form_train(model, X, y, steps=300, lr=0.5):
    """The loss curve torch's training follows from _NoEngineMLP's weights, computed in numpy:
    only the last bias moves."""
    b, y, losses = float(model.ps[-1].data[0]), np.asarray(y, dtype=np.float64), []
    for _ in range(steps):
        losses.append(float(np.mean(np.maximum(b, 0) - b * y + np.log1p(np.exp(-abs(b))))))
        b -= lr * float(np.mean(1.0 / (1.0 + np.exp(-b)) - y))
    return losses


def test_mlp_and_training_checks_need_an_engine_not_a_box_of_numbers():
    X, y = make_moons(200, noise=0.15, seed=3)
    # the fake's premise: from its own weights, torch's curve is the closed form
    initial = [p.data for p in _NoEngineMLP([2, 16, 16, 1], None).ps]
    np.testing.assert_allclose(_closed_form_train(_NoEngineMLP([2, 16, 16, 1], None), X, y, 30),
                               P.torch_training(initial, X, y, 30, 0.5), rtol=1e-6)
    # parameters() is asked once, so every gradient is compared (the fake has none)
    with pytest.raises(AssertionError, match="gradient of layer 1's weight"):
        P.check_mlp(_NoEngineMLP, _engine(), [2, 16, 16, 1], n=5, seed=0)
    # training starts from weights the check draws, not the model's own
    with pytest.raises(AssertionError, match="the loss curve vs the same training in torch"):
        P.check_training(_NoEngineMLP, _closed_form_train, seed=3, steps=30)


def test_the_loss_checks_take_either_form_the_text_gives():
    """ps5's text gives the loss as -y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)) and as
    log(1 + e^z) - y z: both, written with the engine, pass every check of ps5-loss-test (the
    left-hand form rounds 1 - sigmoid(z) and drifts 1e-6 from torch only for logits near 30,
    past what the checks use)."""
    Variable = _engine()

    def by_sigmoid(logits, targets):
        s = ((-logits).exp() + 1.0) ** -1.0
        return (-(s.log() * targets) - (1.0 - s).log() * (1.0 - targets)).mean()

    def softplus(logits, targets):
        return ((logits.exp() + 1).log() - logits * targets).mean()

    cells = [ln.strip() for ln in source_cell("ps5", "ps5-loss-test").splitlines()
             if ln.strip().startswith("check_loss(")]
    assert len(cells) >= 4, cells
    for loss in (by_sigmoid, softplus):
        for call in cells:
            eval(call, {"check_loss": P.check_loss, "bce_with_logits": loss, "Variable": Variable})

