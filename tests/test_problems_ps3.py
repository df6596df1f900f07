"""autograder.problems.ps3: each helper of ps3's test cells, on the solution engine and on
broken ones (in-process; tests/test_ps3.py runs the cells themselves, test_assignments.py
grades them with the judge)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ps3 import cells, code_of, engine_kernel

from autograder import random_inputs
from autograder.problems import ps3 as P


@pytest.fixture(scope="module")
def engine():
    return engine_kernel()


def test_same_compares_values_and_names_the_cause():
    P.same((2, 3), (2, 3), "shape")
    with pytest.raises(AssertionError, match=r"shape: torch gives \(2, 3\), yours gives \(3, 2\)\n"
                                             r"  likely cause: transposed"):
        P.same((3, 2), (2, 3), "shape", "transposed")
    with pytest.raises(AssertionError) as e:
        P.same(None, 1, "grad")
    assert "likely cause" not in str(e.value)


def test_require_float64():
    P.require_float64(np.zeros(2), "data")
    for bad, kind in [(np.zeros(2, dtype=np.float32), "float32"), ([0.0, 1.0], "list")]:
        with pytest.raises(AssertionError, match=f"data must be a float64 numpy array, got .*{kind}"):
            P.require_float64(bad, "data")


def test_raises_gives_the_type_like_torch():
    t = torch.ones(2, 3, requires_grad=True) + 1.0
    assert P.raises(lambda: t.backward()) is RuntimeError
    assert P.raises(lambda: None) is None


def test_quiet_grad_reads_a_non_leaf_without_warning():
    x = torch.ones(2, requires_grad=True)
    h = x * 2.0
    h.sum().backward()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.quiet_grad(h) is None
    assert torch.equal(P.quiet_grad(x), torch.full((2,), 2.0, dtype=x.dtype))


@pytest.mark.parametrize("out_shape, shape", [((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), ()),
                                              ((2, 3, 4), (2, 1, 4))])
def test_torch_unbroadcast_is_torchs_gradient_of_a_broadcast_input(out_shape, shape):
    (g,) = random_inputs(out_shape, seed=1)
    got = P.torch_unbroadcast(g, shape)
    a = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    (a + torch.zeros(out_shape, dtype=torch.float64)).backward(torch.tensor(g))
    assert got.shape == shape
    np.testing.assert_allclose(got, a.grad.numpy())


def test_two_backward_calls_passes_accumulation_and_fails_assignment(engine):
    V = engine.ns["Variable"]
    P.two_backward_calls(V, *random_inputs((3,), (3,), (3,), seed=2), "(solution)")
    broken = engine_kernel({"ps3-nodes": [("leaf.grad = leaf.grad + grad", "leaf.grad = grad")]})
    with pytest.raises(AssertionError, match="equal to the last backward\\(\\) call"):
        P.two_backward_calls(broken.ns["Variable"], *random_inputs((3,), (3,), (3,), seed=2), "(broken)")


def test_reaches_caller():
    import contextlib

    class Swallow:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return True

    assert P.reaches_caller(torch.no_grad()) is True
    assert P.reaches_caller(contextlib.nullcontext()) is True
    assert P.reaches_caller(Swallow()) is False


def test_mlp_loss_and_deep_mixed_run_on_both_engines(engine):
    V = engine.ns["Variable"]
    arrays = random_inputs((5, 3), (3, 4), (4,), (4, 2), seed=3)
    mine = P.mlp_loss(*[V(a) for a in arrays])
    ref = P.mlp_loss(*[torch.tensor(a) for a in arrays])
    np.testing.assert_allclose(mine.data, ref.numpy())
    (x0,) = random_inputs((3,), seed=4)
    x, xt = V(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, yt = P.deep_mixed(x, n=50), P.deep_mixed(xt, n=50)
    y.backward()
    yt.backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    # 50 steps of mul, tanh, add, then sum: the graph is that deep
    assert len(engine.ns["topological_order"](y.grad_fn)) == 3 * 50 + 2


def test_compare_graphs_passes_the_solution_and_names_a_wrong_node(engine):
    P.compare_graphs(engine.ns["Variable"], "a * b", lambda a, b: (a * b).sum(), [(3,), (3,)], seed=5)
    broken = engine_kernel({"ps3-mul": [("MulBackward0, a, b, saved", "Node, a, b, saved")]})
    with pytest.raises(AssertionError, match="the graph of a \\* b"):
        P.compare_graphs(broken.ns["Variable"], "a * b", lambda a, b: a * b, [(3,), (3,)], seed=5)


# ---------------------------------------------------------------------------- topological order


def diamond(V):
    (x0,) = random_inputs((3,), seed=6)
    x, xt = V(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    return (x + 1.0) + (x + x), (xt + 1.0) + (xt + xt)


def test_check_topological_order_passes_the_solution_and_kahn(engine):
    y, yt = diamond(engine.ns["Variable"])
    P.check_topological_order(engine.ns["topological_order"], y, yt, "the diamond")

    def topo_kahn(root):  # lesson 6's second order, for the engine's nodes
        users, stack, seen = {}, [root], {root}
        while stack:
            for child, _ in stack.pop().next_functions:
                if child is None:
                    continue
                users[child] = users.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        order, ready = [], [root]
        while ready:
            node = ready.pop()
            order.append(node)
            for child, _ in node.next_functions:
                if child is not None:
                    users[child] -= 1
                    if users[child] == 0:
                        ready.append(child)
        return order

    P.check_topological_order(topo_kahn, y, yt, "the diamond")


@pytest.mark.parametrize("name, order, expect", [
    ("not reversed", lambda f: lambda root: f(root)[::-1], "post-order was not reversed"),
    ("twice", lambda f: lambda root: f(root) + f(root)[-1:], "more than once"),
    ("missing the leaf", lambda f: lambda root: f(root)[:-1], "misses AccumulateGrad"),
    ("a None", lambda f: lambda root: f(root) + [None], "None entries of next_functions"),
    ("leaf too early", lambda f: lambda root: [f(root)[0], f(root)[-1]] + f(root)[1:-1], "before AddBackward0"),
    ("empty", lambda f: lambda root: [], "is empty"),
    ("a generator", lambda f: lambda root: iter(f(root)), None),
])
def test_check_topological_order_names_what_is_wrong(engine, name, order, expect):
    y, yt = diamond(engine.ns["Variable"])
    f = order(engine.ns["topological_order"])
    if expect is None:  # any iterable of the nodes is accepted
        P.check_topological_order(f, y, yt, "the diamond")
        return
    with pytest.raises(AssertionError, match=expect):
        P.check_topological_order(f, y, yt, "the diamond")


def test_check_topological_order_compares_the_nodes_with_torchs(engine):
    y, _ = diamond(engine.ns["Variable"])
    (x0,) = random_inputs((3,), seed=6)
    xt = torch.tensor(x0, requires_grad=True)
    with pytest.raises(AssertionError, match="torch's graph of the same expression has"):
        P.check_topological_order(engine.ns["topological_order"], y, (xt + 1.0) * xt, "the diamond")


def test_recursive_order_fails_the_deep_check_with_the_cause():
    from bugs_ps3 import BUGS

    bug = next(b for b in BUGS if b.name == "recursive-topological-sort")
    k = engine_kernel(bug.edits)
    V, topo, chain = k.ns["Variable"], k.ns["topological_order"], __import__("autograder.testing").testing.add_chain
    (x0,) = random_inputs((2,), seed=7)
    x, xt = V(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    with pytest.raises(AssertionError, match="raised RecursionError(.|\n)*explicit stack"):
        P.check_deep_topological_order(topo, x, chain(x, 0.001, 3_000), chain(xt, 0.001, 3_000), "a chain")


def test_check_deep_topological_order(engine):
    from autograder.testing import add_chain

    V, topo = engine.ns["Variable"], engine.ns["topological_order"]
    (x0,) = random_inputs((2,), seed=8)
    x, xt = V(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, yt = add_chain(x, 0.001, 3_000), add_chain(xt, 0.001, 3_000)
    P.check_deep_topological_order(topo, x, y, yt, "a chain")
    for bad, expect in [(lambda r: topo(r)[:-1], "lists 3000 nodes, torch's graph has 3001"),
                        (lambda r: topo(r)[::-1], "does not start with root"),
                        (lambda r: topo(r)[:-1] + topo(r)[:1], "more than once")]:
        with pytest.raises(AssertionError, match=expect):
            P.check_deep_topological_order(bad, x, y, yt, "a chain")
    other = V(x0, requires_grad=True)
    with pytest.raises(AssertionError, match="not with the AccumulateGrad of x"):
        P.check_deep_topological_order(topo, other, y, yt, "a chain")


def test_no_test_or_judge_cell_defines_a_function_or_class():
    """ps3's helpers live in autograder.problems.ps3: its test and set-up cells only call them."""
    import ast

    for cell in cells():
        meta = cell.metadata.get("nbgrader", {})
        role = cell.metadata.get("autograder", {}).get("role")
        if cell.cell_type != "code" or meta.get("solution") or role in ("program", "both"):
            continue
        tree = ast.parse(code_of(cell))
        defined = [n.name for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defined, f"{cell.id} defines {defined}: move them to autograder/problems/ps3.py"
