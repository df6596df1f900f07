"""``autograder selfgrade <notebook>``: grade your own notebook, hidden tests included.

For self-study learners (docs/design.md, who uses it). The notebook is graded exactly as
the instructor's ``autograder grade`` would grade it (same nbgrader pipeline,
same hidden tests, taken from ``source/`` of this repository), in a temporary
private copy of the course, so the real gradebook, ``release/`` and your
notebook are never touched. It prints the score of each test cell and the
messages of the checks that failed (what was checked, expected vs got, the
likely cause), never the hidden test code.

    autograder selfgrade release/ps3/ps3.ipynb
    bin/course selfgrade release/ps3/ps3.ipynb
    autograder selfgrade my-copy.ipynb --assignment ps3
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .cli import register
from .i18n import _, notebook_language, using

STUDENT = "selfgrade"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellResult:
    grade_id: str
    notebook: str
    score: float | None
    max_score: float
    manual: bool = False
    messages: list[str] = field(default_factory=list)


@dataclass
class SelfGrade:
    assignment: str
    ok: bool
    reason: str = ""
    cells: list[CellResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.score or 0 for c in self.cells if not c.manual)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells if not c.manual)

    @property
    def manual_points(self) -> float:
        return sum(c.max_score for c in self.cells if c.manual)


def guess_assignment(path: Path, root: Path) -> str:
    """The assignment a notebook belongs to: its folder's name, else its own name, if in source/."""
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    for name in (folder.name, path.stem):
        if (root / "source" / name).is_dir():
            return name
    known = sorted(p.name for p in (root / "source").iterdir() if p.is_dir()) \
        if (root / "source").is_dir() else []
    raise FileNotFoundError(f"cannot tell which assignment {path.name} is: pass --assignment "
                            f"(one of: {', '.join(known) or 'none found in source/'})")


def selfgrade(notebook: str | os.PathLike, *, assignment: str | None = None,
              root: Path | None = None, keep: Path | None = None,
              daemon: str = "off") -> SelfGrade:
    """Grade ``notebook`` (a file, or a folder of the assignment's notebooks) as the instructor would.

    ``daemon``: ``"use"`` grades in the course's grading daemon if one runs, ``"auto"`` starts
    one if none does (:mod:`autograder.daemon`), ``"off"`` grades in this process.
    """
    import nbformat

    from . import grading
    from .course import copy_course, repo_root

    root = Path(root or repo_root())
    src = Path(notebook).resolve()
    if not src.exists():
        raise FileNotFoundError(f"no such file: {notebook}")
    assignment = assignment or guess_assignment(src, root)
    expected = sorted(p.name for p in (root / "source" / assignment).glob("*.ipynb"))
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="autograder-selfgrade-"))
    try:
        course = copy_course(tmp / "course", assignment, root=root)
        sub = course / "submitted" / STUDENT / assignment
        sub.mkdir(parents=True)
        if src.is_dir():
            for p in src.iterdir():
                if p.is_file():
                    shutil.copy2(p, sub / p.name)
        else:
            # a renamed copy is still that notebook
            shutil.copy2(src, sub / (expected[0] if len(expected) == 1 else src.name))
            from .course import student_files

            for name in student_files(course, assignment):  # ps5: your minigrad.py beside it
                if (src.parent / name).is_file():
                    shutil.copy2(src.parent / name, sub / name)
        run = grading.grade_here_or_in_daemon(
            course, assignment, daemon=daemon, daemon_course=root, jobs=1, feedback=False,
            report=False, progress=False, stream=open(os.devnull, "w"))
        res = run.results[0]
        out = SelfGrade(assignment, res.ok, res.reason)
        out.notes = [_incident_line(i) for i in res.incidents]
        if not res.ok:
            return out
        from nbgrader.api import Gradebook

        from .course import db_url

        scores = {}
        with Gradebook(db_url(course)) as gb:
            for snb in gb.find_submission(assignment, STUDENT).notebooks:
                for g in snb.grades:
                    scores[(snb.name, g.name)] = (g.auto_score, g.max_score,
                                                  g.auto_score is None)
        for name in expected:
            path = course / "autograded" / STUDENT / assignment / name
            if not path.exists():
                for (nbn, gid), (_sc, mx, manual) in sorted(scores.items()):
                    if nbn == name[:-6]:
                        out.cells.append(CellResult(gid, nbn, 0.0 if not manual else None, mx,
                                                    manual, [_("not submitted")]))
                continue
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader") or {}
                if not meta.get("grade"):
                    continue
                gid = meta.get("grade_id")
                sc, mx, manual = scores.get((name[:-6], gid), (None, meta.get("points", 0), True))
                msgs = []
                for o in cell.get("outputs", []):
                    if o.get("output_type") == "error":
                        ev = ANSI_RE.sub("", o.get("evalue", "")).rstrip()
                        msgs.append(f"{o.get('ename')}: {ev}" if ev else o.get("ename", "error"))
                    elif o.get("output_type") == "stream" and o.get("name") == "stderr" \
                            and sc is not None and sc < mx and not msgs:
                        msgs.append(_("printed on stderr (nbgrader counts that as a failure): "
                                      "{text}").format(text=o.get("text", "").strip()[:300]))
                out.cells.append(CellResult(gid, name[:-6], sc, mx, manual, msgs))
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _incident_line(incident: dict) -> str:
    """"ps3, cell ps3-mul-test: detail", "ps3: detail" or "detail" (where it belongs, if known)."""
    from .grading import incident_where

    where = incident_where(incident)
    return f"{where}: {incident.get('detail')}" if where else str(incident.get("detail"))


