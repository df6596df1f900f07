"""The course's nbgrader_config.py, proved with real nbgrader runs on a tiny assignment."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import course as C


def _warning_assignment(course: Path) -> None:
    _cell = C.nbgrader_cell
    nb = C.new_notebook([
        _cell("code", "import warnings\nimport torch", "imports"),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              "answer", solution=True),
        # torch.tensor(tensor) prints a UserWarning on stderr; a correct answer must keep its points
        _cell("code", "t = torch.tensor(torch.ones(2))\nassert double(3) == 6\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS",
              "test", grade=True, locked=True, points=2),
        _cell("code", "import sys\nprint('real trouble', file=sys.stderr)", "stderr-test",
              grade=True, locked=True, points=1),
    ])
    (course / "source" / "warn").mkdir(parents=True)
    nbformat.write(nb, course / "source" / "warn" / "warn.ipynb")


@pytest.fixture(scope="module")
def warn_course(tmp_path_factory):
    """The tiny assignment generated, submitted with its solution, and autograded."""
    course = C.copy_course(tmp_path_factory.mktemp("warn") / "c", root=ROOT)
    _warning_assignment(course)
    C.nbgrader(course, "generate_assignment", "warn", "--force")
    release = course / "release" / "warn" / "warn.ipynb"
    answer = C.solution_submission(release, course / "source/warn/warn.ipynb")
    answer.cells[1].source = answer.cells[1].source.replace("2 * x", "x + x + (x == -1)")
    C.write_submission(course, "warn", "alice", {"warn.ipynb": answer})  # fails a hidden test
    C.write_submission(course, "warn", "bob", {"warn.ipynb": C.solution_submission(
        release, course / "source/warn/warn.ipynb")})
    C.nbgrader(course, "autograde", "warn", "--force")
    return course


@pytest.mark.slow
def test_torch_warning_does_not_zero_a_correct_cell(warn_course):
    graded = nbformat.read(warn_course / "autograded/bob/warn/warn.ipynb", as_version=4)
    test_cell = next(c for c in graded.cells if c.get("id") == "test")
    scores = C.gradebook_scores(warn_course, "warn")["bob"]["cells"]
    assert scores["test"] == (2.0, 2.0), test_cell.outputs
    # stderr that is not a warning still fails the cell, as nbgrader intends
    assert scores["stderr-test"] == (0.0, 1.0)


HIDDEN_LINE = "assert double(-1) == -2"


@pytest.mark.slow
def test_stock_feedback_shows_hidden_tests_and_ours_does_not(warn_course):
    import html

    stock = ["nbgrader.preprocessors.GetGrades", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    C.nbgrader(warn_course, "generate_feedback", "warn", "--force",
               f"--GenerateFeedback.preprocessors={stock!r}")
    page = warn_course / "feedback/alice/warn/warn.html"

    def text():
        return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))

    stock_text = text()
    assert HIDDEN_LINE in stock_text, "stock nbgrader no longer leaks: re-measure"

    C.nbgrader(warn_course, "generate_feedback", "warn", "--force")
    ours = text()
    assert HIDDEN_LINE not in ours
    assert "hidden tests" in ours  # the student is told they exist
    assert "AssertionError" in ours  # and still sees that one failed


def test_exchange_directory_exists_and_is_writable():
    from traitlets.config import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    ex = Path(cfg.Exchange.root)
    assert ex.is_dir() and os.access(ex, os.W_OK)
    assert cfg.CourseDirectory.course_id
    assert cfg.Execute.timeout > 0


def test_a_gradebook_made_here_is_stamped_as_nbgrader_stamps_its_own(tmp_path):
    """course.new_gradebook skips nbgrader's `alembic heads` subprocess; the revision it writes
    must be the one nbgrader's own get_alembic_version gives (asked in a fresh process, where
    nothing of ours has replaced it), and nbgrader must take the gradebook as its own."""
    import sqlite3
    import subprocess
    import sys

    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    stock = subprocess.run([sys.executable, "-c", "import nbgrader.api as a; "
                            "print(a.get_alembic_version())"], capture_output=True, text=True,
                           env=env, check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", stock), stock
    assert C.alembic_head() == stock
    course = tmp_path / "c"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    C.new_gradebook(course)
    db = course / "gradebook.db"
    assert sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall() \
        == [(stock,)]
    before = db.read_bytes()
    C.new_gradebook(course)  # an existing gradebook is left as it is
    assert db.read_bytes() == before
    # nbgrader's own upgrade finds it at its head: nothing to do, nothing broken
    out = C.nbgrader(course, "db", "upgrade")
    assert "Error" not in out.stdout + out.stderr, out.stderr[-2000:]
    assert sqlite3.connect(db).execute("SELECT version_num FROM alembic_version").fetchall() \
        == [(stock,)]
    # a relative file with a query, as a course may write it: the file is the course's, made
    # where nbgrader would make it (not in this process's working directory)
    other = tmp_path / "rel"
    other.mkdir()
    (other / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///book.db?timeout=60'\n")
    C.new_gradebook(other)
    assert sorted(p.name for p in other.iterdir()) == ["book.db", "nbgrader_config.py"]
    assert not (Path.cwd() / "book.db").exists()
    assert sqlite3.connect(other / "book.db").execute(
        "SELECT version_num FROM alembic_version").fetchall() == [(stock,)]
