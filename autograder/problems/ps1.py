"""Test helpers of problem set 1, *Tensors and Variables* (``source/ps1/ps1.ipynb``).

Every expected value comes from torch, run here on the same inputs; the student's results
arrive as numbers, lists or (in the judge) proxies of their tensors. Nothing here is an
answer: the expressions the student must build stay in the notebook's hidden tests.
"""

from __future__ import annotations

import numpy as np

from ..checks import (
    GradientMismatch,
    assert_close,
    assert_grad_close,
    likely_cause,
    to_array,
    torch_gradients,
)
from ..i18n import N_, _, ngettext
from ..testing import call_keeping_inputs, is_tensor, require_float64, type_name

__all__ = ["batch_mean_square",
           "check_batch_mean_square", "product_plus_square", "graph_tree",
           "format_tree", "describe_graph", "check_same_graph", "torch_chain", "chain_leaves",
           "check_backward_reaches", "check_made_tensor", "check_w_grad", "check_training"]

# ------------------------------------------------------------------ A1: a mean over a batch


def batch_mean_square(x):
    """A1's function: each row's sum of squares, averaged over the rows."""
    return (x * x).sum(dim=1).mean()


def check_batch_mean_square(grad_fn, x, label):
    """``grad_fn(x)`` against torch's gradient of :func:`batch_mean_square` at ``x`` (2-D)."""
    __tracebackhide__ = True
    expected = torch_gradients(batch_mean_square, [x]).grads[0]
    got = call_keeping_inputs(grad_fn, "grad_batch_mean_square", {"x": x}, label)
    rows, cols = x.shape
    try:
        assert_grad_close(got, expected, label, n=rows, context="numpy")
    except GradientMismatch as e:
        g = to_array(got, label)
        if (cols > 1 and g is not None and g.shape == expected.shape
                and np.allclose(g * cols, expected, rtol=1e-6, atol=1e-9)):
            raise GradientMismatch(
                f"{e}\n  " + likely_cause(
                    _("off by 1/{cols}: divided by x.size = {rows} x {cols}, all the elements. Only "
                      "the mean over the {rows} rows divides; the sum over each row's {cols} "
                      "entries does not (the derivative of a sum is 1).").format(rows=rows,
                                                                                 cols=cols))) from None
        raise


# ------------------------------------------------------------------ A2: a value used twice


def product_plus_square(a, b):
    """A2's function: ``a`` reaches the output twice, through ``a * b`` and ``a ** 2``."""
    return (a * b + a ** 2).sum()


# ------------------------------------------------------------------ B: graphs

_MAX_NODES = 200  # a student's graph is walked node by node: bound the work


def graph_tree(t, leaves: dict):
    """The graph that ends at ``t`` as nested tuples, read from ``t.grad_fn`` down.

    A node is ``(class name, child, child, ...)`` with one child per entry of its
    ``next_functions``, in order; ``None`` for an input that needs no gradient; an
    ``AccumulateGrad`` node is ``("AccumulateGrad", leaf)`` with the name of the entry of
    ``leaves`` (name -> array) holding its leaf's values. ``t`` may be a student's tensor
    (a proxy in the judge) or a torch tensor of the test. ``None`` if ``t`` has no graph.
    """
    budget = [_MAX_NODES]

    def walk(node):
        if node is None:
            return None
        budget[0] -= 1
        if budget[0] < 0:
            return ("...",)
        name = type_name(node)
        if name == "AccumulateGrad":
            return (name, _which_leaf(node.variable, leaves))
        return (name, *(walk(fn) for fn, _index in node.next_functions))

    return walk(t.grad_fn)


def _which_leaf(variable, leaves: dict) -> str:
    values = to_array(variable, _("a leaf of the graph"))
    for name, arr in leaves.items():
        arr = np.asarray(arr, dtype=np.float64)
        if values.shape == arr.shape and np.allclose(values, arr, rtol=1e-6, atol=1e-7):
            return name
    return _("another leaf")


def format_tree(tree, indent: str = "") -> str:
    """:func:`graph_tree`'s result drawn one node a line, children indented below their node."""
    if tree is None:
        return f"{indent}None"
    if tree[0] == "AccumulateGrad":
        return f"{indent}AccumulateGrad ({tree[1]})"
    lines = [f"{indent}{tree[0]}"]
    lines += [format_tree(child, indent + "    ") for child in tree[1:]]
    return "\n".join(lines)


def describe_graph(out, leaves: dict, label: str) -> str:
    """Check that ``out`` is a tensor with a graph and return its drawing (for the student)."""
    __tracebackhide__ = True
    if not is_tensor(out):
        raise AssertionError(_("{label}: expected a torch tensor, got an object of type {type}")
                             .format(label=label, type=type_name(out)))
    if not bool(out.requires_grad):
        raise AssertionError(_("{label}: your result does not require grad, so it has no graph: "
                               "build it from the inputs with tensor operations").format(label=label))
    return format_tree(graph_tree(out, leaves))


