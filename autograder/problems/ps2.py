"""Test helpers of problem set 2, *Chain rule by hand* (``source/ps2/ps2.ipynb``).

The student writes gradients in numpy; every check runs the same function through
torch.autograd (float64) on the same inputs and compares, with the hints of
:mod:`autograder.checks` for a result computed by hand (``context="numpy"``: no advice
about ``backward()`` or ``.grad``, which numpy code does not have). The student's
functions are passed in (in the judge: proxies); nothing here is an answer.
"""

from __future__ import annotations

import numpy as np

from ..checks import (
    GradientMismatch,
    assert_close,
    assert_grad_close,
    likely_cause,
    random_inputs,
    to_array,
    torch_gradients,
    without_likely_causes,
)
from ..i18n import _
from ..testing import call_keeping_inputs, plain, remote

__all__ = ["check_local_derivative", "torch_two_layer_loss", "random_network", "check_forward",
           "check_network_gradients", "check_unbroadcast", "check_matvec", "check_batched_matmul",
           "check_softmax_jacobian", "check_softmax_vjp"]


# ------------------------------------------------------------------ part 1: local derivatives


def check_local_derivative(student_fn, torch_fn, x, label, *args) -> None:
    """``student_fn(x, *args)`` against torch.autograd's derivative of ``torch_fn(t, *args)`` at x."""
    __tracebackhide__ = True
    # for an elementwise f, the gradient of sum(f(x)) is f'(x) at every element
    expected = torch_gradients(lambda t: torch_fn(t, *args).sum(), [x]).grads[0]
    # x is a copy made where the student's code runs: a derivative written into x itself
    # (np.exp(x, out=x), x[x > 0] = 1) gives the right numbers but changes the caller's array
    got = call_keeping_inputs(student_fn, label.split("(", 1)[0], {"x": x}, label, *args)
    assert_grad_close(got, expected, label, context="numpy")


# ------------------------------------------------------------------ part 2: a 2-layer network


def torch_two_layer_loss(X, y):
    """The network's loss as a torch function of ``(W1, b1, W2, b2)``, for the data ``X``, ``y``."""
    import torch

    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)

    def loss(W1, b1, W2, b2):
        return ((torch.tanh(Xt @ W1 + b1) @ W2 + b2 - yt) ** 2).mean()

    return loss


def random_network(N, D, H, C, seed):
    """Reproducible data ``(X, y)`` and parameters ``(W1, b1, W2, b2)``: six float64 arrays."""
    return random_inputs((N, D), (N, C), (D, H), (H,), (H, C), (C,), seed=seed)


def check_forward(forward, dims, seed, label) -> float:
    """``forward(X, y, W1, b1, W2, b2)``'s loss against torch's; returns the loss."""
    __tracebackhide__ = True
    X, y, W1, b1, W2, b2 = random_network(*dims, seed=seed)
    loss, _cache = forward(X, y, W1, b1, W2, b2)
    ref = torch_gradients(torch_two_layer_loss(X, y), [W1, b1, W2, b2])
    assert_close(loss, ref.value,
                 _("two_layer_forward: the loss ({label}, N, D, H, C = {dims})").format(label=label,
                                                                                      dims=dims),
                 kind="value")
    return loss


_PARAMS = {"W1": 0, "b1": 1, "W2": 2, "b2": 3}


def check_network_gradients(forward, backward, dims, seed, label, names) -> None:
    """The gradients ``names`` (a sequence of "W1", "b1", "W2", "b2") of the student's
    ``backward(forward(...)[1])`` against torch's, in the order given."""
    __tracebackhide__ = True
    X, y, W1, b1, W2, b2 = random_network(*dims, seed=seed)
    _loss, cache = forward(X, y, W1, b1, W2, b2)
    # the cache kept where the student's code runs (in the judge, the arrays forward returned
    # come back as copies): backward gets the same arrays both times, as in a kernel
    cache = remote(cache)
    ref = torch_gradients(torch_two_layer_loss(X, y), [W1, b1, W2, b2])
    N, C = dims[0], dims[3]
    grads = _network_grads(backward, cache)
    for name in names:
        # the mean runs over both dimensions of the output: a missing factor is named by its size
        assert_grad_close(grads[name], ref.grads[_PARAMS[name]],
                          f"dL/d{name} ({label}, N, D, H, C = {dims})", n=(N, C), context="numpy")
    # a second backward on the same cache: the same gradients, unless the first changed the cache
    try:
        again = _network_grads(backward, cache)
    except Exception as e:  # noqa: BLE001  (the student's error, after the cause)
        raise _changed_cache(f"two_layer_backward(cache) ({label}, N, D, H, C = {dims})",
                             f"{type(e).__name__}: {e}") from None
    for name in names:
        what = f"dL/d{name} ({label}, N, D, H, C = {dims})"
        try:
            assert_grad_close(again[name], ref.grads[_PARAMS[name]], what, context="numpy")
        except GradientMismatch as e:
            # what differs, without the hints about the formula: the first call had it right
            raise _changed_cache(what, without_likely_causes(str(e))) from None


def _changed_cache(what: str, detail: str) -> AssertionError:
    """The failure of a second backward on the same cache: the cause first, then ``detail``."""
    return AssertionError(
        _("{what}: two_layer_backward(cache) called a second time on the same cache did not "
          "give the gradients of the first call, so it changed an array of the cache in place "
          "(such as dO = diff followed by dO *= ..., which scales diff itself): compute new "
          "arrays and leave the cache as two_layer_forward made it").format(what=what)
        + "\n" + detail)


def _network_grads(backward, cache) -> dict:
    grads = plain(backward(cache), dict)  # an OrderedDict is a dict
    if not isinstance(grads, dict) or sorted(grads) != ["W1", "W2", "b1", "b2"]:
        raise AssertionError(_("two_layer_backward must return a dict with the keys "
                               "'W1', 'b1', 'W2', 'b2'"))
    return grads


