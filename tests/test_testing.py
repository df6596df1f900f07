"""autograder.testing: the test-cell helpers, in a plain kernel (no judge active).

In the judge the same calls reach the student's process; here they must behave
exactly like the plain Python they stand for, since a student's Validate runs them so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import testing
from autograder.testing import (
    SCALAR_FUNCTIONS,
    calls_to,
    matmul_count,
    remote,
    scalar_function,
    student_side,
    torch_calls,
    torch_mlp,
    type_name,
)


def test_without_a_judge_the_helpers_are_plain_python():
    assert student_side("torch") is torch
    assert student_side("autograder.testing") is testing
    assert type_name(torch.zeros(1)) == "Tensor"
    assert type_name((torch.zeros(1, requires_grad=True) * 2).grad_fn) == "MulBackward0"
    value = [1, 2]
    assert remote(value) is value
    assert not testing.is_student_object(torch.zeros(1))
    # a tensor subclass is a tensor (a student may hand in an nn.Parameter), numpy is not
    assert testing.is_tensor(torch.nn.Parameter(torch.zeros(2)))
    assert testing.is_tensor(torch.zeros(2)) and not testing.is_tensor(np.zeros(2))


def test_plain_copies_subclasses_and_gives_exact_str_keys():
    from collections import OrderedDict, namedtuple

    names = np.array(["W1", "b1"])  # numpy's str_, a str subclass
    got = testing.plain(OrderedDict(zip(names, (1, 2))), dict)
    assert type(got) is dict and got == {"W1": 1, "b1": 2}
    assert all(type(k) is str for k in got)
    pair = testing.plain(namedtuple("P", "a b")(1, 2), tuple)
    assert type(pair) is tuple and pair == (1, 2)
    assert testing.plain({3: "x"}, dict) == {3: "x"}  # other keys as they are
    assert testing.plain("not a dict", dict) == "not a dict"  # for the check to refuse


def test_torch_calls_names_the_torch_functions_called():
    x = torch.randn(2, 3, dtype=torch.float64)
    assert "logsumexp" in torch_calls(torch.logsumexp, x, dim=-1)
    names = torch_calls(lambda t: (t - t.amax(-1, keepdim=True)).exp().sum(-1), x)
    assert "logsumexp" not in names and "exp" in names


def test_matmul_count_counts_products_also_in_backward():
    a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    c = torch.randn(4, 2, dtype=torch.float64)  # needs no gradient
    assert matmul_count(lambda: a @ b) == 1
    assert matmul_count(lambda: (a * 2).sum()) == 0
    # backward of a @ b: one product per input that needs a gradient
    assert matmul_count((a @ b).sum().backward) == 2
    assert matmul_count((a @ c).sum().backward) == 1
    assert matmul_count(torch.dot, b[:, 0], c[:, 0]) == 1


def test_calls_to_records_calls_and_restores_the_originals():
    import torch.autograd.functional as AF

    original, original_hessian = AF.hvp, AF.hessian
    f = scalar_function("cube_sum")
    x, v = torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    results = []
    watch = ["torch.autograd.functional.hvp", "torch.autograd.functional.hessian"]

    def uses_the_helper(x, v):
        results.append(torch.autograd.functional.hvp(f, x, v)[1])

    assert calls_to(watch, uses_the_helper, x, v) == ["torch.autograd.functional.hvp"]
    assert AF.hvp is original
    # the call went through: H v of sum(x**3) is 6 x * v
    np.testing.assert_allclose(results[0].numpy(), (6 * x * v).numpy())

    def by_hand(x, v):
        x = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        return torch.autograd.grad(g, x, grad_outputs=v)

    assert calls_to(watch, by_hand, x, v) == []

    def fails(x):
        torch.autograd.functional.hessian(f, x)
        raise ValueError("boom")

    with pytest.raises(ValueError):
        calls_to(watch, fails, x)
    assert AF.hessian is original_hessian and AF.hvp is original


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_scalar_functions_are_scalar_and_twice_differentiable(name):
    params = {"quadratic_sin": [np.eye(6)], "logsumexp_quartic": [np.ones((5, 6))]}.get(name, [])
    f = scalar_function(name, *params)
    x = torch.linspace(-1, 1, 6, dtype=torch.float64, requires_grad=True)
    y = f(x)
    assert y.shape == () and y.dtype == torch.float64
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    assert g.shape == x.shape and g.requires_grad
    # the parameters were copied: changing the caller's array afterwards changes nothing
    for p in params:
        p += 1.0
    torch.testing.assert_close(f(x), y)


def test_unknown_scalar_function_names_the_known_ones():
    with pytest.raises(KeyError, match="rosenbrock"):
        scalar_function("no such function")


def test_torch_mlp_is_linear_layers_with_tanh_between():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4),
                              torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    params = [p for layer in net if isinstance(layer, torch.nn.Linear)
              for p in (layer.weight, layer.bias)]
    torch.testing.assert_close(torch_mlp(x, *params), net(x))


def test_backward_grads_runs_backward_then_reads_each_grad_in_order():
    """What check_gradients asks of a student's process in one request, on torch's engine."""
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0, 4.0], dtype=torch.float64)
    grads = testing.backward_grads((a * b).sum(), [a, b], None, [True, False])
    assert torch.equal(grads[0], b) and grads[1] is None
    a.grad = None
    g = np.array([1.0, -1.0])
    (ga,) = testing.backward_grads(a * b, [a], torch.tensor(g), [True])
    assert torch.equal(ga, b * torch.tensor(g))
    # backward's own exception propagates; a grad that cannot be read ends the list there
    with pytest.raises(RuntimeError):
        testing.backward_grads(b.sum(), [b], None, [False])

    class NoGrad:
        pass

    c = torch.tensor(1.0, requires_grad=True)
    assert testing.backward_grads(c * 2, [c, NoGrad(), c], None, [True, True, True]) == [c.grad]
    # outside the judge there is nothing remote to call: check_gradients calls backward itself
    assert testing.remote_backward_grads(c * 2, [c], None, [True]) is None


def test_order_summary_counts_distinct_nodes_and_keeps_the_ends():
    x = torch.ones(2, requires_grad=True)
    y = (x * 2).sum()

    def order(root):  # a node twice, as a sort without a visited set lists it
        return [root, root.next_functions[0][0], root.next_functions[0][0]]

    s = testing.order_summary(order, y.grad_fn)
    assert (s["n"], s["distinct"]) == (3, 2)
    assert s["first"] is y.grad_fn and s["last"] is y.grad_fn.next_functions[0][0]
    assert testing.order_summary(lambda root: [], y.grad_fn) == {
        "n": 0, "distinct": 0, "first": None, "last": None}
    bad = testing.order_summary(lambda root: 42, y.grad_fn)
    assert bad["result"] == 42 and bad["error"].startswith("TypeError: ")
    with pytest.raises(ZeroDivisionError):
        testing.order_summary(lambda root: 1 / 0, y.grad_fn)
    assert testing.remote_order_summary(order, y.grad_fn) is None


def test_hook_changes_its_argument_watches_a_real_backward():
    x_np = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert testing.hook_changes_its_argument(lambda g: g * 0.5, x_np) is False
    assert testing.hook_changes_its_argument(lambda g: None, x_np) is False
    assert testing.hook_changes_its_argument(lambda g: g.mul_(0.5), x_np) is True

    def in_place_under_no_grad(g):  # returns nothing: autograd goes on with the changed g
        with torch.no_grad():
            g.mul_(0.5)

    assert testing.hook_changes_its_argument(in_place_under_no_grad, x_np) is True
