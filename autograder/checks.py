"""Compare a student's values and gradients with torch.autograd's.

Every check in the course goes through this module (docs/design.md, the grading contract): the expected
numbers are computed by torch.autograd in float64 on the same inputs, never
typed into a test. A failing check raises :class:`GradientMismatch`, an
``AssertionError`` whose message says what was checked, expected vs got (shape,
max abs error, first differing index) and, when the mismatch has a known
signature, the likely cause (see :func:`diagnose`).

Two entry points:

* :func:`check_gradients` runs one expression (usually a lambda) through torch
  and through a second engine (the student's ``Variable``) on the same inputs
  and compares the forward value and each input's gradient.
* :func:`assert_grad_close` compares one gradient array a student computed by
  hand (numpy) with the one torch computed (see :func:`torch_gradients`).
"""

from __future__ import annotations

import math
import numbers
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import refcache
from .i18n import _, ngettext
from .testing import remote_backward_grads, remote_leaves

RTOL = 1e-6
ATOL = 1e-8

__all__ = [
    "GradientMismatch",
    "TorchResult",
    "assert_close",
    "assert_close_explained",
    "assert_grad_close",
    "check_gradients",
    "diagnose",
    "engine_hints",
    "random_inputs",
    "to_array",
    "torch_gradients",
]


class GradientMismatch(AssertionError):
    """A student's value or gradient differs from torch.autograd's."""


# --------------------------------------------------------------------------- conversion


def to_array(x: Any, what: str = "value") -> np.ndarray | None:
    """Turn a student's result into a float64 numpy array, strictly.

    Accepts numpy arrays, Python/numpy numbers, torch tensors, nested lists of
    numbers, and objects with a float-valued ``.data`` array (a ``Variable``).
    ``None`` stays ``None``. Anything else (strings, objects whose ``==`` always
    says yes, arrays of objects) raises :class:`GradientMismatch`, so a fake
    result can never compare equal.
    """
    __tracebackhide__ = True  # IPython and pytest: show the message, not our frames
    if x is None:
        return None
    if getattr(type(x), "_autograder_proxy_", False):  # a student object, seen from the judge
        try:
            x = np.asarray(x)  # its numbers, asked for and decoded strictly (autograder.judge)
        except (TypeError, ValueError) as e:
            raise GradientMismatch(_("{what}: expected a numpy array or a number, got an object "
                                     "of type {type!r} ({error})").format(
                what=what, type=x._autograder_type_name_(), error=e)) from None
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().to("cpu", torch.float64).numpy().copy()
    except ImportError:  # the student's engine may run where torch is absent
        pass
    if isinstance(x, (bool, np.bool_)):
        return np.asarray(float(x))
    if isinstance(x, numbers.Real):
        return np.asarray(float(x), dtype=np.float64)
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple)):
        arr = np.asarray(x)
    elif isinstance(getattr(x, "data", None), np.ndarray):
        arr = x.data
    else:
        raise GradientMismatch(
            _("{what}: expected a numpy array or a number, got an object of type "
              "{type!r}").format(what=what, type=type(x).__name__)
        )
    if type(arr) is not np.ndarray:  # subclasses may override comparisons
        arr = np.asarray(arr).view(np.ndarray)
    if arr.dtype.kind not in "biuf":
        raise GradientMismatch(
            _("{what}: expected numbers, got an array of dtype {dtype} "
              "(shape {shape})").format(what=what, dtype=arr.dtype, shape=arr.shape)
        )
    return np.array(arr, dtype=np.float64, copy=True)


