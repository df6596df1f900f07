"""Test helpers of ps3 (*Mini-backward*): what its test cells and its test set-up import.

They run where the test cells run: in a student's own kernel, next to the student's engine;
during grading, in the judge, where the student's objects (``Variable``, its nodes) are
proxies. So they follow the judge's rules (docs/architecture.md): the student's class is a
parameter (never looked up by name), student objects are compared by identity or through
arrays, class names come from :func:`autograder.testing.type_name`, expected values from the
judge's own torch, and nothing defined here is handed into student code.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..checks import assert_grad_close, likely_cause, torch_gradients
from ..graph import graph_data, order_violations, reachable
from ..i18n import _
from ..testing import remote_order_summary, repeat, require_float64, type_name

__all__ = ["same", "require_float64", "raises", "quiet_grad", "torch_unbroadcast",
           "two_backward_calls", "two_leaves_two_calls", "reaches_caller", "mlp_loss",
           "deep_mixed", "compare_graphs", "check_topological_order",
           "check_deep_topological_order"]


def same(got, expected, what: str, hint: str = "") -> None:
    """An attribute of the student's engine against torch's for the same expression.

    Student objects compare by identity (a proxy's ``==`` is ``is``), plain data by value.
    """
    if got != expected:
        raise AssertionError(_("{what}: torch gives {expected!r}, yours gives {got!r}").format(
            what=what, expected=expected, got=got) + ("\n  " + likely_cause(hint) if hint else ""))


def raises(f):
    """The type of exception ``f()`` raises, or None (to compare the student's errors with torch's)."""
    try:
        f()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


def quiet_grad(t):
    """``t.grad`` of a torch tensor without torch's warning about reading a non-leaf's ``.grad``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return t.grad


def torch_unbroadcast(grad, shape) -> np.ndarray:
    """What torch does: the gradient of an input of ``shape`` broadcast up to ``grad``'s shape."""
    grad = np.asarray(grad, dtype=np.float64)
    zeros = np.zeros(grad.shape)
    return torch_gradients(lambda a, z: a + z, [np.zeros(shape), zeros], grad_output=grad).grads[0]


def two_backward_calls(Variable, x0, g1, g2, label: str) -> None:
    """``(x + x).backward(g1)`` then ``(x + 1).backward(g2)``: ``x.grad`` must hold the sum of
    both calls, as torch's does (``Variable``: the student's class)."""
    import torch

    xt = torch.tensor(x0, requires_grad=True)
    (xt + xt).backward(torch.tensor(g1))
    first = xt.grad.clone()
    (xt + 1.0).backward(torch.tensor(g2))
    x = Variable(x0, requires_grad=True)
    (x + x).backward(g1)
    (x + 1.0).backward(g2)
    assert_grad_close(x.grad, xt.grad,
                      _("x.grad after (x + x).backward(g1), then (x + 1).backward(g2) {label}")
                      .format(label=label),
                      per_call=[first.numpy(), (xt.grad - first).numpy()])


def two_leaves_two_calls(Variable, a0, b0, g1, g2, label: str) -> None:
    """``(a + b).backward(g1)`` then, on a new graph, ``(a + b).backward(g2)``: ``a.grad`` and
    ``b.grad`` must each hold ``g1 + g2``, as torch's do. Both leaves receive the very same
    gradient array from ``+``: an engine that keeps it as ``.grad`` without a copy, then adds
    the next gradient in place, changes both leaves' ``.grad`` at once."""
    import torch

    at, bt = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    (at + bt).backward(torch.tensor(g1))
    first = at.grad.clone()
    (at + bt).backward(torch.tensor(g2))
    shared = np.asarray(g1, dtype=np.float64) + 2 * np.asarray(g2, dtype=np.float64)
    a, b = Variable(a0, requires_grad=True), Variable(b0, requires_grad=True)
    # copies: in a student's kernel (one process) an engine that keeps its argument as .grad
    # and changes it would otherwise change g1 itself; in the judge it has a copy anyway
    (a + b).backward(np.array(g1, dtype=np.float64))
    (a + b).backward(np.array(g2, dtype=np.float64))
    for name, got, want in (("a", a.grad, at.grad), ("b", b.grad, bt.grad)):
        what = _("{name}.grad after (a + b).backward(g1), then (a + b).backward(g2) {label}").format(
            name=name, label=label)
        try:
            arr = np.asarray(got, dtype=np.float64)
        except Exception:  # noqa: BLE001  (not numbers: assert_grad_close says what it got)
            arr = None
        if arr is not None and arr.shape == shared.shape and np.allclose(arr, shared) \
                and not np.allclose(arr, want.numpy()):
            raise AssertionError(
                _("{what}: g1 + 2 g2, not g1 + g2").format(what=what) + "\n  " + likely_cause(_(
                    "the first gradient kept as .grad without a copy: a and b got the same array "
                    "from +, so adding the second gradient in place changed both (store a copy "
                    "the first time, or add with leaf.grad = leaf.grad + grad)")))
        assert_grad_close(got, want, what, per_call=[first.numpy(), (want - first).numpy()])


def reaches_caller(block) -> bool:
    """Whether an exception raised inside ``with block:`` reaches the code around the block."""
    try:
        with block:
            raise ValueError("raised inside the block")
    except ValueError:
        return True
    return False


def mlp_loss(X, W1, b1, W2):
    """A small network's loss, written once for both engines: sigmoid(tanh(X @ W1 + b1) @ W2).mean()."""
    return ((X @ W1 + b1).tanh() @ W2).sigmoid().mean()


def deep_mixed(u, n: int = 1_000):
    """``u = (u * 0.999).tanh() + 0.001``, ``n`` times, then ``.sum()``: a deep graph of three ops
    (built where ``u`` lives, in one request: :func:`autograder.testing.repeat`)."""
    return repeat(u, n, [("mul", 0.999), ("tanh",), ("add", 0.001)]).sum()


def compare_graphs(Variable, label: str, f, shapes, seed: int, positive: bool = False,
                   requires_grad=None) -> None:
    """``f`` on the student's ``Variable`` and on torch, the same random inputs: the graphs
    (node names, ``next_functions``) must be the same (:func:`autograder.graph.assert_same_graph`)."""
    import torch

    from ..checks import random_inputs
    from ..graph import assert_same_graph

    arrays = random_inputs(*shapes, seed=seed, positive=positive)
    rg = requires_grad or [True] * len(arrays)
    mine = [Variable(a, requires_grad=r) for a, r in zip(arrays, rg)]
    ref = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, rg)]
    assert_same_graph(f(*ref), f(*mine), _("the graph of {label}").format(label=label))


