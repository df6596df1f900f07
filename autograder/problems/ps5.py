"""Test helpers of ps5 *Train with your engine* (the test cells of ``source/ps5/ps5.ipynb`` import them).

They run where the test cell runs: in the judge during grading, in the student's kernel on
Run and Validate (``autograder.problems``). The student's classes and functions come in as
arguments, ``Variable`` (the student's own ps3 engine, ``minigrad.py``) among them; random
generators the student's code draws from are made where it runs (``student_side("numpy")``),
and this process's numpy repeats their draws; every expected value comes from this process's
own torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import (
    GradientMismatch,
    assert_close,
    assert_grad_close,
    likely_cause,
    random_inputs,
    torch_gradients,
)
from ..data import accuracy, make_moons
from ..i18n import _
from ..testing import check_unchanged, plain, remote, student_side, torch_mlp, type_name

__all__ = ["check_linear", "check_linear_init", "check_mlp", "check_mlp_layers", "check_loss", "tanh_layer_loss",
           "check_steps", "check_step_keeps_grad", "check_zero_grad", "check_sgd_params",
           "torch_training", "check_training", "check_accuracy", "grads", "check_predict",
           "check_predict_edges", "NEAR_ZERO", "check_predict_near_zero", "check_plot"]


def _rng(seed: int):
    """A numpy generator made where the student's code runs (it draws the student's weights)."""
    return student_side("numpy").random.default_rng(seed)


# ---------------------------------------------------------------------- 1. Linear

def check_linear(Linear, Variable, n: int, fan_in: int, fan_out: int, seed: int):
    """``Linear(fan_in, fan_out, rng)`` on ``x`` of shape ``(n, fan_in)``: its parameters
    (``[weight, bias]``, shapes, leaves requiring grad), its output and the gradients of
    weight, bias and ``x`` against torch with the same numbers. Returns the layer."""
    layer = Linear(fan_in, fan_out, _rng(seed))
    what = _("Linear({fan_in}, {fan_out}) on x of shape ({n}, {fan_in})").format(
        fan_in=fan_in, fan_out=fan_out, n=n)
    params = plain(layer.parameters(), list)  # asked once: a second call could answer otherwise
    assert isinstance(params, list), _parameters_not_a_list(what, params)
    assert len(params) == 2 and params[0] is layer.weight and params[1] is layer.bias, (
        _("{what}: parameters() must return [weight, bias]").format(what=what))
    assert layer.weight.shape == (fan_out, fan_in) and layer.bias.shape == (fan_out,), (
        _("{what}: weight has shape {weight_shape} and bias {bias_shape}; expected "
          "{expected_weight} and {expected_bias}").format(
            what=what, weight_shape=layer.weight.shape, bias_shape=layer.bias.shape,
            expected_weight=(fan_out, fan_in), expected_bias=(fan_out,)))
    for p, nm in ((layer.weight, "weight"), (layer.bias, "bias")):
        assert p.requires_grad and p.is_leaf, (
            _("{what}: {name} must be a leaf Variable with requires_grad=True").format(what=what,
                                                                                       name=nm))
    x_np, = random_inputs((n, fan_in), seed=seed + 100)
    W, b = np.array(layer.weight.data), np.array(layer.bias.data)
    # torch on the same numbers: x, weight and bias as leaves, the same output gradient
    ref = torch_gradients(lambda x, W, b: x @ W.T + b, [x_np, W, b], seed=seed)
    x = Variable(x_np, requires_grad=True)
    out = layer(x)
    assert_close(out.data, ref.value, _("{what}: output").format(what=what), kind="value")
    out.backward(ref.grad_output.copy())
    assert_grad_close(layer.weight.grad, ref.grads[1], _("{label}: gradient of {name}").format(label=what, name="weight"))
    assert_grad_close(layer.bias.grad, ref.grads[2], _("{label}: gradient of {name}").format(label=what, name="bias"),
                      output_shape=tuple(ref.value.shape))
    assert_grad_close(x.grad, ref.grads[0], _("{label}: gradient of {name}").format(label=what, name="x"))
    return layer


def _parameters_not_a_list(what: str, got) -> str:
    """The message for a ``parameters()`` that returned a tuple, a generator, ...: the text
    asks for a list, which callers concatenate (``layer.parameters() + ...``), take the
    ``len()`` of and iterate more than once."""
    return _("{what}: parameters() must return a list, got {type} (a tuple cannot be added to a "
             "list, a generator is used up after one pass)").format(what=what, type=type_name(got))


def check_linear_init(Linear, fan_in: int, fan_out: int, seed: int) -> None:
    """``Linear(fan_in, fan_out, rng)``'s initial values: in torch.nn.Linear's range
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, drawn from ``rng`` weight first, then bias (this
    process's generator with the same seed repeats the draws); the same seed, the same layer."""
    layer = Linear(fan_in, fan_out, _rng(seed))
    name = f"Linear({fan_in}, {fan_out})"
    bound = 1 / np.sqrt(fan_in)
    weight, bias = np.array(layer.weight.data), np.array(layer.bias.data)
    assert np.all(np.abs(weight) <= bound) and np.all(np.abs(bias) <= bound), (
        _("{name}: initial values must lie in [-1/sqrt(in_features), 1/sqrt(in_features)] = "
          "[{low:.4g}, {high:.4g}]").format(name=name, low=-bound, high=bound))
    if weight.size >= 16:
        assert np.std(weight) > bound / 5, (
            _("{name}: the weights look constant, not random").format(name=name))
    rng = np.random.default_rng(seed)
    w, b = rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)
    assert weight.shape == w.shape and np.allclose(weight, w) \
        and bias.shape == b.shape and np.allclose(bias, b), (
        _("{name}: weight and bias must be drawn with rng.uniform(-bound, bound, ...), weight "
          "first, with bound = 1/sqrt(in_features) = {bound:.4g} (torch.nn.Linear's default: the "
          "fan-in, not out_features)").format(name=name, bound=bound))
    again = Linear(fan_in, fan_out, _rng(seed))
    assert np.array_equal(np.array(again.bias.data), bias), (
        _("{name}: the same rng seed must give the same layer").format(name=name))