def random_inputs(*shapes: Sequence[int] | int, seed: int = 0, low: float = -2.0,
                  high: float = 2.0, positive: bool = False) -> list[np.ndarray]:
    """Reproducible float64 inputs of the given shapes (``()`` for a scalar).

    ``positive=True`` draws from [0.5, 2) instead, for log, sqrt and division.
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if positive:
            out.append(rng.uniform(0.5, 2.0, size=shape))
        else:
            out.append(rng.uniform(low, high, size=shape))
    return out


# --------------------------------------------------------------------------- torch reference


@dataclass
class TorchResult:
    """What torch.autograd computed for one expression."""

    value: np.ndarray
    grads: list[np.ndarray | None]
    grad_output: np.ndarray | None
    # gradient through each separate use of each input (same order as inputs),
    # used to recognise "assigned instead of accumulated"
    use_grads: list[list[np.ndarray]] = field(default_factory=list)


def _per_use_tensor_class():
    """A Tensor subclass whose every use in an op is a fresh view with a hook.

    Lets us see the gradient flowing through each use of an input separately,
    to recognise a student engine that keeps only one path's gradient.
    """
    import torch

    class PerUse(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in (torch.Tensor.grad.__get__, torch.Tensor.requires_grad.__get__):
                return super().__torch_function__(func, types, args, kwargs)

            def unwrap(a):
                if isinstance(a, PerUse):
                    base = a.as_subclass(torch.Tensor)
                    use = base.view_as(base)
                    store = a._uses  # list of recorded gradients for this input
                    if use.requires_grad:
                        use.register_hook(lambda g, s=store: s.append(g.detach().clone()))
                    return use
                if isinstance(a, (list, tuple)):
                    return type(a)(unwrap(b) for b in a)
                return a

            with torch._C.DisableTorchFunctionSubclass():
                return func(*unwrap(tuple(args)), **{k: unwrap(v) for k, v in kwargs.items()})

    return PerUse


def torch_gradients(fn: Callable, inputs: Sequence[Any], grad_output: Any = None, *,
                    seed: int = 0, per_use: bool = False) -> TorchResult:
    """Run ``fn(*inputs)`` through torch.autograd in float64.

    Returns the forward value, the gradient of every input and the
    ``grad_output`` used (a scalar output is seeded with 1; a non-scalar one
    with ``grad_output`` or, if omitted, a random array drawn from ``seed``).
    """
    arrays = _arrays(inputs)
    asked = _requests_so_far()
    if asked is None:  # not in the judge (a kernel, Validate): torch every time
        return _torch_gradients(fn, arrays, grad_output, seed, per_use)
    # in the judge, the same expression on the same inputs asked by an earlier notebook of
    # this worker: torch's answer again, without asking torch (autograder.refcache: when)
    try:
        go = None if grad_output is None else to_array(grad_output, "grad_output")
        k = refcache.key(fn, arrays, go, seed, per_use)
    except Exception:  # noqa: BLE001  (torch's own run below says what is wrong with it)
        k = None
    kept = refcache.get(k)
    if kept is not None:
        return kept
    t0 = time.perf_counter()
    result = _torch_gradients(fn, arrays, grad_output, seed, per_use)
    seconds = time.perf_counter() - t0
    # kept only if torch alone answered (no request to the student's process) and running the
    # expression changed nothing its key reads (a list it appends to, say: a later notebook
    # must run it again, side effect included)
    if k is not None and seconds >= refcache.MIN_SECONDS and _requests_so_far() == asked \
            and refcache.key(fn, arrays, go, seed, per_use) == k:  # the key again only if worth it
        refcache.put(k, result, seconds)
    return result


def _requests_so_far() -> int | None:
    """Requests the judge has sent to the student's process so far; None outside the judge."""
    from .testing import ACTIVE_JUDGE

    session = ACTIVE_JUDGE.get()
    return None if session is None else session.channel.requests


def _torch_gradients(fn, arrays, grad_output, seed, per_use) -> TorchResult:
    import torch

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    if not isinstance(out, torch.Tensor):
        raise TypeError(_("the expression returned {type}, not a tensor").format(
            type=type(out).__name__))
    go = _grad_output_for(out.shape, grad_output, seed)
    if out.requires_grad:
        _seeded_backward(out, go)
    grads = [None if t.grad is None else t.grad.numpy().copy() for t in leaves]
    result = TorchResult(out.detach().numpy().copy(), grads, go)
    if per_use:
        result.use_grads = _torch_use_grads(fn, arrays, go)
    return result


def _seeded_backward(out, go) -> None:
    """``out.backward(go)``, as ``(out * go).sum().backward()``: the same gradients, bit for bit
    (the sum hands each element 1.0, the product multiplies it by ``go``), without the first
    ``backward(gradient)``'s import of sympy (~0.6 s of CPU in every process that checks).
    ``go`` always has ``out``'s shape (:func:`_grad_output_for`)."""
    import torch

    if go is None:
        out.backward()
    else:
        (out * torch.tensor(go, dtype=torch.float64)).sum().backward()


def _arrays(inputs) -> list[np.ndarray]:
    return [np.array(to_array(a, "input"), dtype=np.float64) for a in inputs]


def _torch_use_grads(fn, arrays, go):
    import torch

    try:
        PerUse = _per_use_tensor_class()
        wrapped = []
        for a in arrays:
            t = torch.tensor(a, dtype=torch.float64, requires_grad=True).as_subclass(PerUse)
            t._uses = []
            wrapped.append(t)
        out = fn(*wrapped)
        out = out.as_subclass(torch.Tensor)
        if out.requires_grad:
            _seeded_backward(out, go)
        return [[g.numpy() for g in t._uses] for t in wrapped]
    except Exception:  # diagnosis only: never let it break a check
        return [[] for _ in arrays]


def _grad_output_for(shape, grad_output, seed):
    if grad_output is not None:
        go = to_array(grad_output, "grad_output")
        return np.broadcast_to(go, tuple(shape)).copy()
    if len(shape) == 0:
        return None
    return np.random.default_rng(seed + 7919).uniform(-1.0, 1.0, size=tuple(shape))


# --------------------------------------------------------------------------- diagnosis


def _close(a, b, rtol=RTOL, atol=ATOL):
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol)