# ---------------------------------------------------------------------------- topological order

def _recursion() -> str:
    """The likely cause of a RecursionError in a walk of a deep graph (in the learner's language)."""
    return "  " + likely_cause(_("a recursive walk of the graph hits Python's recursion limit (about "
                                 "1,000 nested calls) on a deep graph; walk it with an explicit "
                                 "stack (a list) instead"))


def _order_of(topological_order, root, label: str, summarise: bool = False):
    """The student's ``topological_order(root)`` as a list, its errors as failed checks.

    ``summarise``: in the judge, summarised where the function runs instead
    (:func:`autograder.testing.order_summary`: length, distinct nodes, first and last), as that
    dict; elsewhere, or if its answer is malformed, the list."""
    raised = _("topological_order(root) for {label} raised {error}")
    remote = remote_order_summary(topological_order, root) if summarise else None
    summary = None
    try:
        summary = remote() if remote is not None else None
        if summary is None:
            order = topological_order(root)
    except RecursionError as e:
        raise AssertionError(raised.format(label=label, error=f"RecursionError: {e}") + "\n"
                             + _recursion()) from None
    except Exception as e:  # noqa: BLE001
        raise AssertionError(raised.format(label=label, error=f"{type(e).__name__}: {e}")) from None
    if summary is not None:
        if "error" not in summary:
            return summary
        order, error = summary["result"], summary["error"]  # not iterable, found there
    else:
        try:
            return list(order)
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
    raise AssertionError(_("topological_order(root) for {label} must return a list of nodes, "
                           "got {type} ({error})").format(
        label=label, type=type_name(order), error=error)) from None


def _name(node) -> str:
    return "None" if node is None else type_name(node)


