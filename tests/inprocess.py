"""A source/ notebook run in this process, as a student's kernel runs it (for tests of the
helpers in autograder/problems/): the instructor's answers (optionally with a bug fixture's
edits planted), then every test cell, hidden parts included. Grading runs the same cells in
the judge (tests/test_assignments.py); this is the fast path that needs no nbgrader."""

from __future__ import annotations

import contextlib
import io
import os
import sys

import nbformat
from conftest import ROOT

from autograder.course import strip_solution_markers


def run_source_notebook(assignment: str, edits: dict | None = None,
                        skip: tuple[str, ...] = ()) -> dict[str, BaseException | None]:
    """``{grade_id of each test cell: None if it passed, else what it raised}``.

    ``edits``: ``{answer grade_id: [(old, new), ...]}`` (a bug fixture's, each ``old`` once);
    ``skip``: grade_ids of non-test cells not to run. Runs in the assignment's folder (ps5
    imports the engine there); a failing non-test cell raises."""
    folder = ROOT / "source" / assignment
    nb = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
    edits = {k: list(v) for k, v in (edits or {}).items()}
    ns: dict = {"__name__": "__main__", "In": [""]}  # IPython's input history, as a kernel keeps it
    results: dict[str, BaseException | None] = {}
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader") or {}
            gid = meta.get("grade_id") or cell.get("id")
            if cell.cell_type != "code" or gid in skip:
                continue
            code = strip_solution_markers(cell.source)
            for old, new in edits.pop(gid, []):
                assert code.count(old) == 1, f"{gid}: {old!r} must occur once"
                code = code.replace(old, new)
            ns["In"].append(code)  # the cell running now is the last one (integrity.engine_sources)
            if meta.get("grade"):
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(code, f"<{gid}>", "exec"), ns)
                    results[gid] = None
                except Exception as e:  # noqa: BLE001  (a failing test cell, as a kernel shows it)
                    results[gid] = e
            else:
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    exec(compile(code, f"<{gid}>", "exec"), ns)
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.modules.pop("minigrad", None)
    assert not edits, f"no answer cells {sorted(edits)}"
    return results


def failures(results: dict[str, BaseException | None]) -> dict[str, str]:
    """``{grade_id: message}`` of the test cells that failed."""
    return {gid: f"{type(e).__name__}: {e}" for gid, e in results.items() if e is not None}


def assert_solution_passes(assignment: str, at_least: int) -> None:
    """The instructor's answers pass every test cell (at least ``at_least`` of them)."""
    results = run_source_notebook(assignment)
    assert len(results) >= at_least, sorted(results)
    assert not failures(results), failures(results)


def assert_bug_named(assignment: str, bug, skip: tuple[str, ...] = ()) -> None:
    """A bug fixture (tests/bugs_<assignment>.py) fails a test cell, and the failing cells'
    messages hold every text of its ``expect``. Every fixture is checked this way; the graded
    batches grade a sample of them end to end (conftest.e2e_bugs)."""
    failed = failures(run_source_notebook(assignment, bug.edits, skip=skip))
    assert failed, f"bug {bug.name} passes every test cell"
    text = "\n".join(failed.values())
    for expected in bug.expect:
        assert expected in text, f"bug {bug.name}: no failing cell says {expected!r}: {failed}"