def _sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray | None:
    """Sum ``g`` over broadcast dimensions so it has ``shape`` (None if impossible)."""
    try:
        np.broadcast_shapes(g.shape, shape)
    except ValueError:
        return None
    if len(shape) > g.ndim:
        return None
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def diagnose(got: np.ndarray | None, expected: np.ndarray | None, *,
             n: int | Sequence[int] | None = None,
             output_shape: tuple | None = None, use_grads: Sequence[np.ndarray] = (),
             rtol: float = RTOL, atol: float = ATOL, requires_grad: bool | None = None,
             per_call: Sequence[np.ndarray] = (), context: str | None = None) -> list[str]:
    """Likely causes of a gradient mismatch, from its signature (docs/design.md, the grading contract).

    A hint is given only when its diagnosis fits: where none does, the message
    says what differs (expected, got, a constant ratio) and no more.

    ``n``: the number of elements a mean divides by, if a mean is involved, or
    the sizes of the dimensions it averages over (``(N, C)``: then a missing
    factor is named by its dimension); any factor of it that is missing or
    extra is recognised, and ``N/4`` (the 2x2 example's ``x/2`` used for
    another N);
    ``context``: ``"numpy"`` for a gradient computed by hand (no ``backward()``
    or ``.grad`` in sight, so no advice about them), ``"autograd"`` for the
    ``.grad`` of a tensor or of an engine's ``Variable``, ``None`` if unknown;
    ``output_shape``: the shape of the expression's output (recognises an
    un-reduced broadcast gradient); ``use_grads``: torch's gradient through
    each separate use of this input (recognises "last path only");
    ``requires_grad``: True when ``got`` is the ``.grad`` of a leaf created with
    ``requires_grad=True`` (a None then means backward() never reached it);
    ``per_call``: torch's gradient from each of several ``backward()`` calls
    whose sum is ``expected`` (recognises "assigned, not accumulated, across calls").
    """
    hints: list[str] = []
    if got is None:
        if expected is None:
            return hints
        if context == "numpy":
            return [_("got None: the function returned nothing (is a `return` missing?).")]
        if requires_grad:
            return [_("got None: this input is a leaf created with requires_grad=True, so "
                      "backward() never reached it. Is backward() visiting the nodes in reversed "
                      "topological order (the output first, each node only after every node "
                      "that passes gradients to it), and passing each node's gradients on to its "
                      "next_functions, down to the leaves' AccumulateGrad?")]
        return [_("got None: .grad stays None for a tensor that is not a leaf (use retain_grad() "
                  "to keep it), for one created without requires_grad=True, or when backward() "
                  "never reached it.")]
    if expected is None:
        return [_("torch gives no gradient here (None): this input is not a leaf that requires "
                  "grad, or the output does not depend on it.")]

    if got.shape != expected.shape:
        if got.size == expected.size and _squeezed(got.shape) == _squeezed(expected.shape):
            same = _close(got.reshape(expected.shape), expected, rtol, atol)
            if got.ndim < expected.ndim:
                msg = (_("missing keepdims: the same numbers as torch's, but a size-1 dimension "
                         "is missing ({got} instead of {expected}). A sum over a stretched "
                         "dimension must keep it: .sum(axis=..., keepdims=True).") if same else
                       _("missing keepdims: but a size-1 dimension is missing ({got} instead of "
                         "{expected}). A sum over a stretched dimension must keep it: "
                         ".sum(axis=..., keepdims=True)."))
            else:
                msg = (_("an extra size-1 dimension: the same numbers as torch's, in shape {got} "
                         "instead of {expected}. Sum the dimensions that broadcasting added in "
                         "front without keepdims, so they go away.") if same else
                       _("an extra size-1 dimension: in shape {got} instead of {expected}. Sum "
                         "the dimensions that broadcasting added in front without keepdims, so "
                         "they go away."))
            hints.append(msg.format(got=tuple(got.shape), expected=tuple(expected.shape)))
            return hints
        if got.ndim == 2 and got.shape == expected.shape[::-1] and _close(got.T, expected, rtol, atol):
            hints.append(_("transposed: the gradient equals torch's transposed (for y = a @ b, "
                           "dL/da = g @ b.T and dL/db = a.T @ g)."))
        summed = _sum_to_shape(got, expected.shape)
        if summed is not None and summed.shape == expected.shape:
            if output_shape is not None and tuple(got.shape) == tuple(output_shape):
                lead = _("the gradient has the shape of the output, not of the input")
            else:
                lead = _("the gradient has a broadcast shape, not the input's shape")
            if _close(summed, expected, rtol, atol):
                lead = _("{lead} (summed, it matches torch)").format(lead=lead)
            hints.append(_("{lead}: missing unbroadcast; sum the gradient over the dimensions "
                           "that broadcasting added or stretched, back to {shape}.").format(
                lead=lead, shape=tuple(expected.shape)))
        if not hints:
            hints.append(_("wrong shape: a gradient always has the shape of its input "
                           "{shape}.").format(shape=tuple(expected.shape)))
        return hints

    if not np.all(np.isfinite(got)):
        hints.append(_("the gradient contains nan or inf: a division by zero or log of a "
                       "non-positive number in a backward formula?"))
        return hints
    if np.allclose(got, 0, atol=atol) and not np.allclose(expected, 0, atol=atol):
        if context == "numpy":
            hints.append(_("all zeros, where torch's gradient is not."))
        else:
            hints.append(_("all zeros: the gradient never reached this input, or a local "
                           "derivative is zero where it should not be. In your own engine: does "
                           "backward() visit nodes in reversed topological order (output "
                           "first), passing gradients on to each node's inputs?"))
        return hints
    mean_hints = _mean_hints(got, expected, n, rtol, atol)
    if _close(got, 2 * expected, rtol, atol):
        if context != "numpy":
            hints.append(_("exactly 2x torch's: the gradient was accumulated twice (backward() "
                           "called twice without zeroing .grad, or a node visited twice: double "
                           "counting)."))
        elif not mean_hints:
            hints.append(_("exactly 2x torch's: a term counted twice, or a factor 2 too many in "
                           "a formula."))
    if _close(got, -expected, rtol, atol):
        hints.append(_("sign flip: the gradient is torch's with the opposite sign (check "
                       "subtraction, negation and the derivative's sign)."))
    hints += mean_hints
    if got.ndim == 2 and got.shape[0] == got.shape[1] and not _close(got, expected, rtol, atol) \
            and _close(got.T, expected, rtol, atol):
        hints.append(_("transposed: the gradient equals torch's transposed (for y = a @ b, "
                       "dL/da = g @ b.T and dL/db = a.T @ g)."))
    if len(per_call) >= 2:
        if _close(got, per_call[-1], rtol, atol):
            hints.append(_("equal to the last backward() call's gradient only: after "
                           "{calls} backward() calls .grad must hold their sum. The "
                           "gradient was assigned (grad = g) instead of accumulated "
                           "(grad = grad + g) into .grad.").format(calls=len(per_call)))
        elif _close(got, per_call[0], rtol, atol):
            hints.append(_("equal to the first backward() call's gradient only: the later "
                           "backward() calls did not add theirs to .grad."))
    if len(use_grads) >= 2:
        for ug in use_grads:
            if ug.shape == got.shape and _close(got, ug, rtol, atol):
                hints.append(_("equal to one path only: this value is used {uses} times and "
                               "the gradients of all uses must be summed. The gradient was "
                               "assigned (grad = ...) instead of accumulated "
                               "(grad += ...).").format(uses=len(use_grads)))
                break
    if not hints:
        ratio = _constant_ratio(got, expected)
        if ratio is not None:
            hints.append(_("off by a constant factor {ratio:.6g}: every entry is torch's "
                           "times {ratio:.6g}.").format(ratio=ratio))
    return hints