# ---------------------------------------------------------------------- 2. MLP

def _layer_shapes(sizes) -> list[tuple]:
    """The parameters' shapes of ``MLP(sizes)``: (out, in) and (out,) per layer."""
    return [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((b, a), (b,))]


def _weights(params, sizes, what: str) -> list[np.ndarray]:
    """The parameters' numbers (``p.data``, read from the student's process), checked against
    the shapes ``sizes`` gives before any torch work here uses them: a shape the student's
    objects only claim (``p.shape``) must not make this process build a network of its own
    size (a red team's 1M-wide layer of zeros cost the grading process 5 GB)."""
    arrays = [np.array(p.data, dtype=np.float64) for p in params]  # copies: training goes on
    got, expected = [a.shape for a in arrays], _layer_shapes(sizes)
    assert got == expected, _("{what}: parameter shapes {shapes}, expected {expected}").format(
        what=what, shapes=got, expected=expected)
    return arrays


def check_mlp(MLP, Variable, sizes, n: int, seed: int) -> None:
    """``MLP(sizes, rng)`` on ``x`` of shape ``(n, sizes[0])``: its parameters (count,
    order, shapes), output and every parameter's gradient against the same network in
    torch (:func:`autograder.testing.torch_mlp`) with identical weights."""
    model = MLP(sizes, _rng(seed))
    what = _("MLP({sizes}) on x of shape ({n}, {features})").format(sizes=sizes, n=n,
                                                                     features=sizes[0])
    # asked once, as a list here: every later use (shapes, weights, gradients) reads these same
    # Variables (a red team's parameters() answered nothing the third time it was iterated)
    params = plain(model.parameters(), list)
    assert isinstance(params, list), _parameters_not_a_list(what, params)
    assert len(params) == 2 * (len(sizes) - 1), (
        _("{what}: parameters() returned {got} Variables; expected {expected} (a weight and a bias "
          "per layer)").format(what=what, got=len(params), expected=2 * (len(sizes) - 1)))
    shapes = [p.shape for p in params]
    expected_shapes = _layer_shapes(sizes)
    assert shapes == expected_shapes, _("{what}: parameter shapes {shapes}, expected {expected}").format(
        what=what, shapes=shapes, expected=expected_shapes)
    x_np, = random_inputs((n, sizes[0]), seed=seed + 100)
    arrays = [x_np] + _weights(params, sizes, what)
    ref = torch_gradients(torch_mlp, arrays, seed=seed)   # tanh between torch.nn.Linear-style layers
    out = model(Variable(x_np))
    assert_close(out.data, ref.value, _("{what}: output").format(what=what), kind="value")
    out.backward(ref.grad_output.copy())
    for i, (p, g) in enumerate(zip(params, ref.grads[1:])):
        kind = "weight" if i % 2 == 0 else "bias"
        assert_grad_close(p.grad, g, _("{what}: gradient of layer {layer}'s {kind}").format(
            what=what, layer=i // 2 + 1, kind=kind))


def check_mlp_layers(MLP, Linear, sizes, seed: int) -> None:
    """``MLP(sizes, rng)`` keeps its layers in the list attribute ``layers``, one ``Linear``
    per pair of sizes, made in order with the ``rng`` it is given: the same numbers as the
    student's own ``Linear`` layers made one after the other from a generator of the same
    seed; ``parameters()`` are those layers' parameters, in order."""
    sizes = list(sizes)
    what = _("MLP({sizes})").format(sizes=sizes)
    model = MLP(sizes, _rng(seed))
    try:
        layers = list(model.layers)
    except AttributeError:
        raise AssertionError(_("{what}: keep the layers in a list attribute `layers`").format(
            what=what)) from None
    assert len(layers) == len(sizes) - 1, (
        _("{what}: `layers` holds {got} layers; expected {expected} (one Linear per pair of "
          "sizes)").format(what=what, got=len(layers), expected=len(sizes) - 1))
    params = list(model.parameters())
    theirs = [p for layer in layers for p in layer.parameters()]
    assert len(params) == len(theirs) and all(a is b for a, b in zip(params, theirs)), (
        _("{what}: parameters() must return the parameters of `layers`, layer by layer, in "
          "order").format(what=what))
    rng = _rng(seed)
    again = [Linear(a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
    same = all(np.array_equal(np.array(p.data), np.array(q.data))
               for p, q in zip(params, [q for layer in again for q in layer.parameters()]))
    assert same, (
        _("{what}: its layers are not Linear layers made in order from the rng it was given "
          "(layer 1 first, each drawing from that same rng)").format(what=what))


# ---------------------------------------------------------------------- 3. the loss

def check_loss(bce_with_logits, Variable, n: int, seed: int, scale: float = 2.0) -> None:
    """``bce_with_logits`` on ``n`` logits: a scalar, its value and the logits' gradient
    against ``F.binary_cross_entropy_with_logits``."""
    z_np = scale * random_inputs((n, 1), seed=seed)[0]
    t_np = (np.random.default_rng(seed + 1).random((n, 1)) < 0.5).astype(np.float64)
    what = _("bce_with_logits on {n} logits").format(n=n)
    ref = torch_gradients(lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(t_np)), [z_np])
    z = Variable(z_np, requires_grad=True)
    loss = bce_with_logits(z, t_np)
    shape = getattr(loss, "shape", None)
    assert shape in ((), (1,)), (
        _("{what}: the loss must be a scalar Variable, got shape {shape}").format(what=what,
                                                                                  shape=shape))
    assert_close(loss.data, ref.value, _("{what}: value").format(what=what), kind="value")
    loss.backward()
    assert_grad_close(z.grad, ref.grads[0], _("{what}: gradient of the logits").format(what=what),
                      n=n)


# ---------------------------------------------------------------------- 4. SGD

def tanh_layer_loss(x, W, b):
    """``((x @ W.T + b).tanh() ** 2).mean()``: the same expression for torch tensors and for
    the student's Variables (run here, on proxies, it is still the student's engine)."""
    return ((x @ W.T + b).tanh() ** 2).mean()


def check_steps(SGD, Variable, steps: int, lr: float, seed: int, scale: float = 1.0) -> None:
    """``steps`` rounds of zero_grad(), backward(), step() with the student's ``SGD`` and
    with ``torch.optim.SGD`` from the same parameters: the same parameters after them, still
    leaves that require grad. ``scale`` multiplies the loss (gradients above 1: a step that
    clips them shows)."""
    x_np, W_np, b_np = random_inputs((6, 3), (2, 3), (2,), seed=seed)
    what = (_("SGD(lr={lr}), {steps} step(s) with zero_grad()") if scale == 1.0 else
            _("SGD(lr={lr}), {steps} step(s) with zero_grad(), on the loss times {scale} "
              "(gradients above 1)")).format(lr=lr, steps=steps, scale=scale)
    Wt, bt = torch.tensor(W_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    opt_t = torch.optim.SGD([Wt, bt], lr=lr)
    W, b = Variable(W_np, requires_grad=True), Variable(b_np, requires_grad=True)
    opt = SGD([W, b], lr=lr)
    for _step in range(steps):
        opt_t.zero_grad()
        (tanh_layer_loss(torch.tensor(x_np), Wt, bt) * scale).backward()
        opt_t.step()
        opt.zero_grad()
        (tanh_layer_loss(Variable(x_np), W, b) * scale).backward()
        opt.step()
    for p, pt, nm in ((W, Wt, "weight"), (b, bt, "bias")):
        assert p.is_leaf and p.requires_grad, (
            _("{what}: after step() the {name} must still be a leaf that requires grad").format(
                what=what, name=nm))
        assert_close(p.data, pt, _("{what}: {name} after the updates").format(what=what, name=nm),
                     kind="value")


def check_step_keeps_grad(SGD, Variable, lr: float, seed: int) -> None:
    """One ``backward()``, then ``step()`` twice without a ``backward()`` between, with the
    student's ``SGD`` and with ``torch.optim.SGD`` from the same parameters: ``step()`` leaves
    every ``.grad`` as ``backward()`` left it (torch's gradient), so the second step moves the
    parameters by ``lr * grad`` again, as torch's does."""
    x_np, W_np, b_np = random_inputs((5, 3), (2, 3), (2,), seed=seed)
    what = _("SGD(lr={lr}): one backward(), then step() twice").format(lr=lr)
    Wt, bt = torch.tensor(W_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    opt_t = torch.optim.SGD([Wt, bt], lr=lr)
    tanh_layer_loss(torch.tensor(x_np), Wt, bt).backward()
    W, b = Variable(W_np, requires_grad=True), Variable(b_np, requires_grad=True)
    opt = SGD([W, b], lr=lr)
    tanh_layer_loss(Variable(x_np), W, b).backward()
    before = [None if p.grad is None else np.array(p.grad) for p in (W, b)]
    opt_t.step()
    opt.step()
    for p, g, pt, nm in ((W, before[0], Wt, "weight"), (b, before[1], bt, "bias")):
        after = None if p.grad is None else np.array(p.grad)
        assert g is None or (after is not None and after.shape == g.shape
                             and np.array_equal(after, g)), (
            _("{what}: step() changed {grad}; it must leave the gradient as backward() left it, as "
              "torch.optim.SGD does (p.data -= lr * p.grad, never p.grad *= lr)").format(
                what=what, grad=f"{nm}.grad"))
        assert_grad_close(p.grad, pt.grad, _("{label}: gradient of {name}").format(
            label=what, name=nm))
    opt_t.step()
    opt.step()
    for p, pt, nm in ((W, Wt, "weight"), (b, bt, "bias")):
        assert_close(p.data, pt, _("{what}: {name} after the updates").format(what=what, name=nm),
                     kind="value")


def check_zero_grad(SGD, Variable, seed: int) -> None:
    """After ``zero_grad()`` the next ``backward()`` gives the gradient of that loss alone
    (torch's, not twice it), and after another ``zero_grad()`` every ``.grad`` is None or zeros."""
    x, W_np, b_np = random_inputs((4, 3), (2, 3), (2,), seed=seed)
    ref = torch_gradients(tanh_layer_loss, [x, W_np, b_np])
    W, b = Variable(W_np, requires_grad=True), Variable(b_np, requires_grad=True)
    opt = SGD([W, b], lr=0.1)
    tanh_layer_loss(Variable(x), W, b).backward()
    opt.zero_grad()
    tanh_layer_loss(Variable(x), W, b).backward()
    again = _("SGD.zero_grad(), then one more backward(): {grad}")
    assert_grad_close(W.grad, ref.grads[1], again.format(grad="weight.grad"))
    assert_grad_close(b.grad, ref.grads[2], again.format(grad="bias.grad"))
    opt.zero_grad()
    assert all(p.grad is None or (np.shape(p.grad) == tuple(shape) and not np.any(np.array(p.grad)))
               for p, shape in ((W, W_np.shape), (b, b_np.shape))), (
        _("SGD.zero_grad(): after it, every .grad must be None (or zeros of the parameter's "
          "shape)"))


def check_sgd_params(SGD, Variable, seed: int) -> None:
    """``SGD`` over a one-pass iterator (like a generator, made where the student's code
    runs) of a parameter with a gradient and one without: ``step()`` leaves the one without
    alone, and updates the other at every call, not only the first."""
    x, W_np, b_np = random_inputs((4, 3), (2, 3), (2,), seed=seed)
    W, b = Variable(W_np, requires_grad=True), Variable(b_np, requires_grad=True)
    frozen = Variable(np.ones(3), requires_grad=True)
    tanh_layer_loss(Variable(x), W, b).backward()   # W gets a gradient, frozen none
    opt = SGD(student_side("builtins").iter([W, frozen]), lr=0.1)
    opt.step()
    assert np.array_equal(np.array(frozen.data), np.ones(3)), (
        _("SGD.step() changed a parameter whose .grad is None"))
    before = np.array(W.data)
    opt.step()
    assert not np.array_equal(np.array(W.data), before), (
        _("SGD.step() did nothing the second time: keep params as a list (a generator is used up "
          "after one pass)"))


# ---------------------------------------------------------------------- 5. train and predict

def torch_training(initial, X, y, steps: int, lr: float, leftover: bool = False) -> np.ndarray:
    """The losses of the same full-batch training in torch, from the weights ``initial``
    (``[W1, b1, W2, b2, ...]``): the reference loss curve. With ``leftover``, the curve of a
    wrong loop, for a diagnosis: every parameter starts with the gradient of ``mean(p * p)``
    (as :func:`check_training`'s ``stale_grad`` leaves it) and the first step keeps it."""
    params = [torch.tensor(np.asarray(p, dtype=np.float64), requires_grad=True) for p in initial]
    opt = torch.optim.SGD(params, lr=lr)
    xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
    if leftover:
        for p in params:
            (p * p).mean().backward()
    losses = []
    for step in range(steps):
        if step or not leftover:
            opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(torch_mlp(xt, *params), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def _drawn_weights(sizes, seed: int) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, ...]`` drawn as ``torch.nn.Linear`` draws them (uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``), by this process's generator."""
    rng = np.random.default_rng(10_000 + seed)
    drawn = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        drawn += [rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)]
    return drawn


def _trained(MLP, train, seed: int, steps: int, lr: float, n: int = 200, sizes=(2, 16, 16, 1),
             stale_grad: bool = False, inputs_kept: bool = False):
    """A model ``MLP(sizes, rng(seed))`` trained by the student's ``train`` on
    ``make_moons(n, noise=0.15, seed)``: (model, initial weights, losses, X, y, what). With
    ``stale_grad``, every parameter already holds a gradient when ``train`` starts (one
    ``backward()`` of ``mean(p * p)`` per parameter, on the student's engine). With
    ``inputs_kept`` (train's own test cell, so that one mistake costs the points of one
    cell), ``train`` must leave the caller's X and y as they were."""
    X, y = make_moons(n, noise=0.15, seed=seed)
    model = MLP(list(sizes), _rng(seed))
    what = _("train() on make_moons({n}, noise=0.15, seed={seed}), {steps} steps, lr={lr}").format(
        n=n, seed=seed, steps=steps, lr=lr)
    params = list(model.parameters())
    _weights(params, list(sizes), what)  # the shapes, before anything is written into them
    # training starts from weights drawn here, not from the model's own: a model made to learn
    # nothing (a red team's: every weight 0 but the last bias) trains along a curve simple
    # enough to fake without an engine. A setter that ignores them trains off torch's curve.
    initial = _drawn_weights(sizes, seed)
    for p, a in zip(params, initial):
        p.data = a.copy()
    if stale_grad:
        for p in params:
            (p * p).mean().backward()
        what = _("{what}, on a model whose parameters already hold a gradient (a backward() "
                 "before train)").format(what=what)
    if not inputs_kept:
        losses = plain(train(model, X, y, steps=steps, lr=lr), list)
    else:  # X and y as copies made where the student's code runs (an array passed from here
        # arrives as a copy of its own, whose change nobody would see): a train() that shuffles
        # them in place leaves the caller's data out of step with what it had
        X_there, y_there = remote(X.copy()), remote(y.copy())
        losses = plain(train(model, X_there, y_there, steps=steps, lr=lr), list)
        for handle, original, name in ((X_there, X, "X"), (y_there, y, "y")):
            check_unchanged(handle, original, "train", name, what, _(
                "shuffle an index (rng.permutation(len(X))) or copies, not the caller's X and y"))
    assert isinstance(losses, list) and len(losses) == steps, (
        _("{what}: train must return a list of {steps} losses, got {type} of length {length}").format(
            what=what, steps=steps, type=type_name(losses),
            length=len(losses) if hasattr(losses, "__len__") else "?"))
    assert all(isinstance(v, float) for v in losses), (
        _("{what}: the losses must be Python floats").format(what=what))
    return model, initial, losses, X, y, what


#: train()'s default learning rate (the notebook's signature)
DEFAULT_LR = 0.5


def check_training(MLP, train, seed: int, steps: int = 300, lr: float = DEFAULT_LR,
                   stale_grad: bool = False) -> None:
    """``train``'s losses (a list of ``steps`` Python floats, the loss before each update)
    against the same training in torch from the same initial weights; the loss falls. With
    ``stale_grad``, the model arrives with a gradient on every parameter, which ``train``'s
    first ``zero_grad()`` clears (torch's reference loop zeroes before each backward)."""
    _model, initial, losses, X, y, what = _trained(MLP, train, seed, steps, lr,
                                                   stale_grad=stale_grad, inputs_kept=True)
    assert losses[-1] < losses[0], (
        _("{what}: the loss did not decrease: {start:.4f} at the start, {end:.4f} at the end")
        .format(what=what, start=losses[0], end=losses[-1]))
    try:
        assert_close(losses, torch_training(initial, X, y, steps, lr),
                     _("{what}: the loss curve vs the same training in torch").format(what=what),
                     kind="value", rtol=1e-6)
    except GradientMismatch as e:
        hints = []
        if stale_grad and np.allclose(losses, torch_training(initial, X, y, steps, lr, leftover=True),
                                      rtol=1e-6, atol=1e-8):
            hints.append(_("a gradient left on the model reached the first step: call zero_grad() "
                           "before each backward(), the first one included, not after step()"))
        if lr != DEFAULT_LR and np.allclose(losses, torch_training(initial, X, y, steps, DEFAULT_LR),
                                            rtol=1e-6, atol=1e-8):
            hints.append(_("the losses are those of the same training with lr={default}: train() "
                           "must use the lr it is given").format(default=DEFAULT_LR))
        if not hints:
            raise
        raise GradientMismatch(str(e) + "".join("\n  " + likely_cause(h) for h in hints)) from None


#: accuracy a trained model must reach on new points (the reference: at least 97.8% on seeds 0-9)
THRESHOLD = 0.90


def check_accuracy(MLP, train, predict, seed: int, steps: int = 300, lr: float = 0.5) -> None:
    """A whole training (300 steps): the loss below half its start, and ``predict``'s
    accuracy on 500 new points at least :data:`THRESHOLD`."""
    model, _initial, losses, _X, _y, what = _trained(MLP, train, seed, steps, lr)
    assert losses[-1] < 0.5 * losses[0], (
        _("{what}: the loss did not decrease enough: {start:.4f} at the start, {end:.4f} at the end "
          "(expected below half the start)").format(what=what, start=losses[0], end=losses[-1]))
    X_new, y_new = make_moons(500, noise=0.15, seed=1000 + seed)
    pred = predict(model, X_new)
    assert isinstance(pred, np.ndarray) and pred.shape == (500,), _not_an_array(pred, 500)
    # the classes are the trained model's own (a predict that knows the points' labels some
    # other way, with a model that learned nothing, must not pass)
    _same_classes_as_the_model(pred, model, X_new, (2, 16, 16, 1), what)
    acc = accuracy(pred, y_new)
    assert acc >= THRESHOLD, (
        _("{what}: accuracy on {n} new points is {accuracy:.1%}, below {threshold:.0%}").format(
            what=what, n=500, accuracy=acc, threshold=THRESHOLD))


def _not_an_array(pred, n: int) -> str:
    """The message for a ``predict`` that returned no numpy array of shape ``(n,)``."""
    return _("predict must return a numpy array of shape {shape}, got {type} {got}").format(
        shape=f"({n},)", type=type_name(pred), got=getattr(pred, "shape", ""))


def grads(model) -> list:
    """Every parameter's ``.grad`` as an array (None stays None)."""
    return [None if p.grad is None else np.array(p.grad) for p in model.parameters()]


def _same_classes_as_the_model(pred, model, X_new, sizes, what: str) -> None:
    """``pred`` is 1 exactly where torch's logit of ``model``'s network (its weights as they
    are now, shapes checked) is positive."""
    params = [torch.tensor(a) for a in _weights(list(model.parameters()), list(sizes), what)]
    expected = (torch_mlp(torch.tensor(X_new), *params)[:, 0] > 0).numpy().astype(np.int64)
    wrong = int(np.sum(pred != expected))
    assert wrong == 0, (
        _("predict on {n} points: {wrong} class(es) differ from the model's own logits (class 1 "
          "exactly where the logit is positive)").format(n=len(X_new), wrong=wrong))


def check_predict(MLP, train, predict, seed: int, n: int = 50) -> None:
    """``predict`` on a briefly trained model: an integer array of shape ``(n,)``, 1 exactly
    where torch's logit of the same network is positive; the gradients are left as they were
    (predicting runs the model only, under ``no_grad()``)."""
    model, _initial, _losses, _X, _y, _what = _trained(MLP, train, seed, steps=20, lr=0.5, n=60,
                                                       sizes=(2, 8, 1))
    X_new = make_moons(n, noise=0.15, seed=500 + seed)[0]
    before = grads(model)
    pred = predict(model, X_new)
    assert isinstance(pred, np.ndarray) and pred.shape == (n,), _not_an_array(pred, n)
    assert np.issubdtype(pred.dtype, np.integer), (
        _("predict must return integer classes, got dtype {dtype}").format(dtype=pred.dtype))
    assert set(np.unique(pred).tolist()) <= {0, 1}, (
        _("predict must return classes 0 and 1, got {got}").format(got=np.unique(pred)[:5]))
    _same_classes_as_the_model(pred, model, X_new, (2, 8, 1), _what)
    after = grads(model)
    assert all((a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
               for a, b in zip(before, after)), (
        _("predict changed the parameters' gradients: it must only run the model, under no_grad()"))


def check_predict_edges(MLP, predict, bias: float) -> None:
    """``predict`` with every logit exactly ``bias`` (a zero weight): class 1 exactly where
    the logit is positive, so a logit of exactly 0 is class 0; on one point, shape ``(1,)``."""
    X = make_moons(12, noise=0.15, seed=11)[0]
    model = MLP([2, 1], _rng(11))
    weight, b = model.parameters()
    weight.data, b.data = np.zeros((1, 2)), np.full(1, bias)
    logits = torch_mlp(torch.tensor(X), torch.zeros(1, 2, dtype=torch.float64),
                       torch.full((1,), bias, dtype=torch.float64))[:, 0]
    expected = (logits > 0).numpy().astype(np.int64)
    got = predict(model, X)
    assert np.array_equal(got, expected), (
        _("predict on a model whose logits are all exactly {bias}: expected class {expected} for "
          "every point, got {got}").format(bias=bias, expected=int(expected[0]),
                                           got=np.unique(got).tolist())
        + "\n  " + likely_cause(_("predict gives 1 exactly where the logit is positive (> 0: a logit "
                                   "of exactly 0 is class 0); the threshold is on the logit, not on "
                                   "a probability")))
    one = predict(model, X[:1])  # a batch of one point is still a batch: shape (1,), not ()
    assert isinstance(one, np.ndarray) and one.shape == (1,), _not_an_array(one, 1)


#: (X, weight, bias) of a one-layer model whose float64 logits are -1e-12 and 0.2: rounded to
#: float32, 0.1 - 1e-12 becomes 0.1000000015, and the first logit turns positive
NEAR_ZERO = (np.array([[0.1 - 1e-12, 0.0], [0.3, 0.0]]), np.array([[1.0, 0.0]]), np.array([-0.1]))


def check_predict_near_zero(MLP, predict) -> None:
    """``predict`` where a float64 logit is tiny but nonzero (:data:`NEAR_ZERO`): the classes
    of torch's float64 logits of the same weights (X rounded to float32 flips the first)."""
    X, weight, bias = NEAR_ZERO
    model = MLP([2, 1], _rng(12))
    w, b = model.parameters()
    w.data, b.data = weight.copy(), bias.copy()
    logits = torch_mlp(torch.tensor(X), torch.tensor(weight), torch.tensor(bias))[:, 0]
    expected = (logits > 0).numpy().astype(np.int64)
    got = predict(model, X.copy())
    assert np.array_equal(got, expected), (
        _("predict on logits {logits} (float64): expected classes {expected}, got {got}").format(
            logits=[float(f"{v:.3g}") for v in logits.tolist()], expected=expected.tolist(),
            got=np.asarray(got).tolist())
        + "\n  " + likely_cause(_("the logits must be computed in float64, as in training: X "
                                   "rounded to float32 moves a logit this close to 0 to its "
                                   "other side")))


# ---------------------------------------------------------------------- 6. the plot

def _box(ax) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of the axes in figure fractions (read where the figure lives)."""
    box = ax.get_position()
    return tuple(float(v) for v in (box.x0, box.y0, box.x1, box.y1))


def check_plot(MLP, train, plot_training, seed: int) -> None:
    """``plot_training``'s figure (made where the student's code runs): a Figure with two
    axes side by side, a line whose values are the losses on the left, and the points ``X``
    scattered on the right."""
    plt = student_side("matplotlib.pyplot")   # the figure lives where the student's code runs
    X, y = make_moons(60, noise=0.15, seed=seed)
    model = MLP([2, 8, 1], _rng(seed))
    losses = train(model, X, y, steps=30, lr=0.5)
    plt.close("all")
    fig = plot_training(losses, model, X, y)
    assert type_name(fig) == "Figure", (
        _("plot_training must return a matplotlib Figure, got {type}").format(type=type_name(fig)))
    try:
        axes = list(fig.axes)
        loss_axes = [i for i, ax in enumerate(axes)
                     if any(len(ln.get_ydata()) == len(losses) and np.allclose(ln.get_ydata(), losses)
                            for ln in ax.get_lines())]
        assert loss_axes, (
            _("plot_training: no line in the figure shows the losses (one point per step)"))
        scatter_sizes = [sum(len(c.get_offsets()) for c in ax.collections
                             if type_name(c) == "PathCollection") for ax in axes]
        assert sum(scatter_sizes) >= len(X), (
            _("plot_training: the points X do not appear in the figure (use plot_decision_boundary)"))
        assert len(axes) >= 2, (
            _("plot_training: expected two axes (loss, boundary), got {count}").format(
                count=len(axes)))
        point_axes = [i for i, n in enumerate(scatter_sizes) if n >= len(X)]
        assert not point_axes or set(point_axes) - set(loss_axes), (
            _("plot_training: the points X are drawn on the axes of the loss curve: the decision "
              "boundary goes on axes of its own (plot_decision_boundary(..., ax=...) with the "
              "second axes)"))
        # side by side, the loss on the left (as the text asks): the boxes' places in the figure
        boundary = next(i for i in point_axes if i not in loss_axes)
        lo, bo = (_box(axes[i]) for i in (loss_axes[0], boundary))
        assert lo[2] <= bo[0] + 0.02 and min(lo[3], bo[3]) > max(lo[1], bo[1]), (
            _("plot_training: the loss curve goes on the left and the decision boundary on the "
              "right, side by side (plt.subplots(1, 2)); in your figure the loss axes span "
              "x {lx0:.2f}-{lx1:.2f}, y {ly0:.2f}-{ly1:.2f} and the boundary's x {bx0:.2f}-"
              "{bx1:.2f}, y {by0:.2f}-{by1:.2f} (fractions of the figure)").format(
                lx0=lo[0], ly0=lo[1], lx1=lo[2], ly1=lo[3], bx0=bo[0], by0=bo[1], bx1=bo[2],
                by1=bo[3]))
    finally:
        plt.close(fig)
