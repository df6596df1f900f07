"""The instructor's report on one assignment: ``reports/<assignment>/``.

Written by ``autograder grade`` after every run, or alone by
``autograder report <assignment>`` (from the gradebook and the autograded
notebooks, without regrading):

- ``histogram.png``: the distribution of total scores;
- ``report.md``: scores at a glance, per-test pass rates (which test cells most
  students failed), the checks that failed most (the first line of the
  course's check messages), the diagnostic hints most often given (the
  ``likely cause:`` lines of ``autograder.checks``), per student the test cells
  that did not pass with their likely cause (the summary of the student's
  feedback page, :mod:`autograder.feedback`), submissions that failed to
  grade and cells that timed out or crashed;
- ``report.json``: the same numbers for scripts.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .feedback import cause_re, summarize

# a check message's "likely cause:" lines, in any language the checks speak (autograder.i18n);
# the report itself is for instructors and stays English
HINT_RE = cause_re()
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class TestStats:
    grade_id: str
    notebook: str
    points: float
    full: int = 0
    partial: int = 0
    zero: int = 0
    ungraded: int = 0
    messages: Counter = field(default_factory=Counter)

    @property
    def graded(self) -> int:
        return self.full + self.partial + self.zero

    @property
    def pass_rate(self) -> float:
        return self.full / self.graded if self.graded else 0.0


def hint_key(hint: str) -> str:
    """A hint's short name: its text up to the first colon ("sign flip", "exactly 2x torch's")."""
    key = re.split(r"[:：]", hint, maxsplit=1)[0].strip()
    # "off by a constant factor 1.5" and "... 0.5" are one kind of mistake
    return re.sub(r"\s*=?\s*[-+]?\d[\d.eE+-]*$", "", key) or key


def check_key(evalue: str) -> str:
    """The failing check's name: the first line of its message, seeds folded together."""
    first = ANSI_RE.sub("", evalue).strip().splitlines()[0] if evalue.strip() else ""
    first = re.sub(r"\(seed \d+\)", "(seed …)", first)
    return first[:160]


