"""autograder/problems/ps1.py: each helper accepts a right answer and explains a wrong one.

Run in one process, as in a student's kernel (``student_side("torch")`` is torch itself);
the graded runs (tests/test_assignments.py) exercise the same helpers in the judge.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import GradientMismatch, random_inputs
from autograder.problems import ps1 as P
from autograder.testing import call_keeping_inputs


def test_batch_mean_square_accepts_2x_over_rows():
    for shape in [(3, 2), (1, 4), (5, 1)]:
        (x,) = random_inputs(shape, seed=1)
        P.check_batch_mean_square(lambda a: 2 * a / a.shape[0], x, f"shape {shape}")


@pytest.mark.parametrize("wrong, says", [
    (lambda a: 2 * a / a.size, "divided by x.size = 3 x 2"),
    (lambda a: a / 2, "the N of the 2x2 example"),
    (lambda a: 2 * a, "off by a factor of N = 3"),
])
def test_batch_mean_square_names_the_mistake(wrong, says):
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(GradientMismatch) as e:
        P.check_batch_mean_square(wrong, x, "A1")
    assert says in str(e.value)
    assert "backward()" not in str(e.value)  # numpy code: no advice about autograd


def test_product_plus_square_is_torch():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0])
    assert P.product_plus_square(a, b).item() == pytest.approx((1 * 3 + 1) + (2 * -1 + 4))


def _abc(seed=3, shape=(3,)):
    arrays = dict(zip("abc", random_inputs(shape, shape, shape, seed=seed)))
    a, b = (torch.tensor(arrays[k], requires_grad=True) for k in "ab")
    return arrays, a, b, torch.tensor(arrays["c"])


def test_graph_tree_reads_nodes_inputs_in_order_and_leaves():
    arrays, a, b, c = _abc()
    tree = P.graph_tree((a.exp() * b + a * c).sum(), arrays)
    assert tree == ("SumBackward0", ("AddBackward0",
                                     ("MulBackward0", ("ExpBackward0", ("AccumulateGrad", "a")),
                                      ("AccumulateGrad", "b")),
                                     ("MulBackward0", ("AccumulateGrad", "a"), None)))
    assert P.graph_tree(c * 2, arrays) is None  # no graph
    drawing = P.format_tree(tree)
    assert drawing.splitlines()[0] == "SumBackward0" and "        None" in drawing


def test_same_graph_passes_and_fails_with_the_place_and_the_order():
    arrays, a, b, c = _abc()
    expected = (a.exp() * b + a * c).sum()
    P.check_same_graph((torch.exp(a) * b + a * c).sum(), expected, arrays, "same")
    with pytest.raises(AssertionError, match="inputs of MulBackward0 in another order"):
        P.check_same_graph((b * a.exp() + a * c).sum(), expected, arrays, "swapped")
    with pytest.raises(AssertionError, match=r"at out.grad_fn: expected SumBackward0 with 1 input, "
                                             r"yours is MeanBackward0"):
        P.check_same_graph((a.exp() * b + a * c).mean(), expected, arrays, "mean")
    with pytest.raises(AssertionError, match="does not require grad"):
        P.describe_graph(c.sum(), arrays, "constant")
    with pytest.raises(AssertionError, match="expected a torch tensor"):
        P.describe_graph([1.0], arrays, "list")


def test_torch_chain_and_chain_leaves():
    a, b, c = P.chain_leaves(torch, random_inputs((3,), (3,), (3,), seed=1))
    assert a.requires_grad and b.requires_grad and not c.requires_grad
    assert P.torch_chain((c * a).tanh().mean()) == ["MeanBackward0", "TanhBackward0", "MulBackward0",
                                                    "AccumulateGrad"]
    assert P.torch_chain(c * 2) == []


def _w(seed=5):
    return torch.tensor(random_inputs((3,), seed=seed)[0].astype("float32"), requires_grad=True)


def test_made_tensor_accepts_what_the_task_asks():
    w = _w()
    ref = (w.detach() * 0.01).requires_grad_()
    P.check_made_tensor({"param": (w.detach() * 0.01).requires_grad_()}, "param", ref)
    P.check_made_tensor({"double": w.double()}, "double", w.double(), dtype=True)
    P.check_made_tensor({"param": w * 0.01}, "param", ref, values_only=True)  # values only


@pytest.mark.parametrize("made, key, says", [
    ({"param": "w"}, "param", "must be a torch tensor"),
    ({}, "param", "has no entry 'param'"),
    ([], "param", "must return a dict"),
    ({"param": None}, "param", "must be a torch tensor"),
])
def test_made_tensor_rejects_what_is_not_asked(made, key, says):
    with pytest.raises(AssertionError, match=says):
        P.check_made_tensor(made, key, _w())


def test_made_tensor_names_the_attribute_and_the_fix():
    w = _w()
    with pytest.raises(AssertionError, match=r"made\['param'\].is_leaf: torch says True.*\.detach\(\)"):
        P.check_made_tensor({"param": w * 0.01}, "param", (w.detach() * 0.01).requires_grad_())
    with pytest.raises(AssertionError, match=r"made\['target'\].requires_grad: torch says False"):
        P.check_made_tensor({"target": w * 3}, "target", (w * 3).detach())
    with pytest.raises(AssertionError, match="4 bytes an element, a float64 tensor has 8"):
        P.check_made_tensor({"double": w.clone()}, "double", w.double(), dtype=True)
    with pytest.raises(GradientMismatch, match="its values"):
        P.check_made_tensor({"target": (w * 2).detach()}, "target", (w * 3).detach())


def test_w_grad_says_none_for_a_non_leaf():
    w = _w()
    kept = w.tanh()
    (kept * kept).sum().backward()
    with pytest.warns(UserWarning):
        got = kept.grad
    with pytest.raises(GradientMismatch, match="retain_grad"):
        P.check_w_grad(got, 2 * kept.detach(), "kept.grad")
    P.check_w_grad(w.grad, w.grad.clone(), "w.grad")


def _train(w0, X, y, lr, steps, *, zero=True, share_w0=False):
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    w = (torch.as_tensor(w0, dtype=torch.float64).requires_grad_() if share_w0  # w0's memory
         else torch.tensor(w0, dtype=torch.float64, requires_grad=True))
    grads = []
    for _ in range(steps):
        ((X @ w - y) ** 2).mean().backward()
        grads.append(w.grad.detach().clone().numpy())
        with torch.no_grad():
            w -= lr * w.grad
        if zero:
            w.grad.zero_()
    return w.detach().numpy(), grads


def test_training_accepts_a_loop_that_zeroes_and_names_one_that_does_not():
    X, y, w0 = random_inputs((6, 2), (6,), (2,), seed=0)
    P.check_training(_train, w0, X, y, 0.1, 3, "right")
    with pytest.raises(AssertionError, match="w.grad was not zeroed between steps"):
        P.check_training(lambda *a: _train(*a, zero=False), w0, X, y, 0.1, 3, "accumulates")
    with pytest.raises(AssertionError, match="one gradient per step"):
        P.check_training(lambda *a: (w0, []), w0, X, y, 0.1, 3, "empty")


def test_call_keeping_inputs_returns_the_result_and_names_an_argument_changed_in_place():
    a, b = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    got = call_keeping_inputs(lambda x, y, k: x * y * k, "f", {"x": a, "y": b}, "f(x, y)", 2.0)
    np.testing.assert_array_equal(got, 2.0 * a * b)

    def adds_into_y(x, y):
        y += x
        return y

    with pytest.raises(AssertionError, match=r"^f\(x, y\): f changed its argument y in place") as e:
        call_keeping_inputs(adds_into_y, "f", {"x": a, "y": b}, "f(x, y)", hints={"y": "aliased"})
    assert "likely cause: aliased" in str(e.value)
    np.testing.assert_array_equal(b, [0.5, 4.0])  # the caller's arrays are never handed out
    with pytest.raises(AssertionError, match="changed its argument x in place"):  # 0-d too
        call_keeping_inputs(lambda x: x.__iadd__(1.0), "f", {"x": np.array(2.0)}, "f(x)")
    with pytest.raises(AssertionError, match="changed its argument x in place"):  # reshaped
        call_keeping_inputs(lambda x: setattr(x, "shape", (2, 1)), "f", {"x": a}, "f(x)")


def test_batch_mean_square_names_an_x_scaled_in_place():
    def scales_x(x):
        x *= 2.0 / x.shape[0]
        return x

    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(AssertionError, match="grad_batch_mean_square changed its argument x in place"):
        P.check_batch_mean_square(scales_x, x, "A1")
    np.testing.assert_array_equal(x, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def test_training_names_a_w_that_shares_w0s_memory():
    def shares_w0(*args):
        return _train(*args, share_w0=True)

    X, y, w0 = random_inputs((6, 2), (6,), (2,), seed=0)
    with pytest.raises(AssertionError, match="w0 in place") as e:
        P.check_training(shares_w0, w0, X, y, 0.1, 3, "aliased")
    assert "likely cause: torch.as_tensor(w0)" in str(e.value)
