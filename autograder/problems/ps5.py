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

from ..checks import assert_close, assert_grad_close, random_inputs, torch_gradients
from ..data import accuracy, make_moons
from ..testing import student_side, torch_mlp, type_name

__all__ = ["check_linear", "check_linear_init", "check_mlp", "check_loss", "tanh_layer_loss",
           "check_steps", "check_zero_grad", "check_sgd_params", "torch_training",
           "check_training", "check_accuracy", "grads", "check_predict", "check_predict_edges",
           "check_plot"]


def _rng(seed: int):
    """A numpy generator made where the student's code runs (it draws the student's weights)."""
    return student_side("numpy").random.default_rng(seed)


# ---------------------------------------------------------------------- 1. Linear

def check_linear(Linear, Variable, n: int, fan_in: int, fan_out: int, seed: int):
    """``Linear(fan_in, fan_out, rng)`` on ``x`` of shape ``(n, fan_in)``: its parameters
    (``[weight, bias]``, shapes, leaves requiring grad), its output and the gradients of
    weight, bias and ``x`` against torch with the same numbers. Returns the layer."""
    layer = Linear(fan_in, fan_out, _rng(seed))
    what = f"Linear({fan_in}, {fan_out}) on x of shape ({n}, {fan_in})"
    params = layer.parameters()
    assert len(params) == 2 and params[0] is layer.weight and params[1] is layer.bias, (
        f"{what}: parameters() must return [weight, bias]")
    assert layer.weight.shape == (fan_out, fan_in) and layer.bias.shape == (fan_out,), (
        f"{what}: weight has shape {layer.weight.shape} and bias {layer.bias.shape}; expected "
        f"{(fan_out, fan_in)} and {(fan_out,)}")
    for p, nm in ((layer.weight, "weight"), (layer.bias, "bias")):
        assert p.requires_grad and p.is_leaf, f"{what}: {nm} must be a leaf Variable with requires_grad=True"
    x_np, = random_inputs((n, fan_in), seed=seed + 100)
    W, b = np.array(layer.weight.data), np.array(layer.bias.data)
    # torch on the same numbers: x, weight and bias as leaves, the same output gradient
    ref = torch_gradients(lambda x, W, b: x @ W.T + b, [x_np, W, b], seed=seed)
    x = Variable(x_np, requires_grad=True)
    out = layer(x)
    assert_close(out.data, ref.value, f"{what}: output", kind="value")
    out.backward(ref.grad_output.copy())
    assert_grad_close(layer.weight.grad, ref.grads[1], f"{what}: gradient of weight")
    assert_grad_close(layer.bias.grad, ref.grads[2], f"{what}: gradient of bias",
                      output_shape=tuple(ref.value.shape))
    assert_grad_close(x.grad, ref.grads[0], f"{what}: gradient of x")
    return layer


def check_linear_init(Linear, fan_in: int, fan_out: int, seed: int) -> None:
    """``Linear(fan_in, fan_out, rng)``'s initial values: in torch.nn.Linear's range
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, drawn from ``rng`` weight first, then bias (this
    process's generator with the same seed repeats the draws); the same seed, the same layer."""
    layer = Linear(fan_in, fan_out, _rng(seed))
    name = f"Linear({fan_in}, {fan_out})"
    bound = 1 / np.sqrt(fan_in)
    weight, bias = np.array(layer.weight.data), np.array(layer.bias.data)
    assert np.all(np.abs(weight) <= bound) and np.all(np.abs(bias) <= bound), (
        f"{name}: initial values must lie in [-1/sqrt(in_features), 1/sqrt(in_features)] = "
        f"[{-bound:.4g}, {bound:.4g}]")
    if weight.size >= 16:
        assert np.std(weight) > bound / 5, f"{name}: the weights look constant, not random"
    rng = np.random.default_rng(seed)
    w, b = rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)
    assert weight.shape == w.shape and np.allclose(weight, w) \
        and bias.shape == b.shape and np.allclose(bias, b), (
        f"{name}: weight and bias must be drawn with rng.uniform(-bound, bound, ...), weight first, "
        f"with bound = 1/sqrt(in_features) = {bound:.4g} (torch.nn.Linear's default: the fan-in, "
        f"not out_features)")
    again = Linear(fan_in, fan_out, _rng(seed))
    assert np.array_equal(np.array(again.bias.data), bias), f"{name}: the same rng seed must give the same layer"


