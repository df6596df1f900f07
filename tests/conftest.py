"""Shared fixtures: the repository, its assignments, and real nbgrader runs in private copies."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder import course as C

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPLBACKEND", "Agg")


def assignments() -> list[str]:
    return sorted(p.name for p in (ROOT / "source").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


@dataclass
class Bug:
    """One planted bug: the solution with ``edits`` applied to answer cells.

    ``edits``: {grade_id: [(old, new), ...]}; ``expect``: text the student's
    feedback must contain (the failing check's name or its hint).
    """

    name: str
    edits: dict
    expect: list[str] = field(default_factory=list)


def load_bugs(assignment: str) -> list[Bug]:
    path = ROOT / "tests" / f"bugs_{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"bugs_{assignment}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.BUGS)


@dataclass
class GradedBatch:
    course: Path
    assignment: str
    scores: dict
    bugs: list

    def feedback_html(self, student: str) -> str:
        files = sorted((self.course / "feedback" / student / self.assignment).glob("*.html"))
        assert files, f"no feedback for {student}"
        return "\n".join(f.read_text() for f in files)


def grade_batch(tmp: Path, assignment: str) -> GradedBatch:
    """Real nbgrader: generate, submit (solution, release, one-bug fixtures), autograde, feedback."""
    course = C.copy_course(tmp / "course", assignment, root=ROOT)
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    release = sorted((course / "release" / assignment).glob("*.ipynb"))
    sources = {p.name: p for p in C.assignment_notebooks(course, assignment)}
    # the student receives the extra files of the release too (modules, data)
    def files_for(nbs):
        out = dict(nbs)
        for extra in (course / "release" / assignment).iterdir():
            if extra.is_file() and extra.suffix != ".ipynb":
                out[extra.name] = extra
        return out

    C.write_submission(course, assignment, "solution",
                       files_for({p.name: C.solution_submission(p, sources[p.name]) for p in release}))
    C.write_submission(course, assignment, "release", files_for({p.name: p for p in release}))
    bugs = load_bugs(assignment)
    for bug in bugs:
        nbs = {}
        remaining = dict(bug.edits)
        for p in release:
            ids = {c.metadata.get("nbgrader", {}).get("grade_id")
                   for c in C.solution_submission(p, sources[p.name]).cells}
            mine = {k: v for k, v in remaining.items() if k in ids}
            for k in mine:
                remaining.pop(k)
            nbs[p.name] = C.solution_submission(p, sources[p.name], mine)
        assert not remaining, f"bug {bug.name}: no answer cells {sorted(remaining)}"
        C.write_submission(course, assignment, f"bug-{bug.name}", files_for(nbs))
    C.nbgrader(course, "autograde", assignment, "--force")
    C.nbgrader(course, "generate_feedback", assignment, "--force")
    return GradedBatch(course, assignment, C.gradebook_scores(course, assignment), bugs)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """``graded(assignment)``: the assignment graded once per test run, shared by xdist workers.

    The first worker to ask grades it under a file lock in the run's shared temp
    directory and leaves the scores there as JSON; the others wait and reuse them.
    """
    import fcntl
    import json

    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's basetemp is <run>/popen-gwN: share <run>. Without xdist,
    # basetemp is the run's own directory (its parent holds earlier runs: never reuse those)
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache: dict[str, GradedBatch] = {}

    def get(assignment: str) -> GradedBatch:
        if assignment in cache:
            return cache[assignment]
        work = shared / f"graded-{assignment}"
        done = shared / f"graded-{assignment}.json"
        with open(shared / f"graded-{assignment}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(work, ignore_errors=True)  # what a killed worker left half-built
                batch = grade_batch(work, assignment)
                done.write_text(json.dumps(batch.scores))
        cache[assignment] = GradedBatch(work / "course", assignment, json.loads(done.read_text()),
                                        load_bugs(assignment))
        return cache[assignment]

    return get
