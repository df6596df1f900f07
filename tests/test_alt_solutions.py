"""Second, independently written correct solutions get full marks.

tests/alt_solutions/ holds, per assignment, a solution written from the release notebook
alone in a style deliberately unlike source/ (its docstring says how). tests/conftest.py
hands it in as student ``alt`` in each assignment's graded batch, graded by the course's own
grader with the solution, the release and the bug fixtures: every autograded cell must get
full marks. A test that fails it depends on how the reference solution is written, not on
what torch defines.
"""

from __future__ import annotations

import nbformat
import pytest
from alt_solutions import STUDENT, autograded_ids, fill_cell
from conftest import ROOT, assignments


def test_fill_cell_indents_each_answer_like_its_placeholder():
    src = ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\n"
           "def g(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    out = fill_cell(src, ["y = x + 1\nreturn y\n", "return 2 * x\n"], "test")
    ns: dict = {}
    exec(out, ns)
    assert (ns["f"](1), ns["g"](3)) == (2, 6)
    with pytest.raises(AssertionError, match="2 places to fill"):
        fill_cell(src, ["return x\n"], "test")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_second_correct_solution_gets_full_marks(graded, assignment):
    batch = graded(assignment)
    assert STUDENT in batch.scores, f"{assignment}: no second solution in tests/alt_solutions/"
    cells = batch.scores[STUDENT]["cells"]
    autograded = autograded_ids(ROOT / "release" / assignment)
    assert autograded <= set(cells), f"test cells missing from the gradebook: {sorted(autograded - set(cells))}"
    short = {g: f"{sc}/{mx}" for g, (sc, mx) in cells.items() if g in autograded and (sc is None or sc < mx)}
    if short:
        graded_nb = nbformat.read(next((batch.course / "autograded" / STUDENT / assignment).glob("*.ipynb")),
                                  as_version=4)
        why = []
        for cell in graded_nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in short:
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                why.append(f"{gid}: " + ("; ".join(f"{e.ename}: {e.evalue}"[:600] for e in errors) or "no error"))
        pytest.fail(f"the second correct {assignment} solution lost points in {short}:\n" + "\n".join(why))
    assert autograded and all(cells[g][0] for g in autograded), "nothing was graded"
