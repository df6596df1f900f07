"""Test logic lives in the package, not in the notebooks (docs/authoring.md).

A test cell, or an instructor's set-up or judge cell, defines no function or class: helpers that
tests need live in ``autograder.problems.<assignment>`` or ``autograder.testing``, where they are
read, reviewed and tested once. The only code cells that may define functions or classes are the
student's answer cells and instructor cells that are declared part of the student's program
(metadata ``"autograder": {"role": "program"}`` or ``"both"``: a given function the student
differentiates, an engine's given base class).
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from conftest import ROOT, assignments

from autograder.translate import _python_lines

DECLARED = ("program", "both")


def _definitions(src: str) -> list[str]:
    tree = ast.parse(_python_lines(src))
    return [n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def offending_cells(nb) -> list[tuple[str, list[str]]]:
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader") or {}
        if meta.get("solution"):
            continue
        role = (cell.metadata.get("autograder") or {}).get("role")
        if role in DECLARED and not meta.get("grade"):
            continue
        names = _definitions(cell.source)
        if names:
            out.append((meta.get("grade_id") or cell.get("id"), names))
    return out


@pytest.mark.parametrize("assignment", assignments())
def test_no_test_or_setup_cell_defines_functions(assignment):
    found = []
    for path in sorted((ROOT / "source" / assignment).glob("*.ipynb")):
        found += offending_cells(nbformat.read(path, as_version=4))
    assert not found, ("test or set-up cells define functions or classes (move them to "
                       f"autograder/problems/{assignment}.py, or declare the cell part of the "
                       f"student's program with metadata autograder.role): {found}")


def test_the_rule_catches_a_helper_in_a_test_cell():
    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("def _check(f):\n    assert f(1) == 1\n_check(g)")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "x-test",
                                 "points": 1, "locked": True}
    given = nbformat.v4.new_code_cell("def g(x):\n    return x")
    given.metadata["nbgrader"] = {"grade": False, "solution": False, "grade_id": "x-given",
                                  "locked": True}
    given.metadata["autograder"] = {"role": "program"}
    answer = nbformat.v4.new_code_cell("class Mine:\n    pass")
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "x"}
    setup = nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np\nf = lambda x: x")
    nb.cells = [test, given, answer, setup]
    assert offending_cells(nb) == [("x-test", ["_check"])]
