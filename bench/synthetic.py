"""A small synthetic nbgrader assignment for grading benchmarks and tests.

Shaped like the course's assignments (an answer cell of about 60 lines: a tiny
reverse-mode engine; three test cells checking it against torch.autograd
through ``autograder``, visible checks first and hidden checks holding most
points; one manually graded written answer), so that it costs what a real
assignment costs: a torch import, a few checks. Used by tests/test_grading.py,
whose tests of the grading command (progress, failures, CSV, report, re-runs,
self-grading) should not change whenever a course assignment does, and by
``bench/bench_grading.py --assignment synth`` for a quick benchmark.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import course as C
from autograder.course import nbgrader_cell, new_notebook

NAME = "synth"

ENGINE = '''import numpy as np


class Variable:
    """A value that records how it was made, so backward() can apply the chain rule."""

    def __init__(self, data, requires_grad=False, _parents=(), _backward=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.requires_grad = requires_grad or any(p.requires_grad for p in _parents)
        self.grad = None
        self._parents = _parents
        self._backward = _backward  # maps the output gradient to one gradient per parent

    @staticmethod
    def _wrap(x):
        return x if isinstance(x, Variable) else Variable(x)

    def __add__(self, other):
        other = self._wrap(other)
        return Variable(self.data + other.data, _parents=(self, other),
                        _backward=lambda g: (g, g))

    __radd__ = __add__

    def __mul__(self, other):
        other = self._wrap(other)
        a, b = self.data, other.data
        return Variable(a * b, _parents=(self, other),
                        _backward=lambda g: (g * b, g * a))

    __rmul__ = __mul__

    def sum(self):
        shape = self.data.shape
        return Variable(self.data.sum(), _parents=(self,),
                        _backward=lambda g: (np.broadcast_to(g, shape).copy(),))

    def _order(self):
        # topological order by an explicit stack: deep graphs must not hit the recursion limit
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        return order

    def backward(self):
        grads = {id(self): np.ones_like(self.data)}
        for node in reversed(self._order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if not node._parents:
                if node.requires_grad:
                    node.grad = g if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                grads[id(parent)] = grads.get(id(parent), 0) + pg
'''

BUGS = {
    "mul-sign": {"synth-engine": [("(g * b, g * a)", "(g * b, -g * a)")]},
    "no-accumulate": {"synth-engine": [("node.grad = g if node.grad is None else node.grad + g",
                                        "node.grad = g")]},
    "sum-zero": {"synth-engine": [("np.broadcast_to(g, shape).copy()",
                                   "np.zeros(shape)")]},
    "crash": {"synth-engine": [("return Variable(self.data.sum()",
                                "raise RuntimeError('unfinished')\n        return Variable(self.data.sum()")]},
}

TEST_ADD = '''from autograder import check_gradients, random_inputs

check_gradients(lambda a, b: (a + b).sum(), random_inputs((3,), (3,), seed=1), Variable,
                name="sum of a + b", input_names=["a", "b"])
### BEGIN HIDDEN TESTS
for seed in range(3):
    check_gradients(lambda a, b: (a + b + a).sum(), random_inputs((2, 3), (2, 3), seed=seed),
                    Variable, name=f"a used twice (seed {seed})", input_names=["a", "b"])
### END HIDDEN TESTS
'''

TEST_MUL = '''from autograder import check_gradients, random_inputs

check_gradients(lambda a, b: (a * b).sum(), random_inputs((4,), (4,), seed=2), Variable,
                name="sum of a * b", input_names=["a", "b"])
### BEGIN HIDDEN TESTS
for seed in range(3):
    check_gradients(lambda a, b: (a * b * a + b).sum(), random_inputs((3, 2), (3, 2), seed=seed),
                    Variable, name=f"a * b * a + b (seed {seed})", input_names=["a", "b"])
### END HIDDEN TESTS
'''

TEST_ACCUM = '''import numpy as np
from autograder import assert_grad_close, torch_gradients

x = Variable(np.arange(3.0), requires_grad=True)
(x * x).sum().backward()
assert x.grad is not None, "x.grad is None after backward(): gradients must reach leaves"
### BEGIN HIDDEN TESTS
second_loss = (x * x).sum()
second_loss.backward()
ref = torch_gradients(lambda t: (t * t).sum(), [np.arange(3.0)])
assert_grad_close(x.grad, 2 * ref.grads[0], "x.grad after two backward() calls (accumulated)")
### END HIDDEN TESTS
'''


def notebook() -> nbformat.NotebookNode:
    _cell = nbgrader_cell
    solution = "### BEGIN SOLUTION\n" + ENGINE + "### END SOLUTION\n"
    return new_notebook([
        _cell("markdown", "# A tiny engine\nWrite `Variable` with `+`, `*`, `sum` and `backward`.",
              "synth-intro", locked=True),
        _cell("code", "import numpy as np\nimport torch", "synth-imports", locked=True),
        _cell("code", solution, "synth-engine", solution=True),
        _cell("code", TEST_ADD, "synth-test-add", grade=True, locked=True, points=2),
        _cell("code", TEST_MUL, "synth-test-mul", grade=True, locked=True, points=3),
        _cell("code", TEST_ACCUM, "synth-test-accum", grade=True, locked=True, points=2),
        _cell("markdown", "Why does a leaf's gradient accumulate?\n\n### BEGIN SOLUTION\n"
                          "So that gradients of all uses add up.\n### END SOLUTION",
              "synth-written", grade=True, solution=True, points=1),
    ])


def write_assignment(course: Path, name: str = NAME) -> Path:
    """Write ``source/<name>/<name>.ipynb`` in ``course``; returns its path."""
    d = Path(course) / "source" / name
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.ipynb"
    nbformat.write(notebook(), path)
    return path


def write_course(course: Path, students: list[str] | tuple[str, ...]) -> None:
    """The assignment in ``course`` (a copy of the course), released with real nbgrader, and one
    submission per student: the solution, with ``BUGS[name]`` planted for a student called
    ``bug-<name>``."""
    write_assignment(course)
    C.nbgrader(course, "generate_assignment", NAME, "--force")
    C.write_solution_submissions(course, NAME, {
        s: BUGS[s.removeprefix("bug-")] if s.startswith("bug-") else {} for s in students})