def _squeezed(shape) -> tuple:
    return tuple(k for k in shape if k != 1)


def _mean_hints(got, expected, n, rtol, atol) -> list[str]:
    """A mean's 1/N missing, applied twice, taken as 1/4, or missing one factor of it."""
    if not n:
        return []
    dims = [int(k) for k in (n if isinstance(n, (tuple, list)) else (n,))]
    N = math.prod(dims)
    if N <= 1:
        return []
    each = _(" (N = {sizes}, the sizes of the dimensions it averages over)").format(
        sizes=" x ".join(map(str, dims))) if len(dims) > 1 else ""
    if _close(got, expected * N, rtol, atol):
        return [_("off by a factor of N = {N}: the 1/N of the mean is missing "
                  "(d mean(x)/dx = 1/N){each}.").format(N=N, each=each)]
    if _close(got, expected / N, rtol, atol):
        return [_("off by 1/N = 1/{N}: the mean's 1/N was applied twice{each}.").format(
            N=N, each=each)]
    quarter = N != 4 and _close(got, expected * (N / 4), rtol, atol)
    x_over_2 = _("the mean divided by 4, the N of the 2x2 example, instead of by this input's "
                 "N = {N}. The example's x/2 is 2x/N only when N = 4; in general "
                 "d mean(x*x)/dx = 2x/N").format(N=N)
    if quarter and (len(dims) == 1 and N % 4):  # N/4 is no factor of N: only the x/2 reading fits
        return [_("off by a constant factor N/4 = {quarter:g}: {x_over_2}.").format(
            quarter=N / 4, x_over_2=x_over_2)]
    # a factor of N: the size of one dimension (or of several) of the mean
    if len(dims) > 1:
        factors = {}
        for mask in range(1, 2 ** len(dims) - 1):
            chosen = [i for i in range(len(dims)) if mask >> i & 1]
            d = math.prod(dims[i] for i in chosen)
            if d > 1:
                factors.setdefault(d, chosen)
    else:
        factors = {d: None for d in range(2, N) if N % d == 0}
    for d, chosen in sorted(factors.items()):
        if chosen:
            which = ngettext(" the 1/{d} of dimension {dims} (of sizes {sizes})",
                             " the 1/{d} of dimensions {dims} (of sizes {sizes})",
                             len(chosen)).format(d=d, dims=", ".join(map(str, chosen)),
                                                 sizes=dims)
        else:
            which = _(" a factor {d} of N = {N}").format(d=d, N=N)
        if _close(got, expected * d, rtol, atol):
            also = _(" Or {x_over_2}.").format(x_over_2=x_over_2) \
                if quarter and chosen is None else ""
            return [_("off by a factor {d}: part of the mean's 1/N is missing:{which}. A mean "
                      "over several dimensions divides by the product of their sizes (here "
                      "{N}).{also}").format(d=d, which=which, N=N, also=also)]
        if _close(got, expected / d, rtol, atol):
            return [_("off by 1/{d}: the gradient was divided by{which} once too often (the "
                      "mean divides by {N} in all).").format(d=d, which=which, N=N)]
    if quarter:
        return [_("off by a constant factor N/4 = {quarter:g}: {x_over_2}.").format(
            quarter=N / 4, x_over_2=x_over_2)]
    return []


