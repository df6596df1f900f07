"""The course directory as nbgrader sees it, for instructors, benchmarks and tests.

Finds the course root, runs real ``nbgrader`` commands in it, builds student
submissions from the instructor's solutions (the solution as a student would
submit it, or with one planted bug), and reads scores from the gradebook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where it is used: `autograder grade` starts without it
    import nbformat

SOLUTION_RE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def repo_root() -> Path:
    """The course directory: the nearest parent holding nbgrader_config.py."""
    here = Path(os.environ.get("AUTOGRADER_COURSE", Path.cwd())).resolve()
    for p in (here, *here.parents):
        if (p / "nbgrader_config.py").is_file():
            return p
    pkg = Path(__file__).resolve().parent.parent
    if (pkg / "nbgrader_config.py").is_file():
        return pkg
    raise FileNotFoundError("no nbgrader_config.py here or above: run this inside the course "
                            "directory, or set AUTOGRADER_COURSE")


def assignment_notebooks(root: Path, assignment: str, where: str = "source") -> list[Path]:
    d = Path(root) / where / assignment
    if not d.is_dir():
        raise FileNotFoundError(f"no assignment {assignment!r} in {d.parent}")
    return sorted(p for p in d.glob("*.ipynb"))


def copy_course(dest: Path, *assignments: str, root: Path | None = None,
                with_release: bool = False) -> Path:
    """A private copy of the course directory (config + chosen assignments) at ``dest``.

    Tests and benchmarks grade in such a copy so the real gradebook is never touched.
    """
    root = Path(root or repo_root())
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    for a in assignments:
        shutil.copytree(root / "source" / a, dest / "source" / a,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        if with_release and (root / "release" / a).is_dir():
            shutil.copytree(root / "release" / a, dest / "release" / a,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def alembic_head() -> str:
    """The revision nbgrader stamps on a new gradebook (its alembic scripts' head), read here.

    nbgrader's own ``nbgrader.api.get_alembic_version`` runs ``alembic heads`` in a subprocess
    for every new gradebook: a Python start and alembic's import, ~1.3 s of CPU for a 12-character
    string (0.12 s here). Same scripts, same head."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def fast_new_gradebooks() -> None:
    """Make this process's new nbgrader gradebooks take their alembic revision from
    :func:`alembic_head` (once per process) instead of a subprocess. Nothing else changes:
    nbgrader still creates the tables and writes the same ``alembic_version`` row."""
    import functools

    import nbgrader.api

    if getattr(nbgrader.api.get_alembic_version, "autograder", False):
        return
    head = functools.cache(alembic_head)
    head.autograder = True
    nbgrader.api.get_alembic_version = head


def new_gradebook(course: Path) -> None:
    """Create the course's SQLite gradebook here (see :func:`fast_new_gradebooks`) if it does not
    exist yet, so that the nbgrader command about to run in ``course`` finds it made. Another
    database (a PostgreSQL URL in nbgrader_config.py) is left to nbgrader."""
    from sqlalchemy.engine import make_url
    from traitlets.config.loader import ConfigFileNotFound

    try:
        url = make_url(db_url(course))
    except ConfigFileNotFound:  # not a course (yet): nbgrader will say so itself
        return
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    # a relative file is relative to the course, where nbgrader runs (not to this process);
    # the URL's query (the course's ?timeout=60) is not part of the file name
    db = Path(course).resolve() / url.database
    if db.exists():
        return
    fast_new_gradebooks()
    from nbgrader.api import Gradebook

    with Gradebook(url.set(database=str(db)).render_as_string(hide_password=False)):
        pass


def nbgrader(course: Path, *args: str, timeout: float = 900, check: bool = True,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a real ``nbgrader`` command in ``course``; raise with its output if it fails."""
    new_gradebook(course)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    full_env = dict(os.environ, **(env or {}))
    # nbgrader shells out to `alembic`, which lives beside this interpreter
    full_env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), full_env.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed with code {proc.returncode}:\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


_GENERATE = """
import sys
from nbgrader.apps import GenerateAssignmentApp, NbGraderAPI
app = GenerateAssignmentApp()
app.initialize([])  # the course's nbgrader_config.py, from the working directory
api = NbGraderAPI(coursedir=app.coursedir, parent=app)
for name in sys.argv[1:]:
    result = api.generate_assignment(name, force=True, create=True)
    if not result["success"]:
        sys.exit(f"generate_assignment {name} failed: {result.get('error', '')[-4000:]}")
"""


def generate_assignments(course: Path, *assignments: str, timeout: float = 900) -> None:
    """``nbgrader generate_assignment --force`` of several assignments in one process: nbgrader's
    own API (as its Formgrader calls it), so its start-up is paid once, not per assignment."""
    new_gradebook(course)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    proc = subprocess.run([sys.executable, "-c", _GENERATE, *assignments], cwd=course,
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"generating {', '.join(assignments)} failed with code "
                           f"{proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")


def strip_solution_markers(source: str) -> str:
    """The solution as a student would type it: the code between the markers, markers removed."""
    return SOLUTION_RE.sub("", source)


def solution_submission(release_nb: Path, source_nb: Path,
                        edits: dict[str, list[tuple[str, str]]] | None = None):
    """The released notebook with every answer cell filled in from the instructor's solution.

    ``edits`` plants bugs: ``{grade_id: [(old, new), ...]}`` replaces ``old`` by
    ``new`` in that answer cell; each ``old`` must occur exactly once, so a
    fixture breaks loudly when the solution it was made from changes.
    """
    import nbformat

    release = nbformat.read(release_nb, as_version=4)
    source = nbformat.read(source_nb, as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = strip_solution_markers(cell.source)
    edits = dict(edits or {})
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and cell.metadata["nbgrader"].get("solution"):
            text = answers[gid]
            for old, new in edits.pop(gid, []):
                count = text.count(old)
                if count != 1:
                    raise ValueError(f"bug fixture: {old!r} occurs {count} times in answer "
                                     f"cell {gid!r} (must be exactly once)")
                text = text.replace(old, new)
            cell.source = text
    if edits:
        raise ValueError(f"bug fixture: no answer cells named {sorted(edits)}")
    return release


def nbgrader_cell(kind: str, source: str, cell_id: str, **nbgrader):
    """A new notebook cell with stable id ``cell_id``; keyword arguments make it an nbgrader cell.

    ``nbgrader_cell("code", src, "q1", solution=True)`` is an answer cell,
    ``nbgrader_cell("code", src, "q1-test", grade=True, locked=True, points=2)`` a test cell
    (metadata as nbgrader writes it, docs/authoring.md).
    """
    import nbformat

    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, id=cell_id)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False, "task": False,
                "schema_version": 3, "grade_id": cell_id}
        meta.update(nbgrader)
        cell.metadata["nbgrader"] = meta
    return cell


def new_notebook(cells: list) -> nbformat.NotebookNode:
    """A python3 notebook holding ``cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells = list(cells)
    return nb


def write_submission(course: Path, assignment: str, student: str, notebooks: dict,
                     timestamp: str | None = None) -> Path:
    """Place ``{filename: notebook node, Path or raw bytes}`` as ``submitted/student/assignment``."""
    d = Path(course) / "submitted" / student / assignment
    d.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        target = d / name
        if isinstance(nb, (bytes, bytearray)):
            target.write_bytes(nb)
        elif isinstance(nb, (str, Path)):
            shutil.copy2(nb, target)
        else:
            import nbformat

            nbformat.write(nb, target)
    if timestamp:
        (d / "timestamp.txt").write_text(timestamp)
    return d


def student_files(course: Path, assignment: str) -> list[str]:
    """The files a student hands in with ``assignment`` besides its notebooks (ps5: their
    own ps3 engine, ``minigrad.py``): ``STUDENT_FILES`` of nbgrader_config.py, read as
    nbgrader reads it (``Autograde.exclude_overwriting``). ``source/`` holds the course's
    copy of each, which is never released and never replaces the student's."""
    from traitlets.config import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return list((cfg.Autograde.get("exclude_overwriting") or {}).get(assignment, []))


def write_solution_submissions(course: Path, assignment: str, edits: dict[str, dict]) -> None:
    """One submission per ``{student: edits}``, as a student would hand it in: the released
    notebooks with every answer cell filled from the solution and that student's ``edits``
    (``{grade_id: [(old, new), ...]}``, see :func:`solution_submission`) planted, each in the
    notebook that holds its cell, plus the release's other files (modules, data) and the
    files a student writes themselves (:func:`student_files`), as the course's copies."""
    release_dir = Path(course) / "release" / assignment
    release = sorted(release_dir.glob("*.ipynb"))
    sources = {p.name: p for p in assignment_notebooks(course, assignment)}
    extras = {p.name: p for p in release_dir.iterdir() if p.is_file() and p.suffix != ".ipynb"}
    extras.update({name: Path(course) / "source" / assignment / name
                   for name in student_files(course, assignment)})
    ids = {p.name: {c.metadata.get("nbgrader", {}).get("grade_id")
                    for c in solution_submission(p, sources[p.name]).cells} for p in release}
    for student, mine in edits.items():
        unknown = set(mine) - set().union(*ids.values())
        if unknown:
            raise ValueError(f"{student}: no answer cells {sorted(unknown)}")
        nbs = {p.name: solution_submission(p, sources[p.name],
                                           {k: v for k, v in mine.items() if k in ids[p.name]})
               for p in release}
        write_submission(course, assignment, student, {**nbs, **extras})


def gradebook_scores(course: Path, assignment: str) -> dict[str, dict]:
    """``{student: {"score", "max_score", "cells": {grade_id: (auto_score, max)}}}`` from the gradebook."""
    from nbgrader.api import Gradebook

    url = db_url(course)
    out: dict[str, dict] = {}
    with Gradebook(url) as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells[g.name] = (g.auto_score, g.max_score)
            out[sub.student_id] = {"score": sub.score, "max_score": sub.max_score,
                                   "auto_score": sub.code_score, "cells": cells}
    return out


def db_url(course: Path) -> str:
    """The course's gradebook URL, read from its nbgrader_config.py the way nbgrader reads it."""
    from traitlets.config import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    url = cfg.CourseDirectory.get("db_url")
    return url or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def load_json(path: Path):
    return json.loads(Path(path).read_text())
