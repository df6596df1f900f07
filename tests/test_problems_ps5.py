"""autograder.problems.ps5: the helpers of ps5's test cells, run in-process on the solution and
the course's engine (every test cell passes) and on each bug fixture of tests/bugs_ps5.py (a test
cell fails and says what the feedback must say). test_assignments.py grades the same cells in
the judge, on the engine a student submits (tests/test_ps5_engine.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import load_bugs
from inprocess import assert_bug_named, assert_solution_passes

from autograder.data import make_moons
from autograder.problems import ps5 as P
from autograder.testing import torch_mlp

BUGS = load_bugs("ps5")
DEMO = ("ps5-run", "ps5-show")  # the notebook's own training and figure: not tests


def test_the_solution_passes_every_test_cell():
    assert_solution_passes("ps5", at_least=11)


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_each_bug_fails_a_test_cell_that_names_it(bug):
    assert_bug_named("ps5", bug, skip=DEMO)


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
