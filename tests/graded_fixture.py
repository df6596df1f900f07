"""What tests/test_security.py and tests/test_attacks.py share: a small assignment built in
code, one submission per case, graded in one batch by the real command line."""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import ROOT

from autograder import course as C

# ---------------------------------------------------------------------------- the assignment

SETUP = """import numpy as np
from autograder import assert_grad_close, check_gradients, random_inputs, torch_gradients"""

SQUARE = '''def square_grad(x):
    """The gradient of sum(x ** 2) with respect to x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION'''

SQUARE_TEST = '''# Tests: the gradient of sum(x ** 2)
x = random_inputs((3,), seed=0)[0]
ref = torch_gradients(lambda t: (t ** 2).sum(), [x])
assert_grad_close(square_grad(x), ref.grads[0], "d sum(x**2)/dx")
### BEGIN HIDDEN TESTS
for hidden_seed in range(1, 4):
    hidden_x = random_inputs((2, 3), seed=hidden_seed)[0]
    hidden_ref = torch_gradients(lambda t: (t ** 2).sum(), [hidden_x])
    assert_grad_close(square_grad(hidden_x), hidden_ref.grads[0],
                      f"hidden check {hidden_seed}: d sum(x**2)/dx")
### END HIDDEN TESTS'''

ENGINE = '''class Variable:
    """A value that remembers how it was computed (add, multiply, sum)."""

    ### BEGIN SOLUTION
    def __init__(self, data, requires_grad=False, parents=(), backward=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.requires_grad = requires_grad
        self.grad = None
        self._parents = parents
        self._backward = backward

    def __add__(self, other):
        other = other if isinstance(other, Variable) else Variable(other)
        return Variable(self.data + other.data, parents=(self, other),
                        backward=lambda g: (g, g))

    def __mul__(self, other):
        other = other if isinstance(other, Variable) else Variable(other)
        return Variable(self.data * other.data, parents=(self, other),
                        backward=lambda g: (g * other.data, g * self.data))

    def sum(self):
        return Variable(self.data.sum(), parents=(self,),
                        backward=lambda g: (np.ones_like(self.data) * g,))

    def backward(self, grad=None):
        order, seen = [], set()
        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        grads = {id(self): np.ones_like(self.data) if grad is None else np.asarray(grad)}
        for v in reversed(order):
            g = grads.pop(id(v), None)
            if g is None:
                continue
            if not v._parents and v.requires_grad:
                v.grad = g if v.grad is None else v.grad + g
            if v._backward is not None:
                for p, gp in zip(v._parents, v._backward(g)):
                    grads[id(p)] = grads.get(id(p), 0) + gp
    ### END SOLUTION'''

ENGINE_TEST = '''# Tests: the engine, against torch.autograd, in a Python without torch
from autograder.integrity import check_without_torch
check_gradients(lambda a, b: (a * b + a).sum(), random_inputs((4,), (4,), seed=1),
                Variable, name="a*b + a")
check_without_torch(In, [("a*b + a", "lambda a, b: (a * b + a).sum()",
                          random_inputs((4,), (4,), seed=1))])
### BEGIN HIDDEN TESTS
for hidden_seed in range(2, 5):
    check_gradients(lambda a, b: (a * a * b).sum(), random_inputs((3,), (3,), seed=hidden_seed),
                    Variable, name=f"hidden check {hidden_seed}: a*a*b")
### END HIDDEN TESTS'''

WRONG_SQUARE = "def square_grad(x):\n    return x  # forgot the 2\n"
WRONG_ENGINE = C.strip_solution_markers(ENGINE).replace(
    "backward=lambda g: (g * other.data, g * self.data)",
    "backward=lambda g: (g, g)")  # the product rule forgotten
WRONG_LABEL = "def shape_label(shape):\n    return str(shape)\n"


def meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    """nbgrader's cell metadata."""
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def cell(nb, grade_id):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def answer(nb, grade_id, code):
    cell(nb, grade_id).source = code


