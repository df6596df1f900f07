"""Hints that never mislead: each is given only where its diagnosis fits.

As in test_checks.py, every expected gradient comes from torch, and each wrong one is
made the way the mistake makes it (the beginner's formula, run on the same input).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import GradientMismatch, assert_grad_close, random_inputs, torch_gradients

BACKWARD_ADVICE = ("backward()", ".grad", "engine", "topological")


def message_of(got, expected, **kw):
    with pytest.raises(GradientMismatch) as e:
        assert_grad_close(got, expected, "gradient", **kw)
    return str(e.value)


def hints_of(msg: str) -> list[str]:
    return [ln.split("likely cause:", 1)[1].strip() for ln in msg.splitlines() if "likely cause:" in ln]


@pytest.mark.parametrize("shape", [(3,), (2, 3), (7,), (3, 1, 2)])
def test_x_over_2_at_n_other_than_4_is_named(shape):
    (x,) = random_inputs(shape, seed=1)
    expected = torch_gradients(lambda t: (t * t).mean(), [x]).grads[0]
    msg = message_of(x / 2, expected, n=x.size)  # the classic example's formula
    (hint,) = hints_of(msg)
    assert hint.startswith(f"off by a constant factor N/4 = {x.size / 4:g}"), hint
    assert "2x/N" in hint and f"N = {x.size}" in hint
    assert not any(w in hint for w in BACKWARD_ADVICE)


def test_x_over_2_is_right_at_n_4():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = torch_gradients(lambda t: (t * t).mean(), [x]).grads[0]
    assert_grad_close(x / 2, expected, n=4)


@pytest.mark.parametrize("shape,b_shape", [((3, 4), (3, 1)), ((2, 3, 5), (1, 3, 1)), ((3, 4), (1, 4))])
def test_missing_keepdims_is_named(shape, b_shape):
    a, b = random_inputs(shape, b_shape, seed=2)
    ref = torch_gradients(lambda u, v: u * v, [a, b])
    local = ref.grad_output * a
    axes = tuple(i for i, k in enumerate(b_shape) if k == 1)
    got = local.sum(axis=axes)  # keepdims forgotten: the same numbers, a dimension short
    msg = message_of(got, ref.grads[1], output_shape=ref.grad_output.shape)
    hints = hints_of(msg)
    assert len(hints) >= 1 and hints[0].startswith("missing keepdims"), msg
    assert "the same numbers as torch's" in hints[0] and "keepdims=True" in hints[0]
    assert "wrong shape" not in msg


def test_an_extra_size_one_dimension_is_named():
    a, b = random_inputs((3, 4), (4,), seed=3)
    ref = torch_gradients(lambda u, v: u + v, [a, b])
    got = ref.grad_output.sum(axis=0, keepdims=True)  # (1, 4) for a (4,) input
    (hint,) = hints_of(message_of(got, ref.grads[1]))
    assert hint.startswith("an extra size-1 dimension") and "the same numbers" in hint


def two_layer_mean_loss(N, C, seed):
    """A mean over N rows and C columns, as ps2's network: torch's gradient and the numpy one."""
    X, W = random_inputs((N, 3), (3, C), seed=seed)
    ref = torch_gradients(lambda w: ((torch.tensor(X) @ w).tanh() ** 2).mean(), [W])
    Z = X @ W
    dZ = 2 * np.tanh(Z) * (1 - np.tanh(Z) ** 2)  # upstream of the mean: without its 1/(N C)
    return X, dZ, ref.grads[0]


@pytest.mark.parametrize("N,C", [(4, 2), (16, 3), (7, 4)])
def test_a_missing_factor_of_each_dimension_of_a_mean_is_named(N, C):
    X, dZ, expected = two_layer_mean_loss(N, C, seed=N)
    assert_grad_close(X.T @ dZ / (N * C), expected, n=N * C)  # the right formula passes
    for forgot, size in (("C", C), ("N", N)):
        got = X.T @ dZ / (N * C / size)  # 1/C (or 1/N) forgotten
        for n in (N * C, (N, C)):
            msg = message_of(got, expected, n=n)
            hints = hints_of(msg)
            assert hints and hints[0].startswith(f"off by a factor {size}: part of the mean's 1/N "
                                                 f"is missing"), (forgot, n, msg)
            if isinstance(n, tuple):
                axis = (N, C).index(size) if N != C else 0
                assert f"dimension {axis}" in hints[0], hints[0]
            # numpy code has no backward() and no .grad: no advice about them, even at 2x
            assert not any(w in msg.split("likely cause", 1)[1] for w in BACKWARD_ADVICE), msg
    msg = message_of(X.T @ dZ, expected, n=(N, C))  # the whole 1/(N C) forgotten
    assert f"off by a factor of N = {N * C}" in msg and f"{N} x {C}" in msg


def test_doubled_gradient_in_numpy_gets_no_backward_advice():
    x = np.array([1.0, -2.0, 3.0])
    expected = torch_gradients(lambda t: (t * t).sum(), [x]).grads[0]
    (hint,) = hints_of(message_of(4 * x, expected))
    assert hint.startswith("exactly 2x torch's") and not any(w in hint for w in BACKWARD_ADVICE)


def test_doubled_grad_of_a_tensor_names_backward_twice():
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    for _ in range(2):
        (x * x).sum().backward()  # twice, without zeroing
    expected = torch_gradients(lambda t: (t * t).sum(), [x.detach()]).grads[0]
    (hint,) = hints_of(message_of(x.grad, expected))
    assert "backward() called twice without zeroing .grad" in hint


def test_none_from_a_numpy_function_says_return_missing():
    (x,) = random_inputs((3,), seed=5)
    expected = torch_gradients(lambda t: t.exp().sum(), [x]).grads[0]
    msg = message_of(None, expected, context="numpy")
    assert "return" in msg and "leaf" not in msg


def test_no_diagnosis_says_what_differs_and_no_more():
    (x,) = random_inputs((4,), seed=6)
    expected = torch_gradients(lambda t: (t ** 3).sum(), [x]).grads[0]
    (hint,) = hints_of(message_of(0.75 * expected, expected))
    assert hint == "off by a constant factor 0.75: every entry is torch's times 0.75."
    other = expected + np.array([0.0, 0.3, 0.0, 0.0])  # not a pattern: no likely cause at all
    assert hints_of(message_of(other, expected)) == []


def test_an_engines_grad_is_autograd_context_although_it_is_a_numpy_array():
    # ps3/ps5: a Variable's .grad is a numpy array; the check's name says it is a .grad
    (x,) = random_inputs((3,), seed=7)
    expected = torch_gradients(lambda t: (t * t).sum(), [x]).grads[0]
    msg = message_of(2 * expected, expected)  # named "gradient": computed by hand
    assert "backward()" not in msg
    with pytest.raises(GradientMismatch) as e:
        assert_grad_close(2 * expected, expected, "SGD.zero_grad(), then one more backward(): weight.grad")
    assert "backward() called twice without zeroing .grad" in str(e.value)
