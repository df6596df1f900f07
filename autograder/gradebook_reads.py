"""nbgrader's per-cell gradebook lookups, read once per notebook.

Two of nbgrader's autograde steps ask the gradebook one question per cell: OverwriteCells
(the instructor's version of each locked cell: ``find_source_cell``, ``find_graded_cell``)
and SaveAutoGrades (the student's grade and comment rows: ``find_grade``, ``find_comment``,
and a commit after each). A ps3 notebook has 68 cells: about 160 queries and 45 commits,
~0.2 s of a grading worker per notebook (measured with ``time.process_time`` around each
preprocessor, 2-core machine; about a tenth of what a ps3 notebook costs in all).

:class:`PrefetchedGradebook` answers the same four lookups from seven queries per notebook
(three for the notebook's source, grade and task cells; four for the student's grades and
comments, each of two cell kinds); whatever it did not prefetch (a name that is not there)
it asks nbgrader's own method, so a missing cell raises nbgrader's own ``MissingEntry``.
The two preprocessors below use it; their rules are nbgrader's, unchanged: SaveAutoGrades
writes the same rows, committed once per notebook instead of once per cell (one
transaction: a notebook's grades are saved whole or not at all).
"""

from __future__ import annotations

import functools

from nbgrader.api import (
    Assignment,
    Comment,
    Grade,
    Gradebook,
    GradeCell,
    Notebook,
    SolutionCell,
    SourceCell,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
    TaskCell,
)


class PrefetchedGradebook(Gradebook):
    """nbgrader's ``Gradebook`` whose cell, grade and comment lookups come from one query per
    kind, made by :meth:`prefetch_cells` / :meth:`prefetch_submission`, when it has them."""

    _cells: dict | None = None
    _submission: dict | None = None

    def prefetch_cells(self, notebook: str, assignment: str) -> None:
        """The notebook's source, grade and task cells, by name (as the instructor made them)."""
        def by_name(cls):
            rows = self.db.query(cls) \
                .join(Notebook, Notebook.id == cls.notebook_id) \
                .join(Assignment, Assignment.id == Notebook.assignment_id) \
                .filter(Notebook.name == notebook, Assignment.name == assignment).all()
            return {row.name: row for row in rows}

        self._cells = {"key": (notebook, assignment), "source": by_name(SourceCell),
                       "grade": by_name(GradeCell), "task": by_name(TaskCell)}

    def prefetch_submission(self, notebook: str, assignment: str, student: str) -> None:
        """The student's grade and comment rows of this notebook, by cell name."""
        def by_cell(row_cls, cell_cls):
            rows = self.db.query(cell_cls.name, row_cls) \
                .join(cell_cls, cell_cls.id == row_cls.cell_id) \
                .join(SubmittedNotebook, SubmittedNotebook.id == row_cls.notebook_id) \
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id) \
                .join(SubmittedAssignment,
                      SubmittedAssignment.id == SubmittedNotebook.assignment_id) \
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
                .join(Student, Student.id == SubmittedAssignment.student_id) \
                .filter(Notebook.name == notebook, Assignment.name == assignment,
                        Student.id == student).all()
            return dict(rows)

        # grades belong to grade cells and task cells (nbgrader's find_grade tries both)
        grades = by_cell(Grade, TaskCell)
        grades.update(by_cell(Grade, GradeCell))
        comments = by_cell(Comment, TaskCell)
        comments.update(by_cell(Comment, SolutionCell))
        self._submission = {"key": (notebook, assignment, student), "grade": grades,
                            "comment": comments}

    # nbgrader's lookups, answered from what was prefetched for the same notebook
    def find_source_cell(self, name, notebook, assignment):
        hit = self._cell("source", name, notebook, assignment)
        return hit if hit is not None else super().find_source_cell(name, notebook, assignment)

    def find_graded_cell(self, name, notebook, assignment):
        hit = self._cell("grade", name, notebook, assignment)
        if hit is None:
            hit = self._cell("task", name, notebook, assignment)
        return hit if hit is not None else super().find_graded_cell(name, notebook, assignment)

    def find_grade(self, grade_cell, notebook, assignment, student):
        hit = self._row("grade", grade_cell, notebook, assignment, student)
        return hit if hit is not None else super().find_grade(grade_cell, notebook, assignment,
                                                               student)

    def find_comment(self, solution_cell, notebook, assignment, student):
        hit = self._row("comment", solution_cell, notebook, assignment, student)
        return hit if hit is not None else super().find_comment(solution_cell, notebook,
                                                                 assignment, student)

    def _cell(self, kind, name, notebook, assignment):
        c = self._cells
        return c[kind].get(name) if c and c["key"] == (notebook, assignment) else None

    def _row(self, kind, name, notebook, assignment, student):
        s = self._submission
        return s[kind].get(name) if s and s["key"] == (notebook, assignment, student) else None


def _open(preprocessor, resources) -> PrefetchedGradebook:
    """What nbgrader's OverwriteCells and SaveAutoGrades do first in ``preprocess`` (the
    notebook's ids from ``resources``, a gradebook), with the prefetching gradebook."""
    info = resources["nbgrader"]
    preprocessor.notebook_id = info["notebook"]
    preprocessor.assignment_id = info["assignment"]
    preprocessor.db_url = info["db_url"]
    return PrefetchedGradebook(preprocessor.db_url)


@functools.lru_cache(maxsize=None)
def overwrite_cells_class():
    """:func:`autograder.sandbox.robust_overwrite_cells_class` reading the gradebook once per
    notebook. ``preprocess`` is nbgrader's own, with the prefetching gradebook."""
    from nbgrader.preprocessors import NbGraderPreprocessor

    from .sandbox import robust_overwrite_cells_class

    class PrefetchedOverwriteCells(robust_overwrite_cells_class()):
        def preprocess(self, nb, resources):
            self.gradebook = _open(self, resources)
            with self.gradebook:
                self.gradebook.prefetch_cells(self.notebook_id, self.assignment_id)
                nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
                if self.add_missing_cells:
                    nb, resources = self.add_missing_grade_cells(nb, resources)
                    nb, resources = self.add_missing_task_cells(nb, resources)
            return nb, resources

    return PrefetchedOverwriteCells


@functools.lru_cache(maxsize=None)
def save_auto_grades_class():
    """nbgrader's SaveAutoGrades reading the gradebook once per notebook and committing once."""
    from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades

    class PrefetchedSaveAutoGrades(SaveAutoGrades):
        def preprocess(self, nb, resources):
            self.student_id = resources["nbgrader"]["student"]
            self.gradebook = _open(self, resources)
            with self.gradebook:
                self.gradebook.prefetch_submission(self.notebook_id, self.assignment_id,
                                                   self.student_id)
                db = self.gradebook.db
                # nbgrader commits after each cell: here the rows are flushed as it goes (the
                # same statements) and committed once, after the last cell
                db.commit = db.flush
                try:
                    nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
                finally:
                    del db.commit
                db.commit()
            return nb, resources

    return PrefetchedSaveAutoGrades
