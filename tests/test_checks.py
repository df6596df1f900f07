"""autograder.checks: comparisons with torch.autograd and the diagnosis of each bug signature.

Every expected gradient comes from torch; each buggy gradient is made from
torch's the way the bug would make it, and the test checks the hint names it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_engine import Tiny

from autograder import (
    GradientMismatch,
    assert_grad_close,
    check_gradients,
    random_inputs,
    to_array,
    torch_gradients,
)


def message_of(got, expected, **kw):
    with pytest.raises(GradientMismatch) as e:
        assert_grad_close(got, expected, "x.grad", **kw)
    return str(e.value)


def test_seed_example_matches_torch():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    ref = torch_gradients(lambda t: torch.mean(t * t), [x])
    t = torch.tensor(x, requires_grad=True)
    torch.mean(t * t).backward()
    np.testing.assert_allclose(ref.grads[0], t.grad.numpy())
    assert float(ref.value) == pytest.approx(torch.mean(t * t).item())
    assert_grad_close(t.grad, ref.grads[0])  # a correct gradient passes


def test_a_given_grad_output_gives_torchs_backward_gradient_bit_for_bit():
    """torch_gradients seeds a non-scalar output as (out * g).sum(): the same gradients as
    torch's out.backward(g), exactly, for a product, a broadcast, a matmul and a cast."""
    exprs = [(lambda a, b: a * b + a, (2, 3), (3,)),
             (lambda a, b: (a @ b).tanh(), (2, 3), (3, 4)),
             (lambda a, b: (a.float() * b.float()).exp(), (3,), (3,))]
    for fn, *shapes in exprs:
        inputs = random_inputs(*shapes, seed=3)
        ref = torch_gradients(fn, inputs, seed=3)
        leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
        out = fn(*leaves)
        out.backward(torch.tensor(ref.grad_output, dtype=out.dtype))
        for got, leaf in zip(ref.grads, leaves):
            assert np.array_equal(got, leaf.grad.numpy()), (got, leaf.grad)


def test_message_reports_shape_max_error_and_first_index():
    (x,) = random_inputs((3, 4), seed=3)
    exp = torch_gradients(lambda t: (t.tanh() * t).sum(), [x]).grads[0]
    got = exp.copy()
    got[1, 2] += 0.25
    msg = message_of(got, exp)
    assert "(3, 4)" in msg
    assert "max abs error:  0.25" in msg
    assert "first differing index (1, 2)" in msg


def test_diagnoses_double_accumulation():
    (x,) = random_inputs((5,), seed=1)
    exp = torch_gradients(lambda t: (t * t).sum(), [x]).grads[0]
    assert "exactly 2x" in message_of(2 * exp, exp)


def test_diagnoses_missing_one_over_n_of_the_mean():
    (x,) = random_inputs((2, 3), seed=2)
    exp = torch_gradients(lambda t: (t * t).mean(), [x]).grads[0]
    got = torch_gradients(lambda t: (t * t).sum(), [x]).grads[0]  # forgot to divide by N
    assert "factor of N = 6" in message_of(got, exp, n=6)


def test_diagnoses_sign_flip():
    a, b = random_inputs((4,), (4,), seed=4)
    exp = torch_gradients(lambda u, v: (u - v).pow(2).sum(), [a, b]).grads[1]
    assert "sign flip" in message_of(-exp, exp)


def test_diagnoses_transposed_matmul_gradient():
    a, b = random_inputs((3, 4), (4, 2), seed=5)
    exp = torch_gradients(lambda u, v: (u @ v).sum(), [a, b]).grads[0]
    msg = message_of(exp.T, exp)
    assert "transposed" in msg


def test_diagnoses_transposed_square_gradient():
    a, b = random_inputs((3, 3), (3, 3), seed=6)
    exp = torch_gradients(lambda u, v: ((u @ v) ** 2).sum(), [a, b]).grads[0]
    assert "transposed" in message_of(exp.T, exp)


