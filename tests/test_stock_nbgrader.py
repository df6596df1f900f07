"""The one comparison with stock ``nbgrader autograde``: the same scores, cell by cell.

The suite's graded batches (tests/conftest.py's ``graded``) are graded by the project's
own grader, ``autograder.grading.grade``, where test cells run in the judge and student
cells in the sandboxed student's process (docs/architecture.md). Stock nbgrader runs
every cell in one kernel. Here both grade the same submissions of one real assignment,
the solution, the unmodified release and one bug fixture per answer cell that the session's
batch grades end to end breaks (conftest.e2e_bugs; up to ``MAX_BUGS``: stock nbgrader pays a
kernel start per notebook), and must agree on every
cell. One assignment is enough to keep the suite fast; this file is a scheduling unit of
its own (bin/test), so its slow stock run overlaps the other tests.
"""

from __future__ import annotations

import pytest
from conftest import build_batch, e2e_bugs

from autograder import course as C

A = "ps1"  # the shortest real assignment; its tests use the judge's proxies and student_side
MAX_BUGS = 5


def _one_bug_per_cell(bugs):
    """The first fixture of each answer cell the fixtures edit, at most MAX_BUGS of them."""
    seen, out = set(), []
    for bug in bugs:
        cell = next(iter(bug.edits))
        if cell not in seen and len(out) < MAX_BUGS:
            seen.add(cell)
            out.append(bug)
    return out


@pytest.mark.slow
def test_same_scores_as_stock_nbgrader(graded, tmp_path):
    bugs = _one_bug_per_cell(e2e_bugs(A))  # graded in the session's ps1 batch too
    course = build_batch(tmp_path, A, bugs)
    C.nbgrader(course, "autograde", A, "--force")
    stock = C.gradebook_scores(course, A)
    ours = {s: v for s, v in graded(A).scores.items() if s in stock}
    assert sorted(ours) == sorted(stock) and len(bugs) >= 3, (sorted(ours), sorted(stock))
    assert len(ours) >= 3, sorted(ours)  # the solution, the release and the bug fixtures
    cells = lambda scores, s: {k: tuple(v) for k, v in scores[s]["cells"].items()}  # noqa: E731
    differ = {s: (cells(ours, s), cells(stock, s)) for s in ours
              if cells(ours, s) != cells(stock, s)}
    assert not differ, f"autograder vs stock nbgrader: {differ}"
    # a comparison that could pass on empty or all-zero grades proves nothing
    assert ours["solution"]["auto_score"] > 0
    assert ours["release"]["auto_score"] == 0