def _first_difference(got, want, path="out.grad_fn"):
    if got == want:
        return None
    if got is None or want is None or got[0] != want[0] or len(got) != len(want) \
            or got[0] == "AccumulateGrad":
        return path, want, got
    if sorted(map(repr, got[1:])) == sorted(map(repr, want[1:])):
        return path, want, got  # the same inputs, in another order: say so here
    for i, (g, w) in enumerate(zip(got[1:], want[1:])):
        found = _first_difference(g, w, f"{path}.next_functions[{i}][0]")
        if found:
            return found
    return path, want, got


def _head(tree) -> str:
    if tree is None:
        return "None"
    if tree[0] == "AccumulateGrad":
        return f"AccumulateGrad ({tree[1]})"
    return ngettext("{node} with {count} input", "{node} with {count} inputs", len(tree) - 1).format(
        node=tree[0], count=len(tree) - 1)


def check_same_graph(out, expected, leaves: dict, label: str) -> None:
    """The student's tensor ``out`` has the graph and the value of torch's ``expected``."""
    __tracebackhide__ = True
    describe_graph(out, leaves, label)
    got, want = graph_tree(out, leaves), graph_tree(expected, leaves)
    diff = _first_difference(got, want)
    if diff:
        where, w, g = diff
        if (w is not None and g is not None and w[0] == g[0] and len(w) == len(g)
                and w[0] != "AccumulateGrad"):
            what = _("the inputs of {node} in another order: expected {expected}; yours {got}. "
                     "next_functions lists a node's inputs in the order of the operation's "
                     "operands (the left one first)").format(
                node=w[0], expected=", ".join(map(_head, w[1:])), got=", ".join(map(_head, g[1:])))
        else:
            what = _("expected {expected}, yours is {got}").format(expected=_head(w), got=_head(g))
        raise AssertionError(
            _("{label}: your graph differs from the drawing at {where}: {what}").format(
                label=label, where=where, what=what) + "\n"
            + "  " + _("expected graph:") + "\n" + format_tree(want, "    ") + "\n"
            + "  " + _("your graph:") + "\n" + format_tree(got, "    "))
    assert_close(to_array(out, _("{what}: value").format(what=label)), to_array(expected),
                 _("{what}: the value").format(what=label), kind="value")


def check_backward_reaches(out, expected, mine: dict, theirs: dict, label: str) -> None:
    """``out.backward()`` reaches the very tensors the student's function was given: each of
    ``mine`` (name -> the student's leaf) gets the ``.grad`` that ``expected.backward()`` gives
    ``theirs`` (name -> torch's leaf). A graph drawn right on new leaves with the same values
    (``a.detach().requires_grad_()``) gives the caller's tensors nothing."""
    __tracebackhide__ = True
    out.backward()
    expected.backward()
    for name, leaf in mine.items():
        try:
            check_w_grad(leaf.grad, theirs[name].grad,
                         _("{label}: {name}.grad after backward()").format(label=label, name=name))
        except AssertionError as e:
            raise AssertionError(f"{e}\n  " + likely_cause(_(
                "backward() must reach the tensors the function was given: use a and b themselves, "
                "not new leaves made from them (detach(), clone(), torch.tensor(...))"))) from None


def torch_chain(t) -> list[str]:
    """The class names from ``t.grad_fn`` back to a leaf, always the first input that is not None."""
    names, node = [], t.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        node = next((fn for fn, _index in node.next_functions if fn is not None), None)
    return names


def chain_leaves(torch_module, arrays):
    """``a``, ``b`` (both require grad) and ``c`` (does not) as tensors of ``torch_module``.

    ``torch_module`` is the test's ``torch`` or ``student_side("torch")``: the same numbers
    in both processes.
    """
    return (torch_module.tensor(arrays[0], requires_grad=True),
            torch_module.tensor(arrays[1], requires_grad=True),
            torch_module.tensor(arrays[2]))


# ------------------------------------------------------------------ C: tensors made to order

_ATTRIBUTE_HINTS = {  # marked here, translated where they are shown
    ("is_leaf", True): N_("yours is the result of an operation on w, so it is not a leaf: do the "
                          "arithmetic on values without history (.detach()), then switch tracking "
                          "on with .requires_grad_()"),
    ("is_leaf", False): N_("yours has no history: compute it from w with a tensor operation "
                           "(detach() and torch.tensor(...) start a new leaf)"),
    ("requires_grad", True): N_("compute it from w with tensor operations (no .detach()), or, for "
                                "a new leaf, switch tracking on with .requires_grad_()"),
    ("requires_grad", False): N_("gradients could still flow through it into w: cut it from w's "
                                 "graph with .detach()"),
}