# ------------------------------------------------------------------ part 3: unbroadcast


def check_unbroadcast(unbroadcast, a_shape, b_shape, seed, label, op="add") -> None:
    """``unbroadcast`` as the gradient of ``a`` in ``a + b`` (``op="add"``) or ``a * b`` ("mul")."""
    __tracebackhide__ = True
    a, b = random_inputs(a_shape, b_shape, seed=seed)
    fn, op_name = {"add": (lambda s, t: s + t, "a + b"), "mul": (lambda s, t: s * t, "a * b")}[op]
    ref = torch_gradients(fn, [a, b], seed=seed)  # grad_output: random, of the output's shape
    g = ref.grad_output
    # d(a+b)/da = 1 and d(a*b)/da = b: the local part first, then sum back to a's shape
    local = g if op == "add" else g * np.broadcast_to(b, g.shape)
    got = unbroadcast(local, a_shape)
    assert_grad_close(got, ref.grads[0],
                      _("unbroadcast(grad of shape {shape}, {a_shape}) as the gradient of a in "
                        "{op} with a {a_shape}, b {b_shape} ({label})").format(
                          shape=g.shape, a_shape=a_shape, op=op_name, b_shape=b_shape, label=label),
                      output_shape=g.shape, context="numpy")


# ------------------------------------------------------------------ part 4: matrix products


def _grad_for(name: str, product: str, label: str) -> str:
    """The label of one gradient of a matrix product: ``grad_A for A (3, 4) @ v (4,) (visible)``."""
    return _("{name} for {product} ({label})").format(name=name, product=product, label=label)


def _pair(result, name):
    result = plain(result, tuple)  # a namedtuple is a pair too
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(_("{name} must return a pair (a tuple of two arrays), got {result!r}")
                             .format(name=name, result=result))
    return result


def _check_product(backward, name: str, other: str, shapes, seed, label) -> None:
    """``backward(A, X, G)`` of ``Y = A @ X`` (X called ``other``) against torch's gradients."""
    __tracebackhide__ = True
    A, X = random_inputs(*shapes, seed=seed)
    ref = torch_gradients(lambda a, w: a @ w, [A, X], seed=seed)
    # A, X and the gradient made where the student's code runs: the function must leave them as
    # they were (the text says so; a gradient written into A itself is right and changes A)
    grad_A, grad_X = _pair(call_keeping_inputs(backward, name, {"A": A, other: X,
                                                                "G" if X.ndim > 1 else "g":
                                                                ref.grad_output}, label), name)
    product = f"A {A.shape} @ {other} {X.shape}"
    assert_grad_close(grad_A, ref.grads[0], _grad_for("grad_A", product, label),
                      context="numpy")
    assert_grad_close(grad_X, ref.grads[1], _grad_for(f"grad_{other}", product, label),
                      context="numpy")


def check_matvec(matvec_backward, n, k, seed, label) -> None:
    """``matvec_backward(A, v, g)`` for ``y = A @ v``, A ``(n, k)``, v ``(k,)``, against torch."""
    __tracebackhide__ = True
    _check_product(matvec_backward, "matvec_backward", "v", [(n, k), (k,)], seed, label)


def check_batched_matmul(batched_matmul_backward, b, n, k, m, seed, label) -> None:
    """``batched_matmul_backward(A, B, G)`` for ``Y = A @ B``, A ``(b, n, k)``, B ``(k, m)``."""
    __tracebackhide__ = True
    _check_product(batched_matmul_backward, "batched_matmul_backward", "B",
                   [(b, n, k), (k, m)], seed, label)


# ------------------------------------------------------------------ part 5: softmax


def check_softmax_jacobian(softmax_jacobian, x, label) -> None:
    """``softmax_jacobian(x)`` against torch's Jacobian of softmax at ``x`` (1-D)."""
    __tracebackhide__ = True
    import torch

    x = np.asarray(x, dtype=np.float64)   # a list too: x = [1000, 0, -1]
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=0),
                                                  torch.tensor(x, dtype=torch.float64))
    what = _("softmax_jacobian(x), x of shape {shape} ({label})").format(shape=x.shape,
                                                                         label=label)
    got = call_keeping_inputs(softmax_jacobian, "softmax_jacobian", {"x": x}, what)
    try:
        assert_grad_close(got, expected, what, context="numpy")
    except GradientMismatch as e:
        g = to_array(got, what)
        if g is None or np.all(np.isfinite(g)) or np.abs(x).max(initial=0.0) < 709:
            raise
        # nan or inf only where exp(x) overflows: name that, not a division by zero
        raise GradientMismatch(without_likely_causes(str(e)) + "\n  " + likely_cause(
            _("nan or inf where x has large entries: exp(x) overflows above about 709, and "
              "inf / inf is nan. Build the Jacobian from the given softmax, which subtracts "
              "x.max() before exp"))) from None


def check_softmax_vjp(softmax_vjp, n, seed, label, low=-2.0, high=2.0) -> None:
    """``softmax_vjp(x, v)`` against torch's ``backward(gradient=v)`` through softmax."""
    __tracebackhide__ = True
    import torch

    x, v = random_inputs((n,), (n,), seed=seed, low=low, high=high)
    ref = torch_gradients(lambda t: torch.softmax(t, dim=0), [x], grad_output=v)
    what = _("softmax_vjp(x, v), x and v of shape {shape} ({label})").format(shape=f"({n},)",
                                                                             label=label)
    got = call_keeping_inputs(softmax_vjp, "softmax_vjp", {"x": x, "v": v}, what)
    assert_grad_close(got, ref.grads[0], what, context="numpy")
