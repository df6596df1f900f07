"""autograder/problems/ps2.py: each helper accepts a right answer and explains a wrong one.

Run in one process, as in a student's kernel; the graded runs (tests/test_assignments.py)
exercise the same helpers in the judge.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import GradientMismatch
from autograder.problems import ps2 as P


def test_local_derivative():
    x = np.array([0.5, 1.0, 2.0])
    P.check_local_derivative(np.exp, torch.exp, x, "exp")
    P.check_local_derivative(lambda t, p: p * t ** (p - 1), torch.pow, x, "pow", 3)
    with pytest.raises(GradientMismatch, match="log"):
        P.check_local_derivative(lambda t: np.log(t), torch.log, x, "log")


def _forward(X, y, W1, b1, W2, b2):
    A = np.tanh(X @ W1 + b1)
    diff = A @ W2 + b2 - y
    return float(np.mean(diff ** 2)), (X, W2, A, diff)


def _backward(cache, *, divide_by=None):
    X, W2, A, diff = cache
    dO = 2.0 * diff / (divide_by(diff) if divide_by else diff.size)
    dZ1 = dO @ W2.T * (1.0 - A ** 2)
    return {"W2": A.T @ dO, "b2": dO.sum(axis=0), "W1": X.T @ dZ1, "b1": dZ1.sum(axis=0)}


def test_network_reference_and_checks():
    X, y, W1, b1, W2, b2 = P.random_network(4, 3, 5, 2, seed=20)
    assert (X.shape, y.shape, W1.shape, b1.shape, W2.shape, b2.shape) == \
        ((4, 3), (4, 2), (3, 5), (5,), (5, 2), (2,))
    loss = P.torch_two_layer_loss(X, y)(*(torch.tensor(p) for p in (W1, b1, W2, b2)))
    assert loss.item() == pytest.approx(_forward(X, y, W1, b1, W2, b2)[0])
    assert P.check_forward(_forward, (4, 3, 5, 2), 20, "right") == pytest.approx(loss.item())
    for names in (["W2", "b2"], ["W1", "b1"]):
        P.check_network_gradients(_forward, _backward, (4, 3, 5, 2), 20, "right", names)


def test_network_names_the_missing_dimension_of_the_mean_without_autograd_advice():
    with pytest.raises(GradientMismatch) as e:
        P.check_network_gradients(_forward, lambda c: _backward(c, divide_by=len), (4, 3, 5, 2), 20,
                                  "1/C missing", ["W2"])
    assert "the 1/2 of dimension 1" in str(e.value)
    assert "backward()" not in str(e.value) and ".grad" not in str(e.value)
    with pytest.raises(AssertionError, match="must return a dict"):
        P.check_network_gradients(_forward, lambda c: [1], (4, 3, 5, 2), 20, "list", ["W2"])


def _unbroadcast(grad, shape):
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, k in enumerate(shape) if k == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def test_unbroadcast():
    for op in ("add", "mul"):
        P.check_unbroadcast(_unbroadcast, (2, 1), (4, 2, 3), 1, "right", op=op)
    with pytest.raises(GradientMismatch, match="missing keepdims"):
        P.check_unbroadcast(lambda g, s: g.sum(axis=1), (3, 1), (3, 4), 2, "no keepdims")


def test_matvec_and_batched_matmul():
    P.check_matvec(lambda A, v, g: (np.outer(g, v), A.T @ g), 2, 3, 40, "right")
    with pytest.raises(GradientMismatch, match="transposed"):
        P.check_matvec(lambda A, v, g: (np.outer(v, g), A.T @ g), 2, 3, 40, "transposed")
    with pytest.raises(AssertionError, match="must return a pair"):
        P.check_matvec(lambda A, v, g: np.outer(g, v), 2, 3, 40, "one array")

    def batched(A, B, G):
        return G @ B.T, (A.transpose(0, 2, 1) @ G).sum(axis=0)

    P.check_batched_matmul(batched, 2, 3, 4, 2, 41, "right")
    with pytest.raises(GradientMismatch, match="missing unbroadcast"):
        P.check_batched_matmul(lambda A, B, G: (G @ B.T, A.transpose(0, 2, 1) @ G), 2, 3, 4, 2, 41,
                               "not summed")


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def test_softmax_checks():
    x = np.array([0.1, -1.0, 2.0, 0.5])
    P.check_softmax_jacobian(lambda t: np.diag(_softmax(t)) - np.outer(_softmax(t), _softmax(t)), x,
                             "right")
    P.check_softmax_vjp(lambda t, v: _softmax(t) * (v - v @ _softmax(t)), 4, 51, "right")
    with pytest.raises(GradientMismatch, match="softmax_vjp"):
        P.check_softmax_vjp(lambda t, v: _softmax(t) * v, 4, 51, "no coupling")


def test_network_names_a_cache_changed_in_place_by_backward():
    def scales_diff(cache):
        X, W2, A, diff = cache
        dO = diff
        dO *= 2.0 / diff.size
        dZ1 = dO @ W2.T * (1.0 - A ** 2)
        return {"W2": A.T @ dO, "b2": dO.sum(axis=0), "W1": X.T @ dZ1, "b1": dZ1.sum(axis=0)}

    for names in (["W2", "b2"], ["W1", "b1"]):
        with pytest.raises(AssertionError, match=r"called a second time on the same cache") as e:
            P.check_network_gradients(_forward, scales_diff, (4, 3, 5, 2), 20, "in place", names)
        assert str(e.value).startswith(f"dL/d{names[0]} (in place, N, D, H, C = (4, 3, 5, 2))")
        assert "likely cause" not in str(e.value)  # the formula was right the first time

    def forward_dict(*args):
        loss, (X, W2, A, diff) = _forward(*args)
        return loss, {"X": X, "W2": W2, "A": A, "diff": diff}

    def pops(cache):  # a dict cache emptied by the first call: the second one raises
        return _backward(tuple(cache.pop(k) for k in ("X", "W2", "A", "diff")))

    P.check_network_gradients(forward_dict, lambda c: _backward(tuple(c.values())), (4, 3, 5, 2),
                              20, "dict", ["W1"])
    with pytest.raises(AssertionError, match=r"two_layer_backward\(cache\) \(popped.*\n"
                                             r"KeyError: 'X'"):
        P.check_network_gradients(forward_dict, pops, (4, 3, 5, 2), 20, "popped", ["W1"])


def test_softmax_checks_name_an_argument_changed_in_place_and_an_overflow():
    def vjp_in_place(t, v):
        s = _softmax(t)
        v -= v @ s
        return s * v

    with pytest.raises(AssertionError, match="softmax_vjp changed its argument v in place"):
        P.check_softmax_vjp(vjp_in_place, 4, 51, "in place")

    def jacobian(t):
        return np.diag(_softmax(t)) - np.outer(_softmax(t), _softmax(t))

    def naive(t):
        s = np.exp(t) / np.exp(t).sum()
        return np.diag(s) - np.outer(s, s)

    P.check_softmax_jacobian(jacobian, [1000.0, 0.0, -1.0], "large")
    P.check_softmax_jacobian(naive, np.array([3.0, 0.0, -1.0]), "small: the naive one is right")
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(GradientMismatch, match="exp\\(x\\) overflows") as e:
            P.check_softmax_jacobian(naive, [1000.0, 0.0, -1.0], "large")
    assert "division by zero" not in str(e.value)
    with np.errstate(divide="ignore"), pytest.raises(GradientMismatch, match="nan or inf") as e:
        # inf of its own, for small x: no overflow hint
        P.check_softmax_jacobian(lambda t: jacobian(t) / 0.0, np.array([3.0, 0.0, -1.0]), "small")
    assert "overflows" not in str(e.value)


def test_a_vjp_that_builds_the_jacobian_fails_within_the_grading_memory_limit():
    """ps2's hidden n = 30000 case: under the address-space limit grading gives a student's
    process (autograder.sandbox.Limits.memory_mb), a vjp that builds the (n, n) Jacobian fails
    with MemoryError, and the O(n) closed form passes. In a subprocess: the limit is per process."""
    import subprocess
    import sys

    code = (
        "import resource, numpy as np\n"
        "from autograder.sandbox import Limits\n"
        "from autograder.problems import ps2 as P\n"
        "mb = 1024 * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (Limits().memory_mb * mb,) * 2)\n"
        "def softmax(x):\n"
        "    e = np.exp(x - x.max())\n"
        "    return e / e.sum()\n"
        "def by_jacobian(x, v):\n"
        "    s = softmax(x)\n"
        "    return v @ (np.diag(s) - np.outer(s, s))\n"
        "P.check_softmax_vjp(lambda x, v: softmax(x) * (v - v @ softmax(x)), 30000, 515, 'closed form')\n"
        "try:\n"
        "    P.check_softmax_vjp(by_jacobian, 30000, 515, 'by the Jacobian')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "MemoryError", proc.stdout