# ---------------------------------------------------------------------- 2. MLP

def check_mlp(MLP, Variable, sizes, n: int, seed: int) -> None:
    """``MLP(sizes, rng)`` on ``x`` of shape ``(n, sizes[0])``: its parameters (count,
    order, shapes), output and every parameter's gradient against the same network in
    torch (:func:`autograder.testing.torch_mlp`) with identical weights."""
    model = MLP(sizes, _rng(seed))
    what = f"MLP({sizes}) on x of shape ({n}, {sizes[0]})"
    params = model.parameters()
    assert len(params) == 2 * (len(sizes) - 1), (
        f"{what}: parameters() returned {len(params)} Variables; expected {2 * (len(sizes) - 1)} "
        f"(a weight and a bias per layer)")
    shapes = [p.shape for p in params]
    expected_shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((b, a), (b,))]
    assert shapes == expected_shapes, f"{what}: parameter shapes {shapes}, expected {expected_shapes}"
    x_np, = random_inputs((n, sizes[0]), seed=seed + 100)
    arrays = [x_np] + [np.array(p.data) for p in params]
    ref = torch_gradients(torch_mlp, arrays, seed=seed)   # tanh between torch.nn.Linear-style layers
    out = model(Variable(x_np))
    assert_close(out.data, ref.value, f"{what}: output", kind="value")
    out.backward(ref.grad_output.copy())
    for i, (p, g) in enumerate(zip(params, ref.grads[1:])):
        kind = "weight" if i % 2 == 0 else "bias"
        assert_grad_close(p.grad, g, f"{what}: gradient of layer {i // 2 + 1}'s {kind}")


# ---------------------------------------------------------------------- 3. the loss

def check_loss(bce_with_logits, Variable, n: int, seed: int, scale: float = 2.0) -> None:
    """``bce_with_logits`` on ``n`` logits: a scalar, its value and the logits' gradient
    against ``F.binary_cross_entropy_with_logits``."""
    z_np = scale * random_inputs((n, 1), seed=seed)[0]
    t_np = (np.random.default_rng(seed + 1).random((n, 1)) < 0.5).astype(np.float64)
    what = f"bce_with_logits on {n} logits"
    ref = torch_gradients(lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(t_np)), [z_np])
    z = Variable(z_np, requires_grad=True)
    loss = bce_with_logits(z, t_np)
    shape = getattr(loss, "shape", None)
    assert shape in ((), (1,)), f"{what}: the loss must be a scalar Variable, got shape {shape}"
    assert_close(loss.data, ref.value, f"{what}: value", kind="value")
    loss.backward()
    assert_grad_close(z.grad, ref.grads[0], f"{what}: gradient of the logits", n=n)


# ---------------------------------------------------------------------- 4. SGD

def tanh_layer_loss(x, W, b):
    """``((x @ W.T + b).tanh() ** 2).mean()``: the same expression for torch tensors and for
    the student's Variables (run here, on proxies, it is still the student's engine)."""
    return ((x @ W.T + b).tanh() ** 2).mean()


