"""Lessons run top to bottom and make learners think: Try-it cells ask, checks accept and
explain, and what the text says is what torch does.

Each lesson runs once (tests/lessons.py), with every Try-it cell three ways: as shipped (it
must say "not answered yet" and nothing else), with a wrong answer given here (it must print
``✗`` and the explanation named here) and with its collapsed model answer (``✓``). The facts the
lessons state are computed here by torch, and looked for in the lessons' outputs.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from lessons import COURSE, executed, model_answer, source_of, stdout_of, try_cells

from autograder.tryit import NOT_ANSWERED, RIGHT
from autograder.tryit import WRONG as CROSS

# for every Try-it cell: a wrong answer (code replacing the answer part) and what the check
# must say about it
WRONG = {
    "00": {
        "l00-try-it": ("my_answer = 8.0", ["d(x**3)/dx at x = 2", "expected 12, got 8"]),
    },
    "01": {
        "l01-try-seed": ("my_prediction = [[0.5, 1.0], [1.5, 3.0]]",
                         ["first differing index (1, 1): expected 2, got 3"]),
        "l01-try-2xn": ("def my_mean_square_grad(x):\n    return x / 2",
                        ["for shape (3,)", "off by a constant factor N/4 = 0.75", "2x/N"]),
        "l01-try-leaf": ('my_answers = {"w": (True, True), "c": (True, False), "h": (True, True), '
                         '"k": (False, True)}',
                         ["h: you predicted is_leaf=True", "torch says is_leaf=False"]),
    },
    "02": {
        "l02-try-next": ('my_prediction = ["SinBackward0", "AddBackward0", "MulBackward0", '
                         '"AccumulateGrad", "ExpBackward0", "AccumulateGrad"]',
                         ["the graph's nodes are ['SinBackward0', 'AddBackward0', 'MulBackward0', "
                          "'ExpBackward0', 'AccumulateGrad']"]),
        "l02-try-none": ('my_has_grad = {"p": True, "q": True, "s": True, "t": False}',
                         ["look again at ['q']"]),
        "l02-try-retain": ("my_dy_dwx = 1 - (-1.5 * 0.5 + 0.8) ** 2",
                           ["dy/d(wx) for y = tanh(w*x + b)", "first differing index ()"]),
        "l02-try-breaks": ('my_gradient_flows = {"A": True, "B": True, "C": True, "D": True}',
                           ["look again at ['B', 'D']"]),
    },
    "03": {
        "l03-try-worked": ("x_val, y_val = 2.0, -0.5\nu_val = x_val * y_val\nv_val = u_val + 3\n"
                           "dL_dv = v_val\ndL_du = dL_dv\ndL_dx = dL_du * y_val\ndL_dy = dL_du * x_val",
                           ["dL/dx for L = (x*y + 3)^2", "expected -2, got -1"]),
        "l03-try-topo": ('my_order = ["L", "b", "a", "c"]',
                         ["[dL/dx, dL/dy] in the order ['L', 'b', 'a', 'c']", "off by a constant factor"]),
        "l03-try-cost": ("my_forward_passes = 100\nmy_reverse_passes = 4",
                         ["4 forward-mode passes (one per input)", "you said 100 and 4"]),
    },
    "04": {
        "l04-try-vjp": ("my_vjp = [v0 * x0, v0 * x1 + v1 * np.cos(x0), v1 * 2 * x2]",
                        ["v^T J for f at x = (1, 2, 3)", "first differing index (0,)"]),
        "l04-try-bcast": ("my_s_grad = (G * X).sum(axis=0)",
                          ["likely cause: missing keepdims: the same numbers as torch's",
                           "(3,) instead of (1, 3)"]),
        "l04-keepdim-try": ("my_grad = W - W.mean(axis=1)",
                            ["dL/dx for L = sum(W * (x - row means of x))"]),
        "l04-try-n1": ("def my_mse(pred, target):\n    return ((pred - target) ** 2).mean()",
                       ["my_mse(pred (6, 1), target (6,))", "does not match"]),
    },
    "05": {
        "l05-try-fd": ("my_estimate = (g(x0 + h) - g(x0 - h)) / h",
                       ["central difference of x^3 at x = 2", "exactly 2x torch's"]),
        "l05-try-step": ("my_h = 1e-6", ["with h = 1e-06 the float32 estimate is off by a relative"]),
    },
    "06": {
        "l06-try-sub": ("def value_sub(self, other):\n"
                        "    o = other.data if isinstance(other, Value) else float(other)\n"
                        "    return Value._make(self.data - o, 'SubBackward', [self, other], [1.0, 1.0])\n\n"
                        "Value.__sub__ = value_sub",
                        ["(x - y) * tanh(y - x*x)", "does not match torch.autograd"]),
        "l06-try-mul": ("class MulBackward0(ArrayNode):\n    def backward(self, grad):\n"
                        "        a, b = self.saved\n        return grad * a, grad * b",
                        ["a * b, a (3, 4) and b (4,): gradient of a"]),
    },
    "07": {
        "l07-try-cube": ("class Cube(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
                         "        ctx.save_for_backward(x)\n        return x ** 3\n\n    @staticmethod\n"
                         "    def backward(ctx, grad_y):\n        (x,) = ctx.saved_tensors\n"
                         "        return grad_y * x ** 2",
                         ["Cube: gradient of x", "off by a constant factor 0.333333"]),
        "l07-try-hook": ("def reverse_gradient(grad):\n    return grad",
                         ["gradient reversal: x.grad", "sign flip"]),
        "l07-try-second": ("def second_derivative(x):\n    g = torch.autograd.grad((x * x.sin()).sum(), x)[0]\n"
                           "    return torch.autograd.grad(g.sum(), x)[0]",
                           ["not yet: your answer raised RuntimeError",
                            "does not require grad and does not have a grad_fn"]),
        "l07-try-inplace": ("def fixed(x):\n    y = x.sigmoid()\n    y.mul_(2)\n    return y.sum()",
                            ["RuntimeError", "modified by an inplace operation"]),
        "l07-try-errors": ("def fix_nonscalar(x):\n    y = x * x\n    y.backward(gradient=torch.ones_like(y))\n"
                           "    return x.grad\n\n\ndef fix_twice(x):\n    y = (x.exp() * 3).sum()\n"
                           "    y.backward(retain_graph=False)\n    y.backward()\n    return x.grad\n\n\n"
                           "def fix_integer():\n    counts = torch.tensor([1, 2, 5], dtype=torch.float64, "
                           "requires_grad=True)\n    (counts ** 2).sum().backward()\n    return counts",
                           ["RuntimeError: Trying to backward through the graph a second time"]),
        "l07-try-nan": ("def sqrt_or_zero(x):\n    return torch.where(x > 0, x.sqrt(), 0.0)",
                        ["gradient of sqrt_or_zero", "nan"]),
    },
    "08": {
        "l08-try-gd": ("def gd_step(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
                       "            p += lr * p.grad\n            p.grad = None",
                       ["w after 25 steps of gd_step vs torch.optim.SGD"]),
        "l08-try-zero": ('my_loop = "C"', ["loop C: w.grad used at step 1"]),
        "l08-try-accum": ("my_scale = 1.0",
                          ["accumulated gradient of 0.weight", "off by a factor of N = 4"]),
    },
}

STEMS = sorted(WRONG)


def lesson(stem: str):
    return executed(stem, WRONG[stem])


def tries(stem: str) -> list[str]:
    import nbformat

    (path,) = COURSE.glob(f"{stem}_*.ipynb")
    return [c.id for c in try_cells(nbformat.read(path, as_version=4))]


def test_every_lesson_has_its_wrong_answers_listed():
    stems = sorted(p.name[:2] for p in COURSE.glob("*.ipynb"))
    for stem in stems:
        ids = tries(stem)
        assert ids, f"lesson {stem} has no Try-it cell"
        assert sorted(WRONG.get(stem, {})) == sorted(ids), (
            f"lesson {stem}: Try-it cells {ids}, wrong answers listed for {sorted(WRONG.get(stem, {}))}")


def test_model_answers_are_collapsed_and_not_run():
    import nbformat

    for path in sorted(COURSE.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in try_cells(nb):
            answer = model_answer(nb, cell.id)  # raises unless a collapsed block follows
            ids = [c.id for c in nb.cells]
            assert ids.index(f"{cell.id}-answer") == ids.index(cell.id) + 1, cell.id
            # the shipped cell asks: the model answer's code is not in it
            assert answer.strip() not in cell.source, f"{cell.id} ships its own answer"
            assert "..." in cell.source.split("# the check")[0], f"{cell.id}: no blank to fill in"


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_lesson_runs_top_to_bottom(stem):
    """The lesson's own cells run in order without an error, in a real kernel: the one run of
    it that the Try-it tests read, whose answered variants run as side branches (their names
    never reach the lesson's later cells: tests/lessons.py's ``side_branch``)."""
    nb = lesson(stem)
    shipped = [c for c in nb.cells if c.cell_type == "code" and "--" not in c.id]
    assert shipped and all(c.execution_count for c in shipped), f"{stem}: not every cell ran"
    errors = [c.id for c in shipped if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"cells with errors: {errors}"


def test_every_lesson_has_its_try_it_answers_here():
    assert STEMS == sorted(p.name[:2] for p in COURSE.glob("*.ipynb")), STEMS


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_try_its_ask_accept_and_explain(stem):
    nb = lesson(stem)
    for cid in tries(stem):
        shipped = stdout_of(nb, cid)
        assert NOT_ANSWERED in shipped and RIGHT not in shipped and CROSS not in shipped, (cid, shipped)
        right = stdout_of(nb, f"{cid}--model")
        assert RIGHT in right and CROSS not in right, f"{cid}: the model answer is not accepted:\n{right}"
        wrong = stdout_of(nb, f"{cid}--wrong")
        assert CROSS in wrong and RIGHT not in wrong, f"{cid}: a wrong answer is not caught:\n{wrong}"
        for text in WRONG[stem][cid][1]:
            assert text in wrong, f"{cid}: the explanation lacks {text!r}:\n{wrong}"


# --------------------------------------------------------------------------- lesson 0


@pytest.mark.slow
def test_lesson0_hint_is_in_plain_words():
    out = stdout_of(lesson("00"), "l00-message-demo")
    (hint,) = [ln for ln in out.splitlines() if "likely cause" in ln]
    assert "off by a constant factor 0.5" in hint
    for jargon in ("backward", ".grad", "accumulated", "engine", "topological"):
        assert jargon not in hint, hint


# --------------------------------------------------------------------------- lesson 2


@pytest.mark.slow
def test_lesson2_inference_tensors_can_enter_autograd_but_not_be_saved():
    with torch.inference_mode():
        features = torch.ones(3) * 2
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (features + w).sum().backward()  # the corrected fact: this works
    with pytest.raises(RuntimeError) as err:
        (features * w).sum().backward()
    out = stdout_of(lesson("02"), "l02-inference")
    assert f"features + w works, w.grad = {w.grad}" in out, out
    assert "RuntimeError: " + str(err.value).split(". ")[0] in out, out
    assert "cannot be saved for backward" in str(err.value)
    assert "never enter autograd" not in source_of(lesson("02"), "l02-inference-md")


@pytest.mark.slow
def test_lesson2_a_graph_without_saved_tensors_runs_backward_twice():
    w = torch.tensor(-1.5, requires_grad=True)
    y = (w + 1).sum()
    y.backward()
    once = w.grad.item()
    y.backward()  # no error: nothing was saved, nothing was freed
    out = stdout_of(lesson("02"), "l02-twice-nosave")
    assert f"after one backward():  {once}" in out and f"after a second one:    {w.grad.item()}" in out
    assert w.grad.item() == 2 * once
    # and a graph that saved tensors does fail, as the lesson's first example shows
    y = torch.tanh(w * 0.5 + 0.8)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    assert "RuntimeError: Trying to backward through the graph a second time" in stdout_of(
        lesson("02"), "l02-twice-wrong")


@pytest.mark.slow
def test_lesson2_silent_graph_breaks_are_what_torch_does():
    out = stdout_of(lesson("02"), "l02-breaks")
    w = torch.tensor([0.5, -1.2, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not torch.tensor(w * 3).requires_grad and not w.argmax().requires_grad
        assert isinstance(float((w * 3).sum()), float)
    w.round().sum().backward()
    assert not w.grad.any()
    for text, kind, rg in [("(w * 3).sum().item()", "float", False), ("torch.tensor(w * 3)", "Tensor", False),
                           ("w.argmax()", "Tensor", False), ("w.round()", "Tensor", True)]:
        line = next(ln for ln in out.splitlines() if ln.startswith(text + " "))
        assert f"-> {kind}" in line and f"requires_grad={rg}" in line, line


# --------------------------------------------------------------------------- lesson 3


@pytest.mark.slow
def test_lesson3_wrong_order_message_says_what_the_text_says():
    import math
    import re

    x, y = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-1.3, dtype=torch.float64)
    a = (x * y).item()
    out = stdout_of(lesson("03"), "l03-topo-wrong")
    # the text: x and y are both off by the same factor, b's share of dL/da over the whole
    (ratio,) = re.findall(r"likely cause: off by a constant factor ([-\d.e]+)", out)
    assert float(ratio) == pytest.approx(math.cos(a) / (math.cos(a) + 2 * a), rel=1e-5)
    assert "same factor" in source_of(lesson("03"), "l03-topo-fix-md")


@pytest.mark.slow
def test_lesson3_numbered_picture_marks_the_too_early_edge():
    from autograder.graph import graph_data, order_violations

    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    a = x * y
    data = graph_data(torch.sin(a) + a**2)
    at = {n.name: n.index for n in data.nodes}
    good = [at[n] for n in ("AddBackward0", "PowBackward0", "SinBackward0", "MulBackward0")]
    wrong = [at[n] for n in ("AddBackward0", "SinBackward0", "MulBackward0", "PowBackward0")]
    assert order_violations(data, good) == []
    assert order_violations(data, wrong) == [(at["PowBackward0"], at["MulBackward0"])]
    src = source_of(lesson("03"), "l03-topo-picture")
    assert "order=" in src and "PowBackward0" in src


# --------------------------------------------------------------------------- lesson 4


@pytest.mark.slow
def test_lesson4_torch_func_agrees_with_autograd_functional():
    from torch.func import grad, jacrev, vmap

    def f(x):
        return torch.stack([x[0] * x[1], torch.sin(x[0]) + x[2] ** 2])

    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert torch.allclose(jacrev(f)(x), torch.autograd.functional.jacobian(f, x))
    batch = torch.randn(5, 3, dtype=torch.float64)
    assert vmap(jacrev(f))(batch).shape == (5, 2, 3)
    assert grad(lambda t: (t * t).sum())(x).tolist() == (2 * x).tolist()
    out = stdout_of(lesson("04"), "l04-func")
    assert "jacrev(f)(x) == functional.jacobian: True" in out and "== a loop: True" in out, out
    assert "5 Jacobians of shape (2, 3)" in out


@pytest.mark.slow
def test_lesson4_n1_against_n_broadcasts_to_n_by_n():
    pred, target = torch.zeros(4, 1), torch.zeros(4)
    assert (pred - target).shape == (4, 4)
    out = stdout_of(lesson("04"), "l04-n1")
    assert "pred (4, 1) - target (4,) -> (4, 4)" in out, out
    lines = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].split() for ln in out.splitlines()[1:]}
    assert lines["gradient, broadcast to (N, N)"] == lines["2 (pred - mean(target)) / N"], out
    assert lines["gradient, shapes matched"] != lines["gradient, broadcast to (N, N)"], out


# --------------------------------------------------------------------------- lessons 5 and 6


def test_no_custom_function_before_lesson7_teaches_it():
    import nbformat

    for stem in ("01", "02", "03", "04", "05", "06"):
        (path,) = COURSE.glob(f"{stem}_*.ipynb")
        code = "".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "autograd.Function" not in code and "gradgradcheck(" not in code, path.name


@pytest.mark.slow
def test_lesson6_bridge_sums_broadcast_gradients_back():
    import numpy as np

    out = stdout_of(lesson("06"), "l06-bridge")
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    b = torch.tensor([10.0, 20.0, 30.0], requires_grad=True)
    (a + b).sum().backward()
    assert f"b.grad: {np.array(b.grad.tolist())}" in out, out


# --------------------------------------------------------------------------- lesson 7


@pytest.mark.slow
def test_lesson7_unmarked_numpy_backward_is_silently_wrong_and_marked_one_raises():
    from torch.autograd.function import once_differentiable

    def make(marked):
        def backward(ctx, grad_out):
            (t,) = ctx.saved_tensors
            return grad_out * torch.as_tensor(2 * t.detach().numpy())

        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t * t

        return type("Sq", (torch.autograd.Function,), {
            "forward": staticmethod(forward),
            "backward": staticmethod(once_differentiable(backward) if marked else backward)})

    def second(square):
        x = torch.tensor([1.5, -0.5], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(square(x).sin().sum(), x, create_graph=True)
        g.sum().backward()
        return x.grad

    true, unmarked = second(lambda t: t * t), second(make(False).apply)
    assert not torch.allclose(true, unmarked), "without the mark, double backward is silently wrong"
    with pytest.raises(RuntimeError, match="once_differentiable") as err:
        second(make(True).apply)
    out = stdout_of(lesson("07"), "l07-once")
    assert f"true second derivative:    {true}" in out, out
    assert f"through numpy, unmarked:   {unmarked}" in out, out
    assert f"RuntimeError: {err.value}" in out, out
    assert "gradgradcheck(SquareViaNumpy): GradcheckError: Jacobian mismatch" in out, out
    assert "**silently wrong**" in source_of(lesson("07"), "l07-once-md")


@pytest.mark.slow
def test_lesson7_setup_context_and_nan_through_where():
    out = stdout_of(lesson("07"), "l07-setup-context")
    xs = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    assert f"torch.func.grad through Exp2: {xs.exp()}" in out, out
    assert "the old spelling under torch.func: RuntimeError: In order to use an autograd.Function" in out
    x = torch.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    torch.where(x > 0, x.sqrt(), 0.0).sum().backward()
    assert x.grad[:2].isnan().all() and not x.grad[2].isnan()
    out = stdout_of(lesson("07"), "l07-nan")
    assert f"gradient: {x.grad}" in out and "SqrtBackward0' returned nan values" in out, out


# --------------------------------------------------------------------------- lesson 8


@pytest.mark.slow
def test_lesson8_training_loop_misconceptions_are_what_torch_does():
    nb = lesson("08")
    sizes = [int(ln.split(" has ")[1].split()[0]) for ln in stdout_of(nb, "l08-mis-total").splitlines()
             if " has " in ln]
    assert len(sizes) == 4 and sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes
    assert "with .item(): total_loss is a float" in stdout_of(nb, "l08-mis-total")
    rnn = stdout_of(nb, "l08-mis-rnn")
    assert "not detached: RuntimeError: Trying to backward through the graph a second time" in rnn
    grows = eval(rnn.split("graph nodes per chunk")[1].splitlines()[0])
    flat = eval(rnn.split("graph nodes per chunk")[2].splitlines()[0])
    assert grows == sorted(grows) and grows[0] < grows[-1] and len(set(flat)) == 1, rnn
    model = torch.nn.Linear(2, 1)
    model.eval()
    assert model(torch.ones(1, 2)).requires_grad  # eval() records the graph all the same
    assert "after model.eval():     requires_grad = True" in stdout_of(nb, "l08-mis-eval")
    freeze = stdout_of(nb, "l08-mis-freeze").splitlines()
    assert "first layer unchanged: True, its .grad after 3 steps: norm" in freeze[0], freeze
    assert "first layer unchanged: True, its .grad after 3 steps: None" in freeze[1], freeze
    assert "lesson 1" not in source_of(nb, "l08-zero-md")
