"""Load through nbgrader's exchange on a real JupyterHub: many students submit ps1 at once.

A local hub (deploy/jupyterhub, the same set-up as ``bin/course hub``) with N student
accounts and one instructor, all local unix users. Every student, as their own account
and with the environment a terminal in their hub server has (their hub API token,
which nbgrader's JupyterHubAuthPlugin uses), runs nbgrader's own commands:

1. the instructor releases ps1 (``nbgrader release_assignment``);
2. all students fetch it at once (``nbgrader fetch_assignment``);
3. all students submit at once (``nbgrader submit``): a first version with a bug;
4. the instructor sets the due date (``nbgrader db assignment add --duedate``), with
   late work scored zero (``LateSubmissionPlugin.penalty_method = "zero"``);
5. some students (every other one) submit again, after the due date: the correct version;
6. the instructor collects (``nbgrader collect``) and grades (``bin/course grade ps1``).

Then it checks: every submission is in the exchange (nothing lost), each student's
latest one was collected and graded (the resubmitters' correct version, the others'
buggy one), the collected and graded timestamps are the submissions' own, and exactly
the late ones carry the late penalty. It prints the times of each step.

    .venv/bin/python bench/bench_hub_load.py -n 30        # as root; ~3-5 min on 2 cores

tests/test_hub.py runs :func:`run_load` on 5 students (correctness, not time).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "jupyterhub"))
sys.path.insert(0, str(ROOT))

import hub as H  # noqa: E402

from autograder import course as C  # noqa: E402

A = "ps1"
# one of ps1's bug fixtures (tests/bugs_ps1.py), so the bench follows the solution's text
sys.path.insert(0, str(ROOT / "bench"))
from bench_grading import load_bugs  # noqa: E402

BUG = dict(load_bugs(A))["mean-square-x-over-2"]
BUGGY_CELL = "ps1-grad-mean-square-test"  # the test cell that the bug fails


def _parse_stamp(s: str) -> datetime:
    return datetime.strptime(s.strip().replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=timezone.utc)


def _concurrently(fn, items) -> tuple[float, list[float]]:
    """Run ``fn(item)`` for all items at once; (wall seconds, each call's seconds)."""
    def timed(item):
        t = time.monotonic()
        fn(item)
        return time.monotonic() - t
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        each = list(pool.map(timed, items))
    return time.monotonic() - t0, each


def _answers(course: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    release = course / "release" / A / f"{A}.ipynb"
    source = course / "source" / A / f"{A}.ipynb"
    return (C.solution_submission(release, source),
            C.solution_submission(release, source, edits=BUG))


def _put_notebook(student: H.Account, nb) -> None:
    """The student's edited notebook, as the student's own file."""
    target = student.home / H.COURSE / A / f"{A}.ipynb"
    nbformat.write(nb, target)
    shutil.chown(target, student.name, student.name)


def _inbound(hub: H.LocalHub) -> dict[str, list[str]]:
    """``{student: [timestamps of their submissions in the exchange]}`` (read as root)."""
    out: dict[str, list[str]] = {}
    for d in (hub.exchange / H.COURSE / "inbound").iterdir():
        student, assignment, stamp = d.name.split("+")[:3]
        if assignment == A:
            out.setdefault(student, []).append(stamp)
    return out


@contextlib.contextmanager
def _course_config_env(hub: H.LocalHub):
    """Read the instructor's course config here (as root) with the hub's exchange.

    The course's nbgrader_config.py makes the exchange directory it is given
    (AUTOGRADER_EXCHANGE): with the hub's, reading it creates nothing in the course.
    """
    before = os.environ.get("AUTOGRADER_EXCHANGE")
    os.environ["AUTOGRADER_EXCHANGE"] = str(hub.exchange)
    try:
        yield
    finally:
        if before is None:
            del os.environ["AUTOGRADER_EXCHANGE"]
        else:
            os.environ["AUTOGRADER_EXCHANGE"] = before


def gradebook_url(hub: H.LocalHub) -> str:
    with _course_config_env(hub):
        return C.db_url(hub.course)


def gradebook_scores(hub: H.LocalHub) -> dict:
    """``autograder.course.gradebook_scores`` of the instructor's course."""
    with _course_config_env(hub):
        return C.gradebook_scores(hub.course, A)


def run_load(hub: H.LocalHub, students: list[H.Account], log=print) -> dict:
    """The exchange round trip of the module docstring for ``students``; returns the figures.

    Raises AssertionError with the details when something is lost, stale or mis-scored.
    """
    inst = hub.instructor
    course = hub.course
    times: dict[str, object] = {}
    t = time.monotonic()
    tokens = hub.tokens([inst, *students])
    times["hub tokens"] = time.monotonic() - t

    def run(acct, *cmd, cwd=None):
        return hub.as_user(acct, *cmd, cwd=cwd,
                           extra=hub.role_environ(acct, tokens[acct.name]))

    # late work scores zero in this run (the course's own policy is nbgrader's default)
    cfg = course / "nbgrader_config.py"
    if "penalty_method" not in cfg.read_text():
        with open(cfg, "a") as f:
            f.write('\nc.LateSubmissionPlugin.penalty_method = "zero"  # bench_hub_load\n')

    t = time.monotonic()
    run(inst, "nbgrader", "release_assignment", A, "--force", cwd=course)
    times["release"] = time.monotonic() - t

    times["fetch"] = _concurrently(lambda s: run(s, "nbgrader", "fetch_assignment", A), students)
    correct, buggy = _answers(course)
    for s in students:
        _put_notebook(s, buggy)
    before = datetime.now(timezone.utc)
    times["submit (first)"] = _concurrently(lambda s: run(s, "nbgrader", "submit", A), students)

    # the due date: after every first submission, before any second one
    first = _inbound(hub)
    last_first = max(_parse_stamp(x) for v in first.values() for x in v)
    due = max(last_first, before) + timedelta(milliseconds=500)
    run(inst, "nbgrader", "db", "assignment", "add", A,
        f"--duedate={due.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC", cwd=course)
    while datetime.now(timezone.utc) <= due + timedelta(milliseconds=100):
        time.sleep(0.1)

    late = students[::2]
    for s in late:
        _put_notebook(s, correct)
    times["submit (late)"] = _concurrently(lambda s: run(s, "nbgrader", "submit", A), late)

    # nothing lost: every submission of every student is in the exchange
    inbound = _inbound(hub)
    for s in students:
        want = 2 if s in late else 1
        got = inbound.get(s.name, [])
        assert len(got) == want, f"{s.name}: {len(got)} submissions in the exchange, not {want}"

    t = time.monotonic()
    run(inst, "nbgrader", "collect", A, cwd=course)
    times["collect"] = time.monotonic() - t
    t = time.monotonic()
    run(inst, "bin/course", "grade", A, cwd=course)
    times["grade"] = time.monotonic() - t

    # each student's latest submission collected, timestamp and all
    latest = {s.name: max(inbound[s.name], key=_parse_stamp) for s in students}
    for s in students:
        stamp = (course / "submitted" / s.name / A / "timestamp.txt").read_text().strip()
        assert _parse_stamp(stamp) == _parse_stamp(latest[s.name]), (s.name, stamp, latest[s.name])

    # ... and graded: scores, timestamps and late penalties from the gradebook
    from nbgrader.api import Gradebook

    full = None
    rows = {}
    with Gradebook(gradebook_url(hub)) as gb:
        for s in students:
            sub = gb.find_submission(A, s.name)
            cells = {g.name: (g.auto_score, g.max_score) for nb in sub.notebooks for g in nb.grades
                     if g.auto_score is not None}
            rows[s.name] = dict(timestamp=sub.timestamp, duedate=sub.duedate,
                                seconds_late=sub.total_seconds_late, penalty=sub.late_submission_penalty,
                                raw=sum(v[0] for v in cells.values()), cells=cells,
                                max=sum(v[1] for v in cells.values()))
            full = rows[s.name]["max"]
    for s in students:
        r = rows[s.name]
        stamp = _parse_stamp(latest[s.name])
        graded_at = r["timestamp"].replace(tzinfo=timezone.utc)
        assert graded_at == stamp, (s.name, graded_at, stamp)
        assert r["duedate"].replace(tzinfo=timezone.utc) == due, (s.name, r["duedate"], due)
        if s in late:
            # the correct version, late: full raw marks, all taken off as the penalty
            assert r["seconds_late"] > 0, (s.name, r)
            assert r["raw"] == full, (s.name, r["cells"])
            assert r["penalty"] == r["raw"], (s.name, r)
        else:
            # the first (buggy) version, on time: the bug's test cell fails, no penalty
            assert r["seconds_late"] == 0, (s.name, r)
            assert r["cells"][BUGGY_CELL][0] == 0, (s.name, r["cells"])
            assert r["raw"] == full - r["cells"][BUGGY_CELL][1], (s.name, r["cells"])
            assert r["penalty"] == 0, (s.name, r)

    # the exported grades agree (reports/ps1/grades.csv, written by grade)
    with open(course / "reports" / A / "grades.csv") as f:
        exported = {row["student_id"]: row for row in csv.DictReader(f)}
    for s in students:
        r, e = rows[s.name], exported[s.name]
        assert float(e["late_submission_penalty"]) == r["penalty"], (s.name, e)
        assert float(e["score"]) == r["raw"] - r["penalty"], (s.name, e)

    return {"students": len(students), "late": len(late), "times": times, "rows": rows}


def _fmt(v) -> str:
    if isinstance(v, tuple):
        wall, each = v
        return (f"{wall:7.1f} s   each: p50 {statistics.median(each):5.1f} s, "
                f"max {max(each):5.1f} s")
    return f"{v:7.1f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--students", type=int, default=30)
    ap.add_argument("--prefix", default="", help="account prefix (default: a random one)")
    args = ap.parse_args(argv)
    trouble = H.problems()
    if trouble:
        print("cannot run:\n  " + "\n  ".join(trouble), file=sys.stderr)
        return 1
    prefix = args.prefix or f"l{H.secrets.token_hex(2)}-"
    inst, students = H.make_accounts(prefix, [f"s{i:03d}" for i in range(1, args.students + 1)],
                                     instructor="prof")
    base = H.workdir("load-")
    hub = H.LocalHub(inst, students, state=base / "hub", exchange=base / "exchange")
    try:
        t = time.monotonic()
        hub.prepare((A,))
        prep = time.monotonic() - t
        t = time.monotonic()
        hub.start(base / "jupyterhub.log")
        start = time.monotonic() - t
        out = run_load(hub, students)
    finally:
        hub.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nJupyterHub exchange load: {out['students']} students submit {A} at once "
          f"({out['late']} again after the due date); all checks passed")
    print(f"  {'set-up (accounts, course)':<28}{prep:7.1f} s")
    print(f"  {'hub start':<28}{start:7.1f} s")
    for k, v in out["times"].items():
        print(f"  {k:<28}{_fmt(v)}")
    n_sub = out["students"] + out["late"]
    print(f"  submissions in the exchange: {n_sub}, collected: {out['students']} (the latest of "
          f"each), graded: {out['students']}, late penalties: {out['late']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