def check_steps(SGD, Variable, steps: int, lr: float, seed: int) -> None:
    """``steps`` rounds of zero_grad(), backward(), step() with the student's ``SGD`` and
    with ``torch.optim.SGD`` from the same parameters: the same parameters after them, still
    leaves that require grad."""
    x_np, W_np, b_np = random_inputs((6, 3), (2, 3), (2,), seed=seed)
    what = f"SGD(lr={lr}), {steps} step(s) with zero_grad()"
    Wt, bt = torch.tensor(W_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    opt_t = torch.optim.SGD([Wt, bt], lr=lr)
    W, b = Variable(W_np, requires_grad=True), Variable(b_np, requires_grad=True)
    opt = SGD([W, b], lr=lr)
    for _ in range(steps):
        opt_t.zero_grad()
        tanh_layer_loss(torch.tensor(x_np), Wt, bt).backward()
        opt_t.step()
        opt.zero_grad()
        tanh_layer_loss(Variable(x_np), W, b).backward()
        opt.step()
    for p, pt, nm in ((W, Wt, "weight"), (b, bt, "bias")):
        assert p.is_leaf and p.requires_grad, f"{what}: after step() the {nm} must still be a leaf that requires grad"
        assert_close(p.data, pt, f"{what}: {nm} after the updates", kind="value")


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
    assert_grad_close(W.grad, ref.grads[1], "SGD.zero_grad(), then one more backward(): weight.grad")
    assert_grad_close(b.grad, ref.grads[2], "SGD.zero_grad(), then one more backward(): bias.grad")
    opt.zero_grad()
    assert all(p.grad is None or not np.any(np.array(p.grad)) for p in (W, b)), (
        "SGD.zero_grad(): after it, every .grad must be None (or zeros)")


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
    assert np.array_equal(np.array(frozen.data), np.ones(3)), "SGD.step() changed a parameter whose .grad is None"
    before = np.array(W.data)
    opt.step()
    assert not np.array_equal(np.array(W.data), before), (
        "SGD.step() did nothing the second time: keep params as a list (a generator is used up after one pass)")


# ---------------------------------------------------------------------- 5. train and predict

def torch_training(initial, X, y, steps: int, lr: float) -> np.ndarray:
    """The losses of the same full-batch training in torch, from the weights ``initial``
    (``[W1, b1, W2, b2, ...]``): the reference loss curve."""
    params = [torch.tensor(np.asarray(p, dtype=np.float64), requires_grad=True) for p in initial]
    opt = torch.optim.SGD(params, lr=lr)
    xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(torch_mlp(xt, *params), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def _trained(MLP, train, seed: int, steps: int, lr: float, n: int = 200, sizes=(2, 16, 16, 1)):
    """A model ``MLP(sizes, rng(seed))`` trained by the student's ``train`` on
    ``make_moons(n, noise=0.15, seed)``: (model, initial weights, losses, X, y, what)."""
    X, y = make_moons(n, noise=0.15, seed=seed)
    model = MLP(list(sizes), _rng(seed))
    initial = [np.array(p.data) for p in model.parameters()]
    what = f"train() on make_moons({n}, noise=0.15, seed={seed}), {steps} steps, lr={lr}"
    losses = train(model, X, y, steps=steps, lr=lr)
    assert isinstance(losses, list) and len(losses) == steps, (
        f"{what}: train must return a list of {steps} losses, got {type_name(losses)} "
        f"of length {len(losses) if hasattr(losses, '__len__') else '?'}")
    assert all(isinstance(v, float) for v in losses), f"{what}: the losses must be Python floats"
    return model, initial, losses, X, y, what


def check_training(MLP, train, seed: int, steps: int = 300, lr: float = 0.5) -> None:
    """``train``'s losses (a list of ``steps`` Python floats, the loss before each update)
    against the same training in torch from the same initial weights; the loss falls."""
    _model, initial, losses, X, y, what = _trained(MLP, train, seed, steps, lr)
    assert losses[-1] < losses[0], (
        f"{what}: the loss did not decrease: {losses[0]:.4f} at the start, {losses[-1]:.4f} at the end")
    assert_close(losses, torch_training(initial, X, y, steps, lr),
                 f"{what}: the loss curve vs the same training in torch", kind="value", rtol=1e-6)


#: accuracy a trained model must reach on new points (the reference: at least 97.8% on seeds 0-9)
THRESHOLD = 0.90


def check_accuracy(MLP, train, predict, seed: int, steps: int = 300, lr: float = 0.5) -> None:
    """A whole training (300 steps): the loss below half its start, and ``predict``'s
    accuracy on 500 new points at least :data:`THRESHOLD`."""
    model, _initial, losses, _X, _y, what = _trained(MLP, train, seed, steps, lr)
    assert losses[-1] < 0.5 * losses[0], (
        f"{what}: the loss did not decrease enough: {losses[0]:.4f} at the start, {losses[-1]:.4f} "
        "at the end (expected below half the start)")
    X_new, y_new = make_moons(500, noise=0.15, seed=1000 + seed)
    pred = predict(model, X_new)
    assert isinstance(pred, np.ndarray) and pred.shape == (500,), (
        f"predict must return a numpy array of shape (500,), got {type_name(pred)} "
        f"{getattr(pred, 'shape', '')}")
    acc = accuracy(pred, y_new)
    assert acc >= THRESHOLD, f"{what}: accuracy on 500 new points is {acc:.1%}, below {THRESHOLD:.0%}"


def grads(model) -> list:
    """Every parameter's ``.grad`` as an array (None stays None)."""
    return [None if p.grad is None else np.array(p.grad) for p in model.parameters()]


def check_predict(MLP, train, predict, seed: int, n: int = 50) -> None:
    """``predict`` on a briefly trained model: an integer array of shape ``(n,)``, 1 exactly
    where torch's logit of the same network is positive; the gradients are left as they were
    (predicting runs the model only, under ``no_grad()``)."""
    model, _initial, _losses, _X, _y, _what = _trained(MLP, train, seed, steps=20, lr=0.5, n=60,
                                                       sizes=(2, 8, 1))
    X_new = make_moons(n, noise=0.15, seed=500 + seed)[0]
    before = grads(model)
    pred = predict(model, X_new)
    assert isinstance(pred, np.ndarray) and pred.shape == (n,), (
        f"predict must return a numpy array of shape ({n},), got {type_name(pred)} "
        f"{getattr(pred, 'shape', '')}")
    assert np.issubdtype(pred.dtype, np.integer), f"predict must return integer classes, got dtype {pred.dtype}"
    assert set(np.unique(pred).tolist()) <= {0, 1}, f"predict must return classes 0 and 1, got {np.unique(pred)[:5]}"
    params = [torch.tensor(np.array(p.data)) for p in model.parameters()]
    expected = (torch_mlp(torch.tensor(X_new), *params)[:, 0] > 0).numpy().astype(np.int64)
    wrong = int(np.sum(pred != expected))
    assert wrong == 0, (
        f"predict on {n} points: {wrong} class(es) differ from the model's own logits "
        "(class 1 exactly where the logit is positive)")
    after = grads(model)
    assert all((a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
               for a, b in zip(before, after)), (
        "predict changed the parameters' gradients: it must only run the model, under no_grad()")


def check_predict_edges(MLP, predict, bias: float) -> None:
    """``predict`` with every logit exactly ``bias`` (a zero weight): class 1 exactly where
    the logit is positive, so a logit of exactly 0 is class 0."""
    X = make_moons(12, noise=0.15, seed=11)[0]
    model = MLP([2, 1], _rng(11))
    weight, b = model.parameters()
    weight.data, b.data = np.zeros((1, 2)), np.full(1, bias)
    logits = torch_mlp(torch.tensor(X), torch.zeros(1, 2, dtype=torch.float64),
                       torch.full((1,), bias, dtype=torch.float64))[:, 0]
    expected = (logits > 0).numpy().astype(np.int64)
    got = predict(model, X)
    assert np.array_equal(got, expected), (
        f"predict on a model whose logits are all exactly {bias}: expected class {int(expected[0])} for every "
        f"point, got {np.unique(got).tolist()}\n  likely cause: predict gives 1 exactly where the logit is "
        "positive (> 0: a logit of exactly 0 is class 0); the threshold is on the logit, not on a probability")


# ---------------------------------------------------------------------- 6. the plot

def check_plot(MLP, train, plot_training, seed: int) -> None:
    """``plot_training``'s figure (made where the student's code runs): a Figure with two
    axes, a line whose values are the losses, and the points ``X`` scattered."""
    plt = student_side("matplotlib.pyplot")   # the figure lives where the student's code runs
    X, y = make_moons(60, noise=0.15, seed=seed)
    model = MLP([2, 8, 1], _rng(seed))
    losses = train(model, X, y, steps=30, lr=0.5)
    plt.close("all")
    fig = plot_training(losses, model, X, y)
    assert type_name(fig) == "Figure", f"plot_training must return a matplotlib Figure, got {type_name(fig)}"
    try:
        lines = [ln for ax in fig.axes for ln in ax.get_lines()]
        assert any(len(ln.get_ydata()) == len(losses) and np.allclose(ln.get_ydata(), losses)
                   for ln in lines), "plot_training: no line in the figure shows the losses (one point per step)"
        scatter_sizes = [len(c.get_offsets()) for ax in fig.axes for c in ax.collections
                         if type_name(c) == "PathCollection"]
        assert sum(scatter_sizes) >= len(X), (
            "plot_training: the points X do not appear in the figure (use plot_decision_boundary)")
        assert len(fig.axes) >= 2, f"plot_training: expected two axes (loss, boundary), got {len(fig.axes)}"
    finally:
        plt.close(fig)
