"""The course's nbgrader_config.py, proved with real nbgrader runs on a tiny assignment."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import course as C


def _cell(kind, source, cell_id, **nbgrader):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, id=cell_id)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False, "task": False,
                "schema_version": 3, "grade_id": cell_id}
        meta.update(nbgrader)
        cell.metadata["nbgrader"] = meta
    return cell


def _warning_assignment(course: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("code", "import warnings\nimport torch", "imports"),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              "answer", solution=True),
        # torch.tensor(tensor) prints a UserWarning on stderr; a correct answer must keep its points
        _cell("code", "t = torch.tensor(torch.ones(2))\nassert double(3) == 6\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS",
              "test", grade=True, locked=True, points=2),
        _cell("code", "import sys\nprint('real trouble', file=sys.stderr)", "stderr-test",
              grade=True, locked=True, points=1),
    ]
    (course / "source" / "warn").mkdir(parents=True)
    nbformat.write(nb, course / "source" / "warn" / "warn.ipynb")


@pytest.mark.slow
def test_torch_warning_does_not_zero_a_correct_cell(tmp_path):
    course = C.copy_course(tmp_path / "c", root=ROOT)
    _warning_assignment(course)
    C.nbgrader(course, "generate_assignment", "warn", "--force")
    release = course / "release" / "warn" / "warn.ipynb"
    C.write_submission(course, "warn", "alice",
                       {"warn.ipynb": C.solution_submission(release, course / "source/warn/warn.ipynb")})
    C.nbgrader(course, "autograde", "warn", "--force")
    graded = nbformat.read(course / "autograded/alice/warn/warn.ipynb", as_version=4)
    test_cell = next(c for c in graded.cells if c.get("id") == "test")
    scores = C.gradebook_scores(course, "warn")["alice"]["cells"]
    assert scores["test"] == (2.0, 2.0), test_cell.outputs
    # stderr that is not a warning still fails the cell, as nbgrader intends
    assert scores["stderr-test"] == (0.0, 1.0)


def test_exchange_directory_exists_and_is_writable():
    from traitlets.config import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    ex = Path(cfg.Exchange.root)
    assert ex.is_dir() and os.access(ex, os.W_OK)
    assert cfg.CourseDirectory.course_id
    assert cfg.Execute.timeout > 0