def check_topological_order(topological_order, y, yt, label: str) -> None:
    """The student's ``topological_order`` on the graph of their output ``y``, against torch's
    graph of the same expression ``yt``.

    Its list must hold every node reachable from ``y.grad_fn``, each once, the root first and
    each node before every node it passes gradients to; it must have as many nodes of each
    kind as torch's graph. ``topological_order``: the student's function; ``y``: the student's
    output (a Variable with a ``grad_fn``); ``yt``: torch's output for the same expression.
    """
    root = y.grad_fn
    ref = graph_data(yt)
    mine = graph_data(root)  # the nodes the student's next_functions reach (walked here, no recursion)
    what = _("topological_order(root) for {label}").format(label=label)
    order = _order_of(topological_order, root, label)
    if not order:
        raise AssertionError(_("{what} is empty: torch's graph has {count} nodes, {names}").format(
            what=what, count=len(ref.nodes), names=ref.names()))
    index = {id(n.obj): n.index for n in mine.nodes}
    foreign = [o for o in order if id(o) not in index]
    if foreign:
        raise AssertionError(
            _("{what} lists {node}, which is not a node of the graph (the nodes reached from root "
              "through next_functions: {names})").format(what=what, node=_name(foreign[0]),
                                                         names=mine.names())
            + ("\n  " + likely_cause(_("None entries of next_functions (constants) are not nodes: "
                                        "skip them")) if foreign[0] is None else ""))
    if order[0] is not root:
        raise AssertionError(
            _("{what} starts with {first}, not with root ({root}): the output's node passes "
              "gradients to every other node, so it comes first").format(
                what=what, first=_name(order[0]), root=_name(root))
            + "\n  " + likely_cause(_("the depth-first post-order was not reversed")))
    positions = [index[id(o)] for o in order]
    twice = sorted({mine.nodes[i].name for i in positions if positions.count(i) > 1})
    if twice:
        raise AssertionError(
            _("{what} lists {nodes} more than once: torch's graph has {count} nodes and each must "
              "be listed once").format(what=what, nodes=", ".join(twice), count=len(ref.nodes))
            + "\n  " + likely_cause(_("no visited set: a node reached along two paths (a value used "
                                       "twice, a diamond) is listed twice")))
    missing = sorted(n.name for n in mine.nodes if n.index not in set(positions))
    if missing:
        raise AssertionError(_("{what} misses {nodes}: every node reachable from root through "
                               "next_functions must be listed").format(what=what,
                                                                       nodes=", ".join(missing)))
    too_early = order_violations(mine, positions)
    if too_early:
        i, j = too_early[0]
        raise AssertionError(
            _("{what} lists {later} before {earlier}, which passes gradients to it: in backward() "
              "it would run before all of its gradient has arrived").format(
                what=what, later=mine.nodes[j].name, earlier=mine.nodes[i].name)
            + "\n  " + likely_cause(_("a reversed depth-first post-order is needed (each node "
                                       "listed after everything below it, then the list reversed)")))
    got, expected = sorted(mine.names()), sorted(ref.names())
    if got != expected:
        raise AssertionError(_("{what}: the graph has the nodes {got}, torch's graph of the same "
                               "expression has {expected} (part 3: Node and gradient_node)").format(
            what=what, got=got, expected=expected))


def check_deep_topological_order(topological_order, x, y, yt, label: str) -> None:
    """``topological_order`` on a long chain ``y`` built from the leaf ``x`` (torch's: ``yt``):
    as many nodes as torch's graph, each once, the root first and ``x``'s AccumulateGrad last.

    Checked without walking the chain node by node from the test (one request in the judge).
    """
    root = y.grad_fn
    what = _("topological_order(root) for {label}").format(label=label)
    order = _order_of(topological_order, root, label, summarise=True)
    if isinstance(order, dict):  # summarised in the student's process (one request)
        count, distinct, first, last = order["n"], order["distinct"], order["first"], order["last"]
    else:
        count, distinct = len(order), len({id(o) for o in order})
        first, last = (order[0], order[-1]) if order else (None, None)
    n = len(reachable(yt.grad_fn))  # torch's graph, walked in this process (nodes only)
    if count != n:
        raise AssertionError(_("{what} lists {got} nodes, torch's graph has {count}").format(
            what=what, got=count, count=n))
    if distinct != n:
        raise AssertionError(_("{what} lists a node more than once").format(what=what))
    if first is not root:
        raise AssertionError(_("{what} does not start with root, the output's node").format(what=what))
    if type_name(last) != "AccumulateGrad" or last.variable is not x:
        raise AssertionError(_("{what} ends with {last}, not with the AccumulateGrad of x, the one "
                               "leaf (the end of every path)").format(what=what, last=_name(last)))