def format_result(r: SelfGrade, file: str) -> str:
    """The summary of the feedback page (autograder.feedback), then each failure's whole message."""
    from . import feedback

    L = []
    if not r.ok:
        L.append(_("{file}: could not be graded: {reason}").format(file=file, reason=r.reason))
        L += ["  " + _("note: {note}").format(note=n) for n in r.notes]
        return "\n".join(L)
    notebooks = list(dict.fromkeys(c.notebook for c in r.cells))
    summaries = [feedback.summary_from_messages(name, [c for c in r.cells if c.notebook == name],
                                                feedback.assignment_notebook(r.assignment, name))
                 for name in notebooks]
    tests = [row for s in summaries for row in s.rows if not row.manual]
    failed = [row for row in tests if not row.passed]
    L.append(_("{file} ({assignment}): {score:g} / {max_score:g} autograded points").format(
        file=file, assignment=r.assignment, score=r.score, max_score=r.max_score)
             + (_(" (+ {points:g} for written answers, graded by hand)").format(
                 points=r.manual_points) if r.manual_points else ""))
    L.append("  " + _("{failed} of {tests} test cells did not pass").format(
        failed=len(failed), tests=len(tests)) if failed else
             "  " + _("all {tests} test cells passed").format(tests=len(tests)))
    for s in summaries:
        if len(summaries) > 1:
            L.append(f"  {s.notebook}:")
        L += feedback.summary_text(s, indent="    " if len(summaries) > 1 else "  ")
    details = [c for c in r.cells if not c.manual and (c.score or 0) < c.max_score and c.messages]
    if details:
        L.append("")
        L.append(_("Messages of the checks that failed (what was checked, expected vs got, "
                   "likely cause):"))
    for c in details:
        L.append(f"  [{c.grade_id}]")
        for m in c.messages:
            L.append(textwrap.indent(m, " " * 6))
    for n in r.notes:
        L.append("  " + _("note: {note}").format(note=n))
    return "\n".join(L)


def _add_args(p) -> None:
    p.add_argument("notebook", help="your notebook (or a folder holding the assignment's notebooks)")
    p.add_argument("--assignment", "-a", default=None,
                   help="which assignment it is (default: from its folder or file name)")
    p.add_argument("--quick", action="store_true",
                   help="visible tests only, as JupyterLab's Validate button checks them (a warm "
                        "process, seconds; no hidden tests, no score)")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="keep the private grading copy in DIR (to look at the graded notebook)")
    from .grading import add_daemon_args

    add_daemon_args(p)


def _run(args) -> int:
    if args.quick:  # the Validate button's path (autograder/validate.py)
        from .validate import validate_files

        if not os.path.isfile(args.notebook):
            print(f"autograder selfgrade: no such file: {args.notebook}", file=sys.stderr)
            return 2
        return validate_files([args.notebook])
    try:
        from .daemon import mode

        r = selfgrade(args.notebook, assignment=args.assignment,
                      keep=Path(args.keep) if args.keep else None, daemon=mode(args.daemon))
    except FileNotFoundError as e:
        print(f"autograder selfgrade: {e}", file=sys.stderr)
        return 2
    with using(notebook_language(args.notebook)):  # in the language of the learner's notebook
        print(format_result(r, args.notebook))
    return 0 if r.ok else 1


register("selfgrade", "grade your own notebook locally with the hidden tests (prints scores "
         "and messages, never the hidden test code)", _add_args, _run)