def _constant_ratio(got, expected):
    mask = np.abs(expected) > 1e-12
    # one number always has "a constant ratio": it takes two or more to call it a pattern
    if mask.sum() < 2 or not np.allclose(got[~mask], 0, atol=ATOL):
        return None
    r = got[mask] / expected[mask]
    if np.allclose(r, r.flat[0], rtol=1e-6) and not math.isclose(r.flat[0], 1.0, rel_tol=1e-6):
        return float(r.flat[0])
    return None


# --------------------------------------------------------------------------- assertions


def _fmt(a: np.ndarray | None) -> str:
    if a is None:
        return "None"
    with np.printoptions(precision=6, suppress=True, threshold=24, edgeitems=3):
        s = np.array2string(a, separator=", ")
    return s.replace("\n", "\n            ")


def assert_close(got: Any, expected: Any, what: str = "value", *, n: int | Sequence[int] | None = None,
                 output_shape: tuple | None = None, use_grads: Sequence[np.ndarray] = (),
                 rtol: float = RTOL, atol: float = ATOL, kind: str = "gradient",
                 requires_grad: bool | None = None,
                 per_call: Sequence[np.ndarray] = (), context: str | None = None) -> None:
    """Raise :class:`GradientMismatch` unless ``got`` matches ``expected``.

    Shape first, then values (``|got - expected| <= atol + rtol*|expected|``).
    ``what`` names the check in the message, e.g. ``"x.grad for mean(x*x)"``.
    ``context`` (see :func:`diagnose`) defaults to "autograd" when ``what`` names a
    ``.grad`` or a ``backward()``, else to what ``got`` is: numbers, lists and numpy
    arrays were computed by hand ("numpy"), anything else is a tensor's gradient.
    """
    __tracebackhide__ = True  # IPython and pytest: show the message, not our frames
    if context is None:
        context = _context_of(got, what)
    exp = to_array(expected, f"{what} (expected)")
    g = to_array(got, what)
    if g is None and exp is None:
        return
    lines = [_("{what}: does not match torch.autograd").format(what=what)]
    if g is not None and exp is not None and g.shape == exp.shape:
        bad = ~np.isclose(g, exp, rtol=rtol, atol=atol)
        if not bad.any():
            return
        err = np.abs(g - exp)
        err = np.where(np.isnan(err), np.inf, err)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        lines.append("  " + _("shape:          {shape} (ok)").format(shape=tuple(exp.shape)))
        lines.append("  " + _("max abs error:  {error:.3g} (tolerance: atol={atol:g}, "
                              "rtol={rtol:g})").format(error=float(err.max()), atol=atol,
                                                       rtol=rtol))
        lines.append("  " + _("first differing index {index}: expected {expected:.6g}, "
                              "got {got:.6g}").format(index=first, expected=exp[first],
                                                      got=g[first]))
    elif g is None or exp is None:
        lines.append("  " + _("expected: {what}").format(what=_array_or_none(exp)))
        lines.append("  " + _("got:      {what}").format(what=_array_or_none(g)))
    else:
        lines.append("  " + _("shape: expected {expected}, got {got}").format(
            expected=tuple(exp.shape), got=tuple(g.shape)))
    lines.append("  " + _("expected: {what}").format(what=_fmt(exp)))
    lines.append("  " + _("got:      {what}").format(what=_fmt(g)))
    hints = diagnose(g, exp, n=n, output_shape=output_shape, use_grads=use_grads,
                     rtol=rtol, atol=atol, requires_grad=requires_grad,
                     per_call=per_call, context=context) if kind == "gradient" else []
    for h in hints:
        lines.append("  " + likely_cause(h))
    raise GradientMismatch("\n".join(lines))


def _array_or_none(a: np.ndarray | None) -> str:
    if a is None:
        return "None"
    return _("an array of shape {shape}").format(shape=tuple(a.shape))