def collect(course: Path, assignment: str) -> dict:
    """Scores from the gradebook, messages and hints from the autograded notebooks."""
    from nbgrader.api import Gradebook

    from .course import db_url

    course = Path(course)
    scores: dict[str, float] = {}
    max_score = 0.0
    tests: dict[str, TestStats] = {}
    manual_pending = 0
    cell_scores: dict[str, dict[str, dict]] = {}  # student -> notebook -> grade_id -> (score, max)
    with Gradebook(db_url(course)) as gb:
        a = gb.find_assignment(assignment)
        max_score = a.max_score
        for nb in a.notebooks:
            for gc in nb.grade_cells:
                if gc.cell_type == "code" and not _is_solution(nb, gc.name):
                    tests[gc.name] = TestStats(gc.name, nb.name, gc.max_score)
        for sub in gb.assignment_submissions(assignment):
            scores[sub.student_id] = sub.score
            for snb in sub.notebooks:
                for g in snb.grades:
                    cell_scores.setdefault(sub.student_id, {}).setdefault(snb.name, {})[g.name] = \
                        (g.score, g.max_score)
                    if g.needs_manual_grade:
                        manual_pending += 1
                    t = tests.get(g.name)
                    if t is None:
                        continue
                    s = g.score
                    if g.auto_score is None and g.manual_score is None:
                        t.ungraded += 1
                    elif s >= g.max_score:
                        t.full += 1
                    elif s > 0:
                        t.partial += 1
                    else:
                        t.zero += 1
    hints: Counter = Counter()
    hint_examples: dict[str, str] = {}
    checks: Counter = Counter()
    students: dict[str, list] = {}  # the feedback page's summary rows that did not pass
    for student in scores:
        d = course / "autograded" / student / assignment
        students[student] = []
        for path in sorted(d.glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:
                continue
            own = cell_scores.get(student, {}).get(path.stem, {})
            students[student] += summarize(nb, path.stem, own).failed
            for cell in nb.cells:
                gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
                if cell.cell_type != "code" or gid not in tests:
                    continue
                seen_hints = set()
                for out in cell.get("outputs", []):
                    if out.get("output_type") != "error":
                        continue
                    evalue = out.get("evalue", "")
                    key = check_key(evalue) or out.get("ename", "error")
                    if out.get("ename") not in ("AssertionError", "GradientMismatch"):
                        key = f"{out.get('ename')}: {key}" if key else out.get("ename")
                    checks[key] += 1
                    tests[gid].messages[key] += 1
                    for h in HINT_RE.findall(ANSI_RE.sub("", evalue)):
                        k = hint_key(h)
                        if k not in seen_hints:
                            seen_hints.add(k)
                            hints[k] += 1
                            hint_examples.setdefault(k, h.strip())
    return {"scores": scores, "max_score": max_score, "tests": tests, "hints": hints,
            "hint_examples": hint_examples, "checks": checks, "manual_pending": manual_pending,
            "students": students}


def _is_solution(nb, name: str) -> bool:
    for sc in getattr(nb, "solution_cells", []):
        if sc.name == name:
            return True
    return False


def histogram(scores: list[float], max_score: float, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = min(20, max(5, int(top) + 1))
    ax.hist(scores, bins=bins, range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title(title)
    if scores:
        mean = statistics.fmean(scores)
        ax.axvline(mean, color="#dd8452", linestyle="--", label=f"mean {mean:.2f}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _slowest_cells(run, top: int = 8) -> list[tuple[str, float, float]]:
    """``[(cell, median seconds, max seconds)]`` of the slowest cells over a run's submissions."""
    per: dict[str, list[float]] = {}
    totals: list[float] = []
    for r in (run.results if run is not None else []):
        if r.cell_seconds:
            totals.append(sum(sec for _, _, sec in r.cell_seconds))
        for nb, cell, sec in r.cell_seconds:
            per.setdefault(f"{nb} {cell}" if nb else cell, []).append(sec)
    if not per:
        return []
    rows = sorted(((k, statistics.median(v), max(v)) for k, v in per.items()),
                  key=lambda t: -t[1])[:top]
    return [("all cells of a submission", statistics.median(totals), max(totals))] + rows


#: what ends a line for a markdown renderer (or for str.splitlines), and other control characters
_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def _md_escape(s: str) -> str:
    """Text a student can influence (a check's message quotes their exception) as the plain
    text of one table cell or list item: on one line, with no HTML and no table syntax, so
    that it cannot end the table, open an HTML comment, or add rows of its own."""
    s = _CONTROLS.sub("", _BREAKS.sub(" ", s))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|")


def write_report(course: Path, assignment: str, run=None) -> Path:
    """Write ``reports/<assignment>/{report.md,report.json,histogram.png}``; return report.md."""
    course = Path(course)
    out = course / "reports" / assignment
    out.mkdir(parents=True, exist_ok=True)
    data = collect(course, assignment)
    scores = data["scores"]
    failed = {r.student: r.reason for r in run.failures} if run is not None else {}
    graded_scores = [v for k, v in scores.items() if k not in failed]
    histogram(graded_scores, data["max_score"], out / "histogram.png",
              f"{assignment}: {len(graded_scores)} submissions")
    tests = sorted(data["tests"].values(), key=lambda t: (t.pass_rate, t.grade_id))
    L = [f"# {assignment}: grading report", ""]
    if graded_scores:
        L.append(f"- submissions graded: **{len(graded_scores)}**"
                 + (f", failed to grade: **{len(failed)}**" if failed else ""))
        L.append(f"- score (out of {data['max_score']:g}): mean {statistics.fmean(graded_scores):.2f}, "
                 f"median {statistics.median(graded_scores):g}, "
                 f"min {min(graded_scores):g}, max {max(graded_scores):g}; "
                 f"full marks: {sum(s >= data['max_score'] for s in graded_scores)}")
    else:
        L.append("- no graded submissions")
    if data["manual_pending"]:
        L.append(f"- cells waiting for manual grading: {data['manual_pending']} "
                 f"(nbgrader formgrader)")
    if run is not None:
        nbs = max(run.notebooks, 1)
        L.append(f"- autograding: {run.notebooks} notebooks in {run.autograde_seconds:.1f} s "
                 f"on {run.jobs} workers ({run.autograde_seconds / nbs:.3f} s per notebook)")
        from .sandbox import sandbox_status, unsandboxed_warning  # say it loudly

        st = sandbox_status()
        L.append(f"- sandbox: {st.reason}" if st.ok else f"- **{unsandboxed_warning(st.reason)}**")
    L += ["", "![score histogram](histogram.png)", "", "## Tests, hardest first", "",
          "| test cell | notebook | points | full | partial | zero | pass rate | most common failure |",
          "|---|---|---:|---:|---:|---:|---:|---|"]
    for t in tests:
        common = t.messages.most_common(1)
        msg = f"{_md_escape(common[0][0])} ({common[0][1]})" if common else ""
        L.append(f"| {t.grade_id} | {t.notebook} | {t.points:g} | {t.full} | {t.partial} | "
                 f"{t.zero} | {100 * t.pass_rate:.0f}% | {msg} |")
    L += ["", "## Checks that failed most", ""]
    if data["checks"]:
        L += ["| check (first line of its message) | submissions |", "|---|---:|"]
        for k, n in data["checks"].most_common(15):
            L.append(f"| {_md_escape(k)} | {n} |")
    else:
        L.append("No check failed.")
    L += ["", "## Diagnostic hints most often given", ""]
    if data["hints"]:
        L += ["| likely cause | test cells | example |", "|---|---:|---|"]
        for k, n in data["hints"].most_common(15):
            L.append(f"| {_md_escape(k)} | {n} | {_md_escape(data['hint_examples'][k][:200])} |")
    else:
        L.append("No diagnostic hint was given.")
    L += ["", "## Per student", "",
          "What each student's feedback page lists first: the test cells that did not pass, "
          "with the likely cause (else the failing check's message).", ""]
    per_student = [(st, sc) for st, sc in sorted(scores.items()) if st not in failed]
    if per_student:
        L += ["| student | score | did not pass |", "|---|---:|---|"]
        for st, sc in per_student:
            rows = data["students"].get(st, [])
            what = "<br>".join(_md_escape(
                f"{r.part}{' · ' + r.label if r.label else ''} ({r.score or 0:g}/{r.points:g}): "
                f"{(re.split('[;；]', r.cause)[0] if r.cause else r.message)[:160]}")
                for r in rows)
            L.append(f"| {_md_escape(st)} | {sc:g} | {what or 'everything passed'} |")
    else:
        L.append("No graded submissions.")
    if failed:
        L += ["", "## Submissions that could not be graded", "",
              "Their files in submitted/ are untouched; fix or ask the student, then re-run.", ""]
        for s, why in sorted(failed.items()):
            L.append(f"- `{s}`: {_md_escape(why)}")
    notes = [(r.student, i) for r in (run.results if run else []) for i in r.incidents]
    if notes:
        L += ["", "## Incidents: timeouts, crashes, integrity, edited cells, bad files", ""]
        from .grading import incident_where

        for s, i in notes:
            where = incident_where(i, code=lambda c: f"`{c}`")
            L.append(f"- `{s}`{f' {where}' if where else ''}: {_md_escape(str(i.get('detail')))}")
    slow = _slowest_cells(run)
    if slow:
        L += ["", "## Where grading time goes", "",
              "Seconds per submission, in the notebook's own process (the tests included):", "",
              "| cell | median s | max s |", "|---|---:|---:|"]
        for name, med, mx in slow:
            L.append(f"| {_md_escape(name)} | {med:.2f} | {mx:.2f} |")
    L.append("")
    md = out / "report.md"
    md.write_text("\n".join(L))
    summary = {
        "assignment": assignment, "max_score": data["max_score"], "scores": scores,
        "failed": failed,
        "tests": [{"grade_id": t.grade_id, "notebook": t.notebook, "points": t.points,
                   "full": t.full, "partial": t.partial, "zero": t.zero,
                   "pass_rate": t.pass_rate, "messages": dict(t.messages)} for t in tests],
        "checks": dict(data["checks"]), "hints": dict(data["hints"]),
        "students": {st: [{"grade_id": r.grade_id, "title": r.title, "score": r.score,
                           "points": r.points, "message": r.message, "likely_cause": r.cause,
                           "hidden_test_failed": r.hidden_failed} for r in rows]
                     for st, rows in data["students"].items()},
        "incidents": [{"student": s, **i} for s, i in notes],
    }
    (out / "report.json").write_text(json.dumps(summary, indent=1, default=str))
    return md


def _add_args(p) -> None:
    p.add_argument("assignment", help="assignment name, e.g. ps3")
    p.add_argument("--course", default=None, help="course directory")


def _run(args) -> int:
    from .course import repo_root

    course = Path(args.course).resolve() if args.course else repo_root()
    md = write_report(course, args.assignment)
    print(f"report: {md}")
    return 0


def _register() -> None:
    from .cli import register

    register("report", "write the instructor report of an assignment from the gradebook "
             "(reports/<assignment>/)", _add_args, _run)


_register()
