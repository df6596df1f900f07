"""Every assignment in source/, graded end to end by real nbgrader (generate, autograde, feedback).

For each assignment: the solution submitted as a student gets full autograded
marks, the unmodified release gets 0 without a crash, one-bug fixtures
(tests/bugs_<assignment>.py; a sample, conftest.e2e_bugs) score below full and their
feedback names the failing check, and no feedback shows hidden test code.
"""

from __future__ import annotations

import nbformat
import pytest
from alt_solutions import STUDENT
from conftest import ROOT, assignments, hidden_lines

ALL = assignments()


def test_there_are_assignments():
    assert len(assignments()) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_solution_gets_full_marks(graded, assignment):
    batch = graded(assignment)
    s = batch.scores["solution"]
    assert s["auto_score"] > 0
    lost = {k: v for k, v in s["cells"].items() if v[0] is not None and v[0] < v[1]}
    assert not lost, f"the solution lost points in {lost}"
    auto_max = sum(m for k, (sc, m) in s["cells"].items() if sc is not None)
    assert s["auto_score"] == pytest.approx(auto_max)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_release_gets_zero(graded, assignment):
    batch = graded(assignment)
    s = batch.scores["release"]
    assert s["auto_score"] == 0, s["cells"]
    assert s["max_score"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_hidden_tests_hold_most_points(graded, assignment):
    """Most autograded points sit in test cells with hidden tests."""
    hidden = total = 0.0
    for p in sorted((ROOT / "source" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(p, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                total += meta["points"]
                if "### BEGIN HIDDEN TESTS" in cell.source:
                    hidden += meta["points"]
    assert total > 0 and hidden / total > 0.5, (hidden, total)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_bug_fixtures_lose_points_and_feedback_names_the_check(graded, assignment):
    batch = graded(assignment)
    bugs = batch.bugs  # a sample (conftest.E2E_STRIDE); all of them: tests/test_problems_psN.py
    if not bugs:
        pytest.skip(f"{assignment} has no bug fixtures")
    full = batch.scores["solution"]["auto_score"]
    for bug in bugs:
        s = batch.scores[f"bug-{bug.name}"]
        assert s["auto_score"] < full, f"bug {bug.name} got full marks"
        page = batch.feedback_text(f"bug-{bug.name}")
        for text in bug.expect:
            assert text in page, f"feedback of bug {bug.name} does not say {text!r}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["ps1", "ps2", "ps5"])
def test_answers_that_use_torch_lose_what_they_hand_to_torch(graded, assignment):
    """ps2 (derivatives by hand) and ps5 (training on one's own engine) are graded without torch
    (source metadata ``student_torch``); ps1's part A (gradients by hand) is run again in a
    second process without torch (integrity.check_by_hand), the rest of ps1 needing torch.
    Code that hands its work to torch fails there, with a message that says why, and costs
    exactly what used it (conftest.TORCH_USER)."""
    from conftest import TORCH_USER

    batch = graded(assignment)
    got, full = batch.scores[TORCH_USER], batch.scores["solution"]
    lost = {g for g, (sc, mx) in got["cells"].items() if sc is not None and sc < mx}
    if assignment == "ps1":  # only grad_tanh_mean used torch
        assert lost == {"ps1-grad-tanh-mean-test"}, lost
        assert "grad_tanh_mean (your code run in a Python without torch)" in \
            batch.feedback_text(TORCH_USER)
    elif assignment == "ps2":  # only d_exp used torch
        assert lost == {"ps2-d-exp-test"}, lost
    else:  # the engine: every test that trains or differentiates
        assert got["auto_score"] == 0 < full["auto_score"], got
    if assignment != "ps1":  # (ps1: the set-up's `import torch` failed there; its message above)
        assert "torch is not available here" in batch.feedback_text(TORCH_USER)


def _hidden_regions(assignment):
    """The non-trivial lines of every hidden test region of the assignment's source."""
    return set().union(*(hidden_lines(p) for p in sorted((ROOT / "source" / assignment).glob("*.ipynb"))))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_feedback_has_no_hidden_test_code(graded, assignment):
    batch = graded(assignment)
    hidden = _hidden_regions(assignment)
    assert hidden, f"{assignment} has no hidden tests"
    students = ["solution", "release"] + [f"bug-{b.name}" for b in batch.bugs] + sorted(
        {STUDENT} & set(batch.scores))
    for student in students:
        text = batch.feedback_text(student)
        leaked = [ln for ln in hidden if ln in text]
        assert not leaked, f"feedback of {student} shows hidden test code: {leaked[:3]}"


@pytest.mark.slow
def test_every_release_is_in_sync_with_source(tmp_path):
    """release/ equals a fresh `nbgrader generate_assignment` of source/, for every assignment
    and every generated translation (ps1-zh-CN ...), generated in one nbgrader process."""
    from autograder.course import copy_course, generate_assignments

    every = assignments(translations=True)
    course = copy_course(tmp_path / "c", *every, root=ROOT)
    generate_assignments(course, *every)
    names = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*")  # noqa: E731
                             if p.is_file() and "__pycache__" not in p.parts)
    stale = []
    for assignment in every:
        fresh, committed = course / "release" / assignment, ROOT / "release" / assignment
        if names(fresh) != names(committed):
            stale.append(f"{assignment}: files {names(committed)} != {names(fresh)}")
            continue
        for rel in names(fresh):
            a, b = fresh / rel, committed / rel
            if rel.endswith(".ipynb"):
                na, nb = nbformat.read(a, as_version=4), nbformat.read(b, as_version=4)
                ca = [(c.get("id"), c.cell_type, c.source, c.metadata.get("nbgrader"))
                      for c in na.cells]
                cb = [(c.get("id"), c.cell_type, c.source, c.metadata.get("nbgrader"))
                      for c in nb.cells]
                if ca != cb:
                    stale.append(f"release/{assignment}/{rel} differs from source")
            elif a.read_bytes() != b.read_bytes():
                stale.append(f"release/{assignment}/{rel} differs")
    assert not stale, "run bin/course release <assignment>:\n" + "\n".join(stale)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ALL)
def test_gradebook_read_once_per_notebook_answers_as_nbgrader(graded, assignment):
    """autograder.gradebook_reads: every lookup that OverwriteCells and SaveAutoGrades make is
    answered from the prefetch, without a query, and is the row nbgrader's own query finds
    (the same object of the same session), on the batch's real gradebook; a name that is not
    there still raises nbgrader's MissingEntry. (That grading with it saves what stock
    nbgrader saves, cell by cell: tests/test_bench.py.)"""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.course import db_url
    from autograder.gradebook_reads import PrefetchedGradebook

    batch = graded(assignment)
    url = db_url(batch.course)
    students = ["solution", "release", *sorted(s for s in batch.scores if s.startswith("bug-"))[:2]]
    with Gradebook(url) as stock:
        want = {nb.name: ([c.name for c in nb.source_cells], [c.name for c in nb.grade_cells],
                          [c.name for c in nb.task_cells], [c.name for c in nb.solution_cells])
                for nb in stock.find_assignment(assignment).notebooks}
    assert want and all(w[0] and w[1] for w in want.values()), want

    def no_query(*args, **kwargs):
        raise AssertionError("a lookup asked the database instead of the prefetch")

    checked = 0
    with PrefetchedGradebook(url) as gb:

        def prefetched(lookup, *args):  # the answer, with queries forbidden while it is found
            gb.db.query = no_query
            try:
                return lookup(*args)
            finally:
                del gb.db.query

        for nb, (sources, grades, tasks, solutions) in want.items():
            gb.prefetch_cells(nb, assignment)
            for name in sources:
                assert prefetched(gb.find_source_cell, name, nb, assignment) is \
                    Gradebook.find_source_cell(gb, name, nb, assignment)
                checked += 1
            for name in grades + tasks:
                assert prefetched(gb.find_graded_cell, name, nb, assignment) is \
                    Gradebook.find_graded_cell(gb, name, nb, assignment)
                checked += 1
            with pytest.raises(MissingEntry):
                gb.find_source_cell("no-such-cell", nb, assignment)
            for student in students:
                gb.prefetch_submission(nb, assignment, student)
                for name in grades + tasks:
                    row = prefetched(gb.find_grade, name, nb, assignment, student)
                    assert row is Gradebook.find_grade(gb, name, nb, assignment, student)
                    assert row.name == name and row.student.id == student
                    checked += 1
                for name in solutions + tasks:
                    row = prefetched(gb.find_comment, name, nb, assignment, student)
                    assert row is Gradebook.find_comment(gb, name, nb, assignment, student)
                    checked += 1
                with pytest.raises(MissingEntry):
                    gb.find_grade("no-such-cell", nb, assignment, student)
            # what was prefetched for one notebook is never the answer for another
            with pytest.raises(MissingEntry):
                gb.find_source_cell(sources[0], nb + "-other", assignment)
    assert checked > 0


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["ps3"])
def test_the_judge_draws_ps3_pictures(graded, assignment):
    """ps3's picture cell runs in the judge (the grading command sets up pyplot for an
    assignment that draws): the graded notebook shows torch's graph and the student's."""
    import base64

    batch = graded(assignment)
    nb = nbformat.read(batch.course / "autograded" / "solution" / assignment / f"{assignment}.ipynb",
                       as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "ps3-picture")
    pngs = [base64.b64decode(o["data"]["image/png"]) for o in cell.outputs
            if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert len(pngs) == 1 and pngs[0][:8] == b"\x89PNG\r\n\x1a\n", cell.outputs
