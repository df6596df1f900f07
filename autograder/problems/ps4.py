"""Test helpers of ps4 *Custom functions* (the test cells of ``source/ps4/ps4.ipynb`` import them).

They run where the test cell runs: in the judge during grading, in the student's kernel on
Run and Validate (``autograder.problems``). The student's classes and functions come in as
arguments (``LogSumExp``, ``ClampST``, ...); the tensors they receive are built where the
student's code runs (``student_side("torch")``); every expected value comes from this
process's own torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import (
    assert_close,
    assert_grad_close,
    likely_cause,
    random_inputs,
    to_array,
    torch_gradients,
)
from ..i18n import _
from ..testing import (
    SCALAR_FUNCTIONS,
    check_unchanged,
    is_tensor,
    scalar_function,
    student_side,
    type_name,
)

__all__ = ["gradcheck_passes", "check_lse", "check_saved_for_backward", "st_reference", "check_st", "check_linear",
           "check_linear_composed", "linear_products", "clipped_by_torch", "check_clip_leaf",
           "check_clip_upstream", "check_clip_returns_new", "check_clip_reused",
           "check_clip_in_backward", "check_hvp", "check_hvp_leaves_x_alone"]


def gradcheck_passes(fn, inputs, what: str) -> None:
    """``torch.autograd.gradcheck(fn, inputs)`` where the student's code runs; a failure is
    an AssertionError that says ``what`` failed (gradcheck's own message, cut short)."""
    T = student_side("torch")
    try:
        T.autograd.gradcheck(fn, tuple(inputs))
    except Exception as e:  # noqa: BLE001  (gradcheck's GradcheckError, or the student's own)
        raise AssertionError(_("{what}: torch.autograd.gradcheck failed: {error}").format(
            what=what, error=str(e)[:700])) from None


# ---------------------------------------------------------------------- 1. LogSumExp

def check_lse(LogSumExp, x_np, what: str, seed: int = 0, post=None) -> None:
    """``LogSumExp.apply(x)``'s value and gradient against ``torch.logsumexp(x, dim=-1)``;
    with ``post``, of ``post(lse, x)`` (run here, on the student's result: a loss that
    cancels, such as cross-entropy's ``lse(x) - x[..., k]``, shows a softmax computed with
    less than float64's precision)."""
    T = student_side("torch")
    post = post or (lambda out, _x: out)
    ref = torch_gradients(lambda t: post(torch.logsumexp(t, dim=-1), t), [x_np], seed=seed)
    x = T.tensor(x_np, requires_grad=True)
    out = post(LogSumExp.apply(x), x)
    assert_close(out, ref.value, _("{what}: value").format(what=what), kind="value")
    out.backward(None if ref.grad_output is None else T.tensor(ref.grad_output))
    assert_grad_close(x.grad, ref.grads[0], _("{label}: gradient of {name}").format(label=what, name="x"))
    # what forward saved is the caller's x: a backward that computes softmax into it in place
    # returns the right gradient and leaves x changed
    check_unchanged(x.detach(), x_np, "LogSumExp", "x", what)


def check_saved_for_backward(apply, reference, arrays, what: str, which: int = 0) -> None:
    """``apply(*inputs)`` with input ``which`` given as ``h = x * 1`` (not a leaf), then ``h``
    doubled in place before ``backward()``: what ``ctx.save_for_backward`` saved carries
    torch's version counter, so backward raises ("modified by an inplace operation"), or,
    where forward saved a copy, backward uses the values forward saw (``reference``'s
    gradients at the original ``arrays``). A tensor kept as an attribute of ``ctx`` is
    neither: backward silently uses the changed values."""
    T = student_side("torch")
    ref_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch.autograd.grad(reference(*ref_in).sum(), ref_in)
    leaves = [T.tensor(a, requires_grad=True) for a in arrays]
    inputs = list(leaves)
    h = inputs[which] = leaves[which] * 1.0
    out = apply(*inputs)
    h.mul_(2.0)
    try:
        out.sum().backward()
    except RuntimeError as e:
        if "inplace" in str(e) or "modified" in str(e):
            return  # torch noticed: what save_for_backward is for
        raise
    label = (_("{what}, its first input doubled in place after forward, before backward()")
             if which == 0 else
             _("{what}, its input {n} doubled in place after forward, before backward()")).format(
        what=what, n=which)
    hint = likely_cause(_("save what backward needs with ctx.save_for_backward: torch then notices "
                          "a saved tensor changed in place and raises; a tensor kept as an "
                          "attribute of ctx (ctx.x = x) is used as it is now, silently"))
    for i, (leaf, exp) in enumerate(zip(leaves, expected)):
        try:
            assert_grad_close(leaf.grad, exp, _("{label}: gradient of input {i}").format(
                label=label, i=i))
        except AssertionError as e:
            raise AssertionError(f"{e}\n  {hint}") from None


# ---------------------------------------------------------------------- 2. ClampST

def st_reference(lo, hi):
    """The torch expression whose forward is ``clamp(lo, hi)`` and whose gradient is the identity."""
    return lambda t: t + (t.clamp(lo, hi) - t).detach()


def check_st(ClampST, x_np, lo, hi, what: str, seed: int = 0, post=lambda t: t) -> None:
    """``post(ClampST.apply(x, lo, hi))``'s value and gradient against the same ``post`` of
    :func:`st_reference` (``post`` runs here, on the student's result)."""
    T = student_side("torch")
    ref = torch_gradients(lambda t: post(st_reference(lo, hi)(t)), [x_np], seed=seed)
    x = T.tensor(x_np, requires_grad=True)
    out = post(ClampST.apply(x, lo, hi))
    assert_close(out, ref.value, _("{what}: value").format(what=what), kind="value")
    out.backward(None if ref.grad_output is None else T.tensor(ref.grad_output))
    assert_grad_close(x.grad, ref.grads[0], _("{label}: gradient of {name}").format(label=what, name="x"))
    # a forward that clamps the caller's x itself (out = x; out[out < lo] = lo) changes it
    check_unchanged(x.detach(), x_np, "ClampST", "x", what)


# ---------------------------------------------------------------------- 3. LinearFunction

def check_linear(LinearFunction, n: int, fan_in: int, fan_out: int, seed: int, bias: bool = True,
                 needs=(True, True, True)) -> None:
    """``LinearFunction.apply(x, weight, bias)`` against ``F.linear``: the value, and the
    gradient of every input; ``needs[i]``: whether input i requires grad (else its
    ``.grad`` must stay ``None``)."""
    T = student_side("torch")
    arrays = random_inputs((n, fan_in), (fan_out, fan_in), (fan_out,), seed=seed)[: 3 if bias else 2]
    names = ["x", "weight", "bias"][: len(arrays)]
    what = f"LinearFunction, x {n}x{fan_in}, weight {fan_out}x{fan_in}" + ("" if bias else ", bias=None")
    frozen = [nm for nm, r in zip(names, needs) if not r]
    if frozen:
        what += _(", {names} not requiring grad").format(names=_(" and ").join(frozen))
    # reference: torch's own linear on the same inputs
    ref = torch_gradients(lambda *t: F.linear(*[a if r else a.detach() for a, r in zip(t, needs)]),
                          arrays, seed=seed)
    ts = [T.tensor(a, requires_grad=r) for a, r in zip(arrays, needs)]
    out = LinearFunction.apply(*ts) if bias else LinearFunction.apply(ts[0], ts[1], None)
    assert_close(out, ref.value, _("{what}: value").format(what=what), kind="value")
    out.backward(T.tensor(ref.grad_output))
    for t, g, nm, r in zip(ts, ref.grads, names, needs):
        assert_grad_close(t.grad, g if r else None,
                          _("{label}: gradient of {name}").format(label=what, name=nm))


def check_linear_composed(LinearFunction, seed: int) -> None:
    """Two layers in one graph, ``apply(tanh(apply(x, W1, b1)), W2, b2)``, against the same
    with ``F.linear``: each call keeps its own saved tensors (on ``ctx``, not on the class)."""
    T = student_side("torch")
    arrays = random_inputs((4, 3), (5, 3), (5,), (2, 5), (2,), seed=seed)
    names = ["x", "W1", "b1", "W2", "b2"]
    what = _("two LinearFunction layers in one graph, {shapes}").format(
        shapes="x 4x3 -> 5 -> tanh -> 2")
    ref = torch_gradients(lambda x, w1, b1, w2, b2: F.linear(F.linear(x, w1, b1).tanh(), w2, b2),
                          arrays, seed=seed)
    ts = [T.tensor(a, requires_grad=True) for a in arrays]
    try:
        out = LinearFunction.apply(LinearFunction.apply(ts[0], ts[1], ts[2]).tanh(), ts[3], ts[4])
        assert_close(out, ref.value, _("{what}: value").format(what=what), kind="value")
        out.backward(T.tensor(ref.grad_output))
        for t, g, nm in zip(ts, ref.grads, names):
            assert_grad_close(t.grad, g, _("{label}: gradient of {name}").format(label=what, name=nm))
    except Exception as e:  # noqa: BLE001  (a wrong number, or the student's shape error)
        said = str(e) if isinstance(e, AssertionError) else f"{what}: {type(e).__name__}: {e}"
        raise AssertionError(said + "\n  " + likely_cause(_(
            "each call of apply must keep its own tensors: saved on the class "
            "(LinearFunction.x = x) or in a global, they are overwritten by the second layer's "
            "forward; save them with ctx.save_for_backward"))) from None


def linear_products(LinearFunction, needs, seed: int = 7) -> int:
    """How many matrix products ``LinearFunction``'s backward runs when only the inputs
    ``needs`` (a subset of ``{"x", "weight", "bias"}``) require grad, counted where the
    student's code runs (``autograder.testing.matmul_count``).

    The gradients that backward did compute are checked too (torch's for the inputs in
    ``needs``, no ``.grad`` for the others): a backward that computes nothing performs no
    product, and must not pass for one that computes only what is needed.
    """
    T = student_side("torch")
    names = ("x", "weight", "bias")
    arrays = random_inputs((6, 4), (3, 4), (3,), seed=seed)
    ts = [T.tensor(a, requires_grad=nm in needs) for a, nm in zip(arrays, names)]
    out = LinearFunction.apply(*ts)
    count = student_side("autograder.testing").matmul_count(out.sum().backward)
    frozen = [nm for nm in names if nm not in needs]
    what = "LinearFunction, x 6x4, weight 3x4" + _(", {names} not requiring grad").format(
        names=_(" and ").join(frozen))
    ref = torch_gradients(lambda *t: F.linear(*t).sum(), arrays)
    for t, g, nm in zip(ts, ref.grads, names):
        assert_grad_close(t.grad, g if nm in needs else None,
                          _("{label}: gradient of {name}").format(label=what, name=nm))
    return count


# ---------------------------------------------------------------------- 4. the clipping hook

def clipped_by_torch(g, max_norm: float) -> torch.Tensor:
    """``g`` clipped by ``torch.nn.utils.clip_grad_norm_``, as a parameter's ``.grad``."""
    p = torch.zeros_like(g, requires_grad=True)
    p.grad = g.detach().clone()
    torch.nn.utils.clip_grad_norm_([p], max_norm)
    return p.grad


def check_clip_leaf(make_clip_hook, x_np, max_norm: float, what: str, **tolerance) -> None:
    """``x.grad`` of ``(x ** 3).sum()`` with the student's hook on the leaf ``x``
    (``tolerance``: ``rtol``/``atol`` of :func:`assert_grad_close`, for a case where the
    ways of writing the formula's 1e-6 differ by more than the default)."""
    assert_grad_close(*_hooked_leaf_grad(make_clip_hook(max_norm), x_np, max_norm, what), what,
                      **tolerance)


def _hooked_leaf_grad(hook, x_np, max_norm: float, what: str):
    """``(x.grad, expected)``: ``x.grad`` of ``(x ** 3).sum()`` with ``hook`` on the leaf
    ``x`` (made where the student's code runs), and torch's clipping of torch's gradient."""
    T = student_side("torch")
    xt = torch.tensor(x_np, requires_grad=True)
    (g,) = torch.autograd.grad((xt ** 3).sum(), xt)   # torch's gradient, without the hook
    x = T.tensor(x_np, requires_grad=True)
    x.register_hook(hook)
    try:
        (x ** 3).sum().backward()
    except Exception as e:  # noqa: BLE001  (the hook's own error: a zero norm divided by, ...)
        raise AssertionError(_("{what}: backward() with your hook raised {error}").format(
            what=what, error=f"{type(e).__name__}: {e}")) from None
    return x.grad, clipped_by_torch(g, max_norm)


def check_clip_upstream(make_clip_hook, x_np, w_np, max_norm: float, what: str) -> None:
    """The hook on an intermediate value ``h = tanh(x)`` of ``exp(h * w).sum()``: ``x.grad``
    is what flows back from the clipped gradient of ``h``."""
    T = student_side("torch")
    x = torch.tensor(x_np, requires_grad=True)
    h = x.tanh()
    (gh,) = torch.autograd.grad((h * torch.tensor(w_np)).exp().sum(), h, retain_graph=True)
    (expected,) = torch.autograd.grad(h, x, grad_outputs=clipped_by_torch(gh, max_norm))
    x2 = T.tensor(x_np, requires_grad=True)
    h2 = x2.tanh()
    h2.register_hook(make_clip_hook(max_norm))
    (h2 * T.tensor(w_np)).exp().sum().backward()
    assert_grad_close(x2.grad, expected, what)


def check_clip_returns_new(make_clip_hook, g_np, max_norm: float) -> None:
    """The hook called directly: it returns the clipped gradient, a tensor, and leaves its
    argument as it was."""
    T = student_side("torch")
    g = T.tensor(g_np)
    out = make_clip_hook(max_norm)(g)
    assert is_tensor(out), (
        _("the hook returned {type}, not a tensor: it must return the clipped gradient").format(
            type=type_name(out)))
    assert np.array_equal(to_array(g), g_np), \
        _("the hook changed its argument in place: return a new tensor instead")
    assert_grad_close(out, clipped_by_torch(torch.tensor(g_np), max_norm),
                      _("make_clip_hook({max_norm})(g) called directly").format(max_norm=max_norm))


def check_clip_reused(make_clip_hook, xs, max_norm: float, what: str) -> None:
    """One hook, ``make_clip_hook(max_norm)``, on the leaf of each ``x`` of ``xs`` in turn
    (one ``backward()`` each, as a hook kept on a parameter sees one gradient per step):
    each ``x.grad`` against torch's clipping of that gradient."""
    hook = make_clip_hook(max_norm)
    for i, x_np in enumerate(xs, start=1):
        label = what if i == 1 else _("{what}, the same hook used again (backward number {n})").format(
            what=what, n=i)
        got, expected = _hooked_leaf_grad(hook, x_np, max_norm, label)
        try:
            assert_grad_close(got, expected, label)
        except AssertionError as e:
            if i == 1:
                raise
            raise AssertionError(f"{e}\n  " + likely_cause(_(
                "the hook keeps something from an earlier call: compute the scale from each "
                "gradient it receives"))) from None


def check_clip_in_backward(make_clip_hook, x_np, max_norm: float) -> None:
    """The hook on a leaf during a real ``backward()``: the gradient autograd hands it keeps
    its values (``autograder.testing.hook_changes_its_argument``, run where the student's
    code runs: a hook called directly may behave otherwise)."""
    changed = student_side("autograder.testing").hook_changes_its_argument(make_clip_hook(max_norm), x_np)
    assert not changed, _("the hook changed its argument in place: return a new tensor instead")


# ---------------------------------------------------------------------- 5. hvp

def check_hvp(hvp, name: str, params, x_np, v_np) -> None:
    """``hvp(f, x, v)`` against ``torch.autograd.functional.hvp`` for the scalar function
    ``name`` of ``autograder.testing.SCALAR_FUNCTIONS`` (built where the student's code runs)."""
    T = student_side("torch")
    what = _("hvp for {function}").format(function=SCALAR_FUNCTIONS[name][0])
    _value, expected = torch.autograd.functional.hvp(scalar_function(name, *params),
                                                     torch.tensor(x_np), torch.tensor(v_np))
    f = student_side("autograder.testing").scalar_function(name, *params)
    got = hvp(f, T.tensor(x_np), T.tensor(v_np))
    assert is_tensor(got), _("{what}: hvp returned {type}, not a tensor").format(
        what=what, type=type_name(got))
    assert_grad_close(got, expected, what)


def check_hvp_leaves_x_alone(hvp, x_np, v_np, x_requires_grad: bool) -> None:
    """``hvp(f, x, v)`` with the caller's ``x`` (requiring grad or not): ``x`` keeps no
    ``.grad`` and its ``requires_grad``, and the result is plain numbers (no graph), right."""
    T = student_side("torch")
    x = T.tensor(x_np, requires_grad=x_requires_grad)
    got = hvp(student_side("autograder.testing").scalar_function("x_exp_x"), x, T.tensor(v_np))
    assert x.grad is None, _("hvp left a .grad on the caller's x: work on x.detach().requires_grad_()")
    assert np.array_equal(to_array(x), x_np), (
        _("hvp changed the values of the caller's x (x.detach() shares its memory with x): "
          "return a new tensor, never write into x"))
    assert bool(x.requires_grad) == x_requires_grad, (
        _("hvp switched on requires_grad of the caller's x (x.requires_grad_() changes the tensor "
          "it was given): work on x.detach().requires_grad_()"))
    assert is_tensor(got), _("hvp returned {type}, not a tensor").format(
        type=type_name(got))
    assert not got.requires_grad, _("hvp returned a tensor that requires grad: return hv.detach()")
    _value, expected = torch.autograd.functional.hvp(scalar_function("x_exp_x"),
                                                     torch.tensor(x_np), torch.tensor(v_np))
    state = _("requiring grad") if x_requires_grad else _("not requiring grad")
    assert_grad_close(got, expected, _("hvp for f(x) = sum(x exp x), x {state}").format(state=state))
    if x_requires_grad:  # the caller's hooks on x see nothing of hvp's own backward passes
        x2 = T.tensor(x_np, requires_grad=True)
        calls = student_side("autograder.testing").hook_calls(
            x2, hvp, student_side("autograder.testing").scalar_function("x_exp_x"), x2,
            T.tensor(v_np))
        assert calls == 0, _(
            "hvp ran its backward passes through the caller's x (a hook the caller registered "
            "on x was called {n} times): work on x.detach().requires_grad_()").format(n=calls)