def append(nb, grade_id, code):
    c = cell(nb, grade_id)
    c.source = c.source + "\n" + code


def solved(release_nb, source_nb):
    return C.solution_submission(release_nb, source_nb)


class Case:
    """One submission: how to build it, what its honest work earns, what the report must say."""

    def __init__(self, name, build, honest, reason=None, failed=False):
        self.name, self.build, self.honest = name, build, honest
        self.reason = reason  # regex the summary lines / feedback about this student must match
        self.failed = failed  # a bad file: not graded at all, with a reason


def hashes(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def grade_cli(course: Path, assignment: str, *extra: str,
              timeout: float = 900) -> subprocess.CompletedProcess:
    """``autograder grade`` as an instructor runs it, in a process of its own."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", "from autograder.cli import run; run()",
                           "grade", assignment, "--course", str(course),
                           "--no-report", *extra], cwd=course, capture_output=True, text=True,
                          timeout=timeout, env=env)


def auto_score(scores, student, skip=()):
    """The student's autograded points (cells in ``skip`` left out), or None if not graded."""
    s = scores.get(student)
    if s is None:
        return None
    return sum(sc for gid, (sc, mx) in s["cells"].items() if gid not in skip and sc is not None)


def lines_about(text: str, student: str) -> str:
    return "\n".join(ln for ln in text.splitlines()
                     if re.search(rf"(?<![\w-]){re.escape(student)}(?![\w-])", ln))


def feedback_text(course: Path, assignment: str, student: str) -> str:
    files = sorted((course / "feedback" / student / assignment).glob("*.html"))
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", f.read_text(errors="replace")))
                     for f in files)


def write_course(course: Path, assignment: str, source_nb, cases_of, *, timeout: float,
                 notebook_timeout: float, grace: float) -> list[Case]:
    """A course of one assignment made from ``source_nb``, released with real nbgrader, with
    one submission per case of ``cases_of(course)``; the cases. Short limits: an infinite loop
    costs seconds, not minutes (and a process that ignores its interrupt is given up ``grace``
    seconds after its limit, not the default 5)."""
    (course / "source" / assignment).mkdir(parents=True)
    cfg = (ROOT / "nbgrader_config.py").read_text()
    cfg += (f"\nc.Execute.timeout = {timeout}\nc.WarmExecute.notebook_timeout = "
            f"{notebook_timeout}\nc.WarmExecute.grace = {grace}\n")
    (course / "nbgrader_config.py").write_text(cfg)
    nbformat.write(source_nb, course / "source" / assignment / f"{assignment}.ipynb")
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    rel = course / "release" / assignment / f"{assignment}.ipynb"
    srcp = course / "source" / assignment / f"{assignment}.ipynb"
    cases = cases_of(course)
    for case in cases:
        C.write_submission(course, assignment, case.name, case.build(rel, srcp))
    return cases


def above_honest_work(cases: list[Case], score_of) -> list[str]:
    """The cases that scored more than their honest work, or were not graded though they are
    not bad files (``score_of(name)``: the autograded points, None if not graded); the whole
    table is printed."""
    table, bad = [], []
    for case in cases:
        got = score_of(case.name)
        table.append(f"{case.name:28s} honest={case.honest} got={got}")
        if got is not None and got > case.honest + 1e-9:
            bad.append(table[-1])
        if got is None and not case.failed:
            bad.append(table[-1] + " (not graded)")
    print("\n".join(table))
    return bad


def missing_reasons(cases: list[Case], summary: str, course: Path, assignment: str) -> list[str]:
    """The cases whose ``reason`` is found neither in the summary's lines about them nor in
    their feedback, each with what was found."""
    missing = []
    for case in cases:
        if case.reason is None:
            continue
        about = lines_about(summary, case.name) + "\n" + feedback_text(course, assignment,
                                                                        case.name)
        if not re.search(case.reason, about, re.I):
            missing.append(f"{case.name}: expected /{case.reason}/ in:\n"
                           f"{about[-1500:] or '(nothing)'}")
    return missing