def test_diagnoses_output_shaped_gradient_not_unbroadcast():
    a, b = random_inputs((3, 4), (4,), seed=7)
    res = torch_gradients(lambda u, v: u * v, [a, b])
    wrong = res.grad_output * a  # b's gradient before summing over the broadcast rows
    msg = message_of(wrong, res.grads[1], output_shape=(3, 4))
    assert "missing unbroadcast" in msg and "shape of the output" in msg
    assert "summed, it matches torch" in msg


def test_diagnoses_none_gradient():
    (x,) = random_inputs((2,), seed=8)
    exp = torch_gradients(lambda t: t.exp().sum(), [x]).grads[0]
    assert "None" in message_of(None, exp) and "leaf" in message_of(None, exp)


def test_diagnoses_last_path_only():
    (x,) = random_inputs((3,), seed=9)
    res = torch_gradients(lambda t: (t * t.exp() + t * 3).sum(), [x], per_use=True)
    uses = res.use_grads[0]
    assert len(uses) >= 2
    np.testing.assert_allclose(sum(uses), res.grads[0])
    msg = message_of(uses[0], res.grads[0], use_grads=uses)
    assert "one path only" in msg and "accumulated" in msg


def test_fake_results_never_compare_equal():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

        def __array__(self, dtype=None, copy=None):
            return np.array([object()])

    (x,) = random_inputs((2,), seed=10)
    exp = torch_gradients(lambda t: t.sum(), [x]).grads[0]
    for fake in (AlwaysEqual(), "1.0", np.array(["1", "1"])):
        with pytest.raises(GradientMismatch):
            assert_grad_close(fake, exp)
    with pytest.raises(GradientMismatch, match="shape"):
        assert_grad_close(exp.reshape(1, 2), exp)


def test_to_array_accepts_real_results():
    t = torch.ones(2, dtype=torch.float32)
    assert to_array(t).dtype == np.float64
    assert to_array(3) == 3.0
    assert to_array(None) is None


def test_check_gradients_passes_a_correct_engine():
    a, b = random_inputs((3,), (3,), seed=11)
    res = check_gradients(lambda u, v: (u * v + u).sum(), [a, b], Tiny, name="mul+add")
    np.testing.assert_allclose(res.grads[0], b + 1)  # d/du (u*v + u) = v + 1
    res = check_gradients(lambda u: u * u, [a], Tiny, name="non-scalar")
    np.testing.assert_allclose(res.grads[0], 2 * a * res.torch.grad_output)


@pytest.mark.parametrize("bug,hint", [
    ("assign_instead_of_accumulate", "one path only"),
    ("double_backward", "exactly 2x"),
])
def test_check_gradients_names_the_engines_bug(monkeypatch, bug, hint):
    monkeypatch.setattr(Tiny, bug, True)
    (x,) = random_inputs((4,), seed=12)
    with pytest.raises(GradientMismatch) as e:
        check_gradients(lambda u: (u * u + u * 3).sum(), [x], Tiny, name="x used twice",
                        input_names=["x"])
    assert "x used twice: gradient of x" in str(e.value)
    assert hint in str(e.value)


def test_check_gradients_reports_a_crashing_forward():
    class Broken(Tiny):
        def __mul__(self, other):
            raise ValueError("not yet")

    (x,) = random_inputs((2,), seed=13)
    with pytest.raises(GradientMismatch, match="forward pass on your engine raised ValueError"):
        check_gradients(lambda u: (u * u).sum(), [x], Broken)


def test_check_gradients_explains_a_shape_crash_in_backward():
    """An engine without unbroadcast passes a (2, 3) gradient to a reshape of a (3, 1) input."""
    class WithReshape(Tiny):  # Tiny never unbroadcasts
        def reshape(self, *shape):
            old = self.data.shape
            return WithReshape(self.data.reshape(*shape), True, (self,), lambda g: (g.reshape(old),))

        def __add__(self, other):
            out = Tiny.__add__(self, other)
            return WithReshape(out.data, True, out._parents, out._backward)

    a, b = random_inputs((2, 3), (3, 1), seed=14)
    with pytest.raises(GradientMismatch) as e:
        check_gradients(lambda u, v: (v.reshape(3) + u).sum(), [a, b], WithReshape,
                        name="broadcast after a reshape")
    text = str(e.value)
    assert "backward() on your engine raised ValueError" in text
    assert "unbroadcast" in text