def likely_cause(hint: str) -> str:
    """The line that gives a hint in a check's message: ``likely cause: <hint>``, translated."""
    return _("likely cause: {hint}").format(hint=hint)


def is_likely_cause(line: str) -> bool:
    """Whether a message line gives a likely cause (in any language the course speaks)."""
    from .i18n import all_translations

    s = line.strip()
    return any(s.startswith(p.split("{hint}")[0].strip())
               for p in all_translations("likely cause: {hint}"))


def without_likely_causes(message: str) -> str:
    """``message`` without its likely-cause lines (a check that names a better cause itself)."""
    return "\n".join(ln for ln in message.splitlines() if not is_likely_cause(ln))


def _context_of(got: Any, what: str = "") -> str | None:
    """"numpy" for a result computed by hand, "autograd" for the .grad of a tensor or a Variable.

    A check named after a ``.grad`` or a ``backward()`` is about autograd, whatever the
    array's type (an engine's ``Variable.grad`` is a numpy array).
    """
    if ".grad" in what or "backward" in what:
        return "autograd"
    if got is None:
        return None
    if isinstance(got, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return "numpy"
    return "autograd"


def assert_close_explained(got: Any, expected: Any, what: str,
                           use_grads: Callable[[], Sequence], **kw) -> None:
    """:func:`assert_close`; on a mismatch, again with ``use_grads()`` for the diagnosis.

    ``use_grads()`` (torch's gradient along each use of the input, for the "one path
    only" hint) costs a second torch pass, so it runs only when the values differ.
    """
    __tracebackhide__ = True  # IPython and pytest: show the message, not our frames
    try:
        assert_close(got, expected, what, **kw)
    except GradientMismatch:
        assert_close(got, expected, what, use_grads=use_grads(), **kw)
        raise


def assert_grad_close(got: Any, expected: Any, name: str = "gradient", **kw) -> None:
    """Compare a student's gradient with torch's (shape, values, diagnosis)."""
    __tracebackhide__ = True  # IPython and pytest: show the message, not our frames
    assert_close(got, expected, name, kind="gradient", **kw)


@dataclass
class CheckResult:
    name: str
    torch: TorchResult
    value: np.ndarray | None
    grads: list[np.ndarray | None]


def check_gradients(fn: Callable, inputs: Sequence[Any], engine: Callable, *,
                    name: str | None = None, input_names: Sequence[str] | None = None,
                    grad_output: Any = None, seed: int = 0, n: int | None = None,
                    requires_grad: Sequence[bool] | None = None,
                    check_value: bool = True, rtol: float = RTOL,
                    atol: float = ATOL, localize: bool = True) -> CheckResult:
    """Run ``fn`` on torch and on ``engine`` with the same inputs and compare.

    ``engine`` builds a leaf from a float64 array: ``engine(array, requires_grad=True)``,
    for example the student's ``Variable``. ``fn`` must use only what both
    engines share (operators, ``.sum()``, ``.exp()`` ...). Checks the forward
    value, then each input's gradient, shape first, with ``rtol``/``atol``.
    A non-scalar output is back-propagated with ``grad_output`` (default: a
    random array from ``seed``), on both engines.

    When a gradient differs and ``localize`` is true, the engine is probed to
    say where (see :func:`engine_hints`): nodes run out of topological order
    or twice, or the one op of the expression whose gradient is wrong alone.
    """
    __tracebackhide__ = True  # IPython and pytest: show the message, not our frames
    label = name or getattr(fn, "__name__", "expression")
    names = list(input_names or [_("input {i}").format(i=i) for i in range(len(inputs))])
    rg = list(requires_grad) if requires_grad is not None else [True] * len(inputs)
    # the per-use pass (for the "one path only" hint) runs only if a gradient differs
    ref = torch_gradients(_only(fn, rg), inputs, grad_output, seed=seed)

    arrays = [np.array(to_array(a, "input"), dtype=np.float64) for a in inputs]
    # a student's engine builds them all in one request; any it did not build (one raised,
    # or the answer was malformed) are built below, one request each, as before
    leaves = remote_leaves(engine, arrays, rg) or []
    for arr, r in list(zip(arrays, rg))[len(leaves):]:
        try:
            leaves.append(engine(arr, requires_grad=r))
        except Exception as e:
            raise GradientMismatch(_("{label}: creating a leaf {call} raised {error}").format(
                label=label, call=f"{getattr(engine, '__name__', 'engine')}(array, "
                                  f"requires_grad={r})",
                error=f"{type(e).__name__}: {e}")) from e
    try:
        out = fn(*leaves)
    except Exception as e:
        raise GradientMismatch(_("{label}: the forward pass on your engine raised "
                                 "{error}").format(label=label,
                                                   error=f"{type(e).__name__}: {e}")) from e
    forward = _("{label}: forward value").format(label=label)
    value = to_array(getattr(out, "data", out), forward)
    if check_value:
        assert_close(value, ref.value, forward, rtol=rtol, atol=atol, kind="value")
    # a student's engine runs backward and hands back the grads in one request (the same
    # steps in the same order); any grad it could not read is read below, as before
    remote = remote_backward_grads(out, leaves, ref.grad_output, rg)
    read: list = []
    try:
        if remote is not None:
            read = remote()
        elif ref.grad_output is None:
            out.backward()
        else:
            out.backward(ref.grad_output.copy())
    except RecursionError as e:
        raise GradientMismatch(
            _("{label}: backward() on your engine raised {error}").format(
                label=label, error=f"RecursionError: {e}") + "\n  " + likely_cause(
                _("a recursive walk of the graph (a recursive topological sort) hits Python's "
                  "recursion limit on a deep graph; walk it with an explicit stack (a list) "
                  "instead."))) from None
    except Exception as e:
        raise GradientMismatch(_("{label}: backward() on your engine raised {error}").format(
            label=label, error=f"{type(e).__name__}: {e}") + _shape_crash_hint(e)) from e
    grads = []
    try:
        for i, (leaf, nm, r) in enumerate(zip(leaves, names, rg)):
            if i < len(read):
                got = to_array(read[i], f"{nm}.grad") if r else to_array(read[i])
            else:
                got = to_array(leaf.grad, f"{nm}.grad") if r else to_array(getattr(leaf, "grad", None))
            expected = ref.grads[i] if r else None
            def uses(i=i):
                if not ref.use_grads:
                    ref.use_grads = _torch_use_grads(_only(fn, rg), _arrays(inputs),
                                                     ref.grad_output)
                return ref.use_grads[i]

            what = _("{label}: gradient of {name}").format(label=label, name=nm)
            assert_close_explained(got, expected, what, uses, n=n,
                                   output_shape=tuple(ref.value.shape), rtol=rtol, atol=atol,
                                   requires_grad=r, context="autograd")
            grads.append(got)
    except GradientMismatch as e:
        extra = engine_hints(fn, inputs, engine, requires_grad=rg, grad_output=ref.grad_output) \
            if localize else []
        if not extra:
            raise
        raise GradientMismatch(str(e) + "".join("\n  " + likely_cause(h) for h in extra)) \
            from None
    return CheckResult(label, ref, value, grads)


def _shape_crash_hint(e: BaseException) -> str:
    """A likely cause for numpy's shape errors raised inside an engine's backward()."""
    msg = str(e).lower()
    if not isinstance(e, ValueError) or not any(w in msg for w in (
            "broadcast", "reshape", "shape", "not aligned", "mismatch in its core dimension")):
        return ""
    return "\n  " + likely_cause(_(
        "a gradient reached an op with a shape other than that op's output: where an input was "
        "broadcast in the forward pass, the gradient for it must be summed back to the input's "
        "shape (unbroadcast) before it is passed on; a transposed matmul gradient fails the "
        "same way."))


def _only(fn, rg):
    """Torch leaves that must not require grad are detached before ``fn`` sees them."""
    if all(rg):
        return fn

    def wrapped(*ts):
        return fn(*[t if r else t.detach() for t, r in zip(ts, rg)])

    return wrapped


# --------------------------------------------------------------------------- localising a bug


# one small expression per op, keyed by the stem of torch's grad_fn name (MulBackward0 -> Mul):
# (what to call the op in a hint, the expression, input shapes, positive inputs?)
OP_PROBES: dict[str, tuple[str, Callable, tuple, bool]] = {
    "Add": ("add (a + b)", lambda a, b: a + b, ((2, 3), (2, 3)), False),
    "Sub": ("sub (a - b)", lambda a, b: a - b, ((2, 3), (2, 3)), False),
    "Rsub": ("sub (1.5 - a)", lambda a: 1.5 - a, ((2, 3),), False),
    "Neg": ("neg (-a)", lambda a: -a, ((2, 3),), False),
    "Mul": ("mul (a * b)", lambda a, b: a * b, ((2, 3), (2, 3)), False),
    "Div": ("div (a / b)", lambda a, b: a / b, ((2, 3), (2, 3)), True),
    "Reciprocal": ("div (1 / a)", lambda a: 1.0 / a, ((2, 3),), True),
    "Pow": ("pow (a ** 3)", lambda a: a**3, ((2, 3),), False),
    "Exp": ("exp", lambda a: a.exp(), ((2, 3),), False),
    "Log": ("log", lambda a: a.log(), ((2, 3),), True),
    "Tanh": ("tanh", lambda a: a.tanh(), ((2, 3),), False),
    "Sigmoid": ("sigmoid", lambda a: a.sigmoid(), ((2, 3),), False),
    "Relu": ("relu", lambda a: a.relu(), ((2, 3),), False),
    "Sum": ("sum", lambda a: a.sum(), ((2, 3),), False),
    "Mean": ("mean", lambda a: a.mean(), ((2, 3),), False),
    "Mm": ("matmul (a @ b)", lambda a, b: a @ b, ((2, 3), (3, 4)), False),
    "Mv": ("matmul (a @ b)", lambda a, b: a @ b, ((2, 3), (3, 4)), False),
    "Dot": ("matmul (a @ b)", lambda a, b: a @ b, ((2, 3), (3, 4)), False),
    "Permute": ("transpose (.T)", lambda a: a.T, ((2, 3),), False),
    "T": ("transpose (.T)", lambda a: a.T, ((2, 3),), False),
    "View": ("reshape", lambda a: a.reshape(3, 2), ((2, 3),), False),
    "UnsafeView": ("reshape", lambda a: a.reshape(3, 2), ((2, 3),), False),
}


def engine_hints(fn: Callable, inputs: Sequence[Any], engine: Callable, *,
                 requires_grad: Sequence[bool] | None = None,
                 grad_output: np.ndarray | None = None) -> list[str]:
    """Where an engine's wrong gradient comes from, found by probing the engine itself.

    Runs ``fn`` again on ``engine`` with every graph node's ``backward``
    instrumented (nodes as in ps3: ``.next_functions`` and a ``backward``
    method) and reports nodes run out of reversed topological order or more
    than once; failing that, runs each op of the expression alone (the ops
    torch's graph of ``fn`` holds) and names the ones whose gradient is wrong
    by themselves. Never raises: a probe that fails to run says nothing.
    """
    try:
        hints = _trace_hints(fn, inputs, engine, requires_grad, grad_output)
        return hints or _op_hints(fn, inputs, engine)
    except Exception:
        return []


def _trace_hints(fn, inputs, engine, requires_grad, grad_output) -> list[str]:
    from .testing import backward_trace

    rg = list(requires_grad) if requires_grad is not None else [True] * len(inputs)
    leaves = [engine(np.array(to_array(a, "input"), dtype=np.float64), requires_grad=r)
              for a, r in zip(inputs, rg)]
    out = fn(*leaves)
    trace = backward_trace(out, grad_output)  # in the judge: run where the engine lives
    names, calls = trace["names"], trace["calls"]
    edges = [tuple(e) for e in trace["edges"]]
    hints = []
    counts = Counter(calls)  # not calls.count(i) per node: quadratic on a 10,000-node chain
    twice = [names[i] for i, c in sorted(counts.items()) if c > 1]
    if twice:
        hints.append(_("double counting: in one backward() call, the backward of {nodes} ran "
                       "more than once (a node reached along two paths must be visited once, "
                       "after all its gradient has arrived: keep a set of visited nodes in the "
                       "topological sort).").format(nodes=", ".join(twice[:3])))
    first = {}
    for k, i in enumerate(calls):
        first.setdefault(i, k)
    last = {i: k for k, i in enumerate(calls)}
    for i, j in edges:  # node i passes gradients to node j: i must run before j
        if counts.get(i, 0) > 1 or counts.get(j, 0) > 1:
            continue  # already reported as double counting
        if i in last and j in first and first[j] < last[i]:
            hints.append(_("topological order not reversed: {later} ran its backward before "
                           "{earlier}, which passes gradients to it. backward() must visit the "
                           "nodes in reversed topological order: the output first, each node "
                           "only after every node that uses its output.").format(
                later=names[j], earlier=names[i]))
            break
    return hints


def _op_hints(fn, inputs, engine) -> list[str]:
    import torch

    from .graph import graph_data, op_name

    leaves = [torch.tensor(to_array(a, "input"), dtype=torch.float64, requires_grad=True)
              for a in inputs]
    out = fn(*leaves)
    stems = []
    for node in graph_data(out).nodes:
        st = op_name(node.name)
        if st in OP_PROBES and OP_PROBES[st][0] not in [OP_PROBES[s][0] for s in stems]:
            stems.append(st)
    if len(stems) < 2:  # a single op: the check's own name already says which
        return []
    failing = []
    for k, st in enumerate(stems):
        label, probe, shapes, positive = OP_PROBES[st]
        n_mean = int(np.prod(shapes[0])) if st == "Mean" else None  # recognises a missing 1/N
        try:
            check_gradients(probe, random_inputs(*shapes, seed=4242 + k, positive=positive),
                            engine, name=_("{op} alone").format(op=label), localize=False,
                            n=n_mean)
        except GradientMismatch as e:
            lines = str(e).splitlines()
            cause = next((ln.strip() for ln in lines if is_likely_cause(ln)), "")
            failing.append((label, lines[0] + (f" ({cause})" if cause else "")))
        except Exception:  # noqa: S112  (a probe that cannot run says nothing)
            continue
    if not failing or len(failing) == len(stems):  # everything fails: not one op's fault
        return []
    label, why = failing[0]
    more = "" if len(failing) == 1 else _(" (also wrong alone: {ops})").format(
        ops=", ".join(f[0] for f in failing[1:]))
    return [_("a wrong derivative in {op}: of the ops in this expression, {op} gives a "
              "wrong gradient on its own{more}: {why}").format(op=label, more=more, why=why)]