def check_made_tensor(made, key: str, reference, *, values_only: bool = False,
                      dtype: bool = False) -> None:
    """``made[key]`` (a student's tensor) against ``reference``, torch's tensor made as asked.

    Its values first; unless ``values_only``, then ``requires_grad`` and ``is_leaf`` (and,
    with ``dtype``, the size of an element: 8 bytes for float64).
    """
    __tracebackhide__ = True
    keys = list(made) if type_name(made) == "dict" else None
    if keys is None:
        raise AssertionError(_("make_tensors must return a dict, got an object of type {type}")
                             .format(type=type_name(made)))
    if key not in keys:
        raise AssertionError(_("make_tensors(w) has no entry {key!r}; its keys: {keys}").format(
            key=key, keys=sorted(map(str, keys))))
    t = made[key]
    if not is_tensor(t):   # a subclass (an nn.Parameter for "param") is a tensor too
        raise AssertionError(_("made[{key!r}] must be a torch tensor, got an object of type {type}")
                             .format(key=key, type=type_name(t)))
    assert_close(to_array(t, f"made[{key!r}]"), to_array(reference),
                 _("made[{key!r}]: its values").format(key=key), kind="value", rtol=1e-6, atol=1e-7)
    if values_only:
        return
    for attr in ("requires_grad", "is_leaf"):
        want, mine = bool(getattr(reference, attr)), bool(getattr(t, attr))
        if mine != want:
            raise AssertionError(_("made[{key!r}].{attr}: torch says {want} for a tensor made as "
                                   "the task asks, yours is {mine}: {hint}").format(
                key=key, attr=attr, want=want, mine=mine, hint=_(_ATTRIBUTE_HINTS[attr, want])))
    if dtype:
        want, mine = int(reference.element_size()), int(t.element_size())
        if mine != want:
            raise AssertionError(_("made[{key!r}]: {mine} bytes an element, a float64 tensor has "
                                   "{want} (convert with .double() or .to(torch.float64))").format(
                key=key, mine=mine, want=want))


def check_w_grad(got, expected, label: str) -> None:
    """A ``.grad`` of the student's tensors against torch's ``expected`` (a None named as such)."""
    __tracebackhide__ = True
    assert_grad_close(got, expected, label, context="autograd", rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ D: the training loop


def check_training(train, w0, X, y, lr, steps, label) -> None:
    """The student's ``train`` against a fresh torch gradient of the mean squared error per step."""
    __tracebackhide__ = True
    import torch

    # w0, X and y made where train runs: there, torch.as_tensor(w0) shares w0's memory
    w_final, grads = call_keeping_inputs(
        train, "train", {"w0": w0, "X": X, "y": y}, label, lr, steps,
        hints={"w0": _("torch.as_tensor(w0) and torch.from_numpy(w0) share the memory of the "
                       "array w0, so updating w in place also changes w0: make w from a copy, "
                       "torch.tensor(w0, ...)")})
    # the text asks for numpy arrays (float64): a tensor returned instead is a different object
    # with the right numbers (the caller's `X @ w` with a numpy X then fails)
    require_float64(w_final, _("{label}: train's final w").format(label=label))
    if len(grads) != steps:
        raise AssertionError(_("{label}: expected one gradient per step ({steps}), got {got}")
                             .format(label=label, steps=steps, got=len(grads)))
    for step, g in enumerate(grads):
        require_float64(g, _("{label}: the gradient of step {step} train returns").format(
            label=label, step=step))

    def mse(w):
        return ((torch.as_tensor(X) @ w - torch.as_tensor(y)) ** 2).mean()

    w, so_far = w0.copy(), np.zeros_like(w0)
    for step in range(steps):
        fresh = torch_gradients(mse, [w]).grads[0]  # torch's gradient at this step's w
        so_far = so_far + fresh
        got = to_array(grads[step], _("{label}: gradient of step {step}").format(label=label,
                                                                                 step=step))
        if (step > 0 and got is not None and got.shape == fresh.shape and np.allclose(got, so_far)
                and not np.allclose(got, fresh)):
            raise AssertionError(
                _("{label}: the gradient of step {step} is the sum of the gradients of steps 0 to "
                  "{step}: w.grad was not zeroed between steps (backward() adds into .grad)").format(
                    label=label, step=step))
        assert_grad_close(got, fresh, _("{label}: w.grad at step {step}").format(label=label,
                                                                                  step=step))
        w = w - lr * fresh
    assert_close(w_final, w, _("{label}: final w after {steps} steps").format(label=label,
                                                                             steps=steps),
                 kind="value")
