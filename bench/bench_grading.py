"""Stock ``nbgrader autograde`` against ``autograder grade``, on the same submissions, in one run.

    .venv/bin/python bench/bench_grading.py                 # ps3 if it exists, N=40
    .venv/bin/python bench/bench_grading.py -n 10 --assignment synth
    .venv/bin/python bench/bench_grading.py --feedback      # also time feedback both ways

Builds N synthetic submissions in a private copy of the course (a third the
reference solution as a student would submit it, the rest one-bug variants:
the fixtures of tests/bugs_<assignment>.py, or planted edits for the synthetic
assignment of bench/synthetic.py), grades them with stock ``nbgrader
autograde`` (one command for the batch, as an instructor runs it) and with
``autograder grade --no-feedback --no-report --no-daemon`` in an identical copy, checks
that every cell's score is identical, and prints seconds per notebook for both
and the ratio: for the whole commands (the headline), and once started (from
the first graded notebook to the last, by the autograded files' write times),
which separates the fixed start-up cost from the per-notebook cost.

Then the time to the first graded notebook of a re-grade of one student: cold (no
grading daemon), with ``--daemon`` starting one, and with the daemon warm (median of
``--n-warm`` runs); and the whole batch once more with the warm daemon
(:mod:`autograder.daemon`; stopped at the end). The copies are kept under bench/out/
(git-ignored) for a look.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402

from autograder import course as C  # noqa: E402


def load_bugs(assignment: str) -> list[tuple[str, dict]]:
    """``[(name, edits)]`` from tests/bugs_<assignment>.py (their ``Bug`` objects), if present."""
    path = ROOT / "tests" / f"bugs_{assignment}.py"
    if not path.exists():
        return []
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location(f"bugs_{assignment}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [(b.name, b.edits) for b in mod.BUGS]


def build_course(dest: Path, assignment: str, n: int) -> tuple[Path, list[str]]:
    """A private course with ``assignment`` generated and ``n`` submissions; returns (course, students)."""
    if dest.exists():
        shutil.rmtree(dest)
    if assignment == synthetic.NAME:
        course = C.copy_course(dest, root=ROOT)
        synthetic.write_assignment(course)
        bugs = list(synthetic.BUGS.items())
    else:
        course = C.copy_course(dest, assignment, root=ROOT)
        bugs = load_bugs(assignment)
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    submissions = {}
    for i in range(n):
        if i % 3 == 0 or not bugs:
            name, edits = "ok", {}
        else:
            name, edits = bugs[(i - 1 - i // 3) % len(bugs)]
        submissions[f"s{i:03d}-{name}"] = edits
    C.write_solution_submissions(course, assignment, submissions)
    return course, list(submissions)


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    full_env = dict(os.environ, **(env or {}))
    full_env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), full_env.get("PATH", "")])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=full_env)
    return time.perf_counter() - t0, proc


def finish_times(course: Path, assignment: str, started: float) -> list[float]:
    """Seconds from ``started`` (epoch) to each autograded notebook's last write, sorted."""
    return sorted(p.stat().st_mtime - started
                  for p in (course / "autograded").glob(f"*/{assignment}/*.ipynb"))


def steady(times: list[float]) -> tuple[float, float]:
    """(seconds until the first notebook was graded, seconds per notebook after it)."""
    if len(times) < 2:
        return (times[0] if times else float("nan")), float("nan")
    return times[0], (times[-1] - times[0]) / (len(times) - 1)


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def first_graded(cmd: list[str], course: Path, assignment: str, student: str,
                 env: dict | None = None) -> float:
    """Seconds from starting ``cmd`` to ``student``'s first autograded notebook being written."""
    for p in (course / "autograded" / student / assignment).glob("*.ipynb"):
        p.unlink()
    t0 = time.time()
    _s, proc = timed(cmd, course, env)
    if proc.returncode != 0:
        print(f"{' '.join(cmd[3:])} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    times = sorted(p.stat().st_mtime - t0
                   for p in (course / "autograded" / student / assignment).glob("*.ipynb"))
    return times[0] if times else float("nan")


def latency(cli: list[str], course: Path, assignment: str, student: str, n_warm: int,
            n_cold: int = 3) -> dict:
    """Time to the first graded notebook of a one-student re-grade: cold (no daemon: ``n_cold``
    times, each beside a cold run whose workers judge in their own processes, the way before
    autograder.judge.apart), with ``--daemon`` starting the grading daemon, and ``n_warm`` times
    with it warm; then the whole batch once more with the warm daemon. The daemon is stopped
    at the end."""
    one = cli + ["grade", assignment, "--student", student, "--no-feedback", "--no-report",
                 "--course", str(course)]
    out: dict = {"cold": [], "cold_in_worker": []}
    for _ in range(n_cold):
        out["cold"].append(first_graded(one + ["--no-daemon"], course, assignment, student))
        out["cold_in_worker"].append(first_graded(one + ["--no-daemon"], course, assignment,
                                                  student, env={"AUTOGRADER_JUDGE_APART": "0"}))
    try:
        out["start"] = [first_graded(one + ["--daemon"], course, assignment, student)]
        out["warm"] = [first_graded(one, course, assignment, student) for _ in range(n_warm)]
        t0 = time.perf_counter()
        _s, proc = timed(cli + ["grade", assignment, "--no-feedback", "--no-report",
                                "--course", str(course)], course)
        out["batch"] = time.perf_counter() - t0 if proc.returncode == 0 else None
    finally:
        timed(cli + ["daemon", "stop", "--course", str(course)], course)
    return out


def compare(a: dict, b: dict) -> list[str]:
    diffs = []
    for student in sorted(set(a) | set(b)):
        ca = a.get(student, {}).get("cells")
        cb = b.get(student, {}).get("cells")
        if ca != cb:
            diffs.append(f"{student}: stock {ca} vs autograder {cb}")
    return diffs


def saved_rows(course: Path, assignment: str) -> dict:
    """Every row autograding saves besides the score: ``{student: {cell: (needs_manual_grade,
    manual_score)}}`` for grades and ``{student: {cell: auto_comment}}`` for comments."""
    from nbgrader.api import Gradebook

    out: dict = {}
    with Gradebook(C.db_url(course)) as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                row = out.setdefault(sub.student_id, {"grades": {}, "comments": {}})
                for g in nb.grades:
                    row["grades"][g.name] = (g.needs_manual_grade, g.manual_score)
                for c in nb.comments:
                    row["comments"][c.name] = c.auto_comment
    return out


def compare_rows(a: dict, b: dict) -> list[str]:
    return [f"{student}: stock {a.get(student)} vs autograder {b.get(student)}"
            for student in sorted(set(a) | set(b)) if a.get(student) != b.get(student)]


def main(argv: list[str] | None = None) -> int:
    default = "ps3" if any((ROOT / "source" / "ps3").glob("*.ipynb")) else synthetic.NAME
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assignment", "-a", default=default,
                    help=f"assignment in source/, or '{synthetic.NAME}' (default: {default})")
    ap.add_argument("-n", type=int, default=40, help="number of submissions (default 40)")
    ap.add_argument("--jobs", "-j", type=int, default=0, help="autograder workers (default: cores)")
    ap.add_argument("--feedback", action="store_true",
                    help="also time nbgrader generate_feedback against autograder's feedback")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"), help="working directory")
    ap.add_argument("--n-warm", type=int, default=3,
                    help="re-grades of one student timed with the warm daemon (default 3)")
    ap.add_argument("--n-cold", type=int, default=3,
                    help="cold re-grades of one student timed, each way (default 3)")
    args = ap.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    a = args.assignment
    t0 = time.perf_counter()
    stock_course, students = build_course(out / "stock", a, args.n)
    ours_course = out / "autograder"
    if ours_course.exists():
        shutil.rmtree(ours_course)
    shutil.copytree(stock_course, ours_course)
    n_nb = len(students) * len(list((stock_course / "release" / a).glob("*.ipynb")))
    kinds = sorted({s.split("-", 1)[1] for s in students})
    print(f"assignment {a}: {len(students)} submissions, {n_nb} notebooks "
          f"({len(kinds)} kinds: {', '.join(kinds)}); built in {time.perf_counter() - t0:.1f} s")
    try:
        from autograder.sandbox import sandbox_status

        st = sandbox_status()
        print(f"sandbox: {st.reason}")
    except Exception:
        pass
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    stock_t0 = time.time()
    stock_s, proc = timed([sys.executable, "-m", "nbgrader", "autograde", a], stock_course)
    stock_first, stock_rate = steady(finish_times(stock_course, a, stock_t0))
    if proc.returncode != 0:
        print(f"stock nbgrader autograde exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    cli = [sys.executable, "-c", "from autograder.cli import run; run()"]  # the `autograder` command
    ours_cmd = cli + ["grade", a, "--no-feedback", "--no-report", "--course", str(ours_course)]
    if args.jobs:
        ours_cmd += ["--jobs", str(args.jobs)]
    # the headline: the whole command, cold (no grading daemon: everything starts here)
    ours_t0 = time.time()
    ours_s, proc = timed(ours_cmd + ["--no-daemon"], ours_course)
    ours_first, ours_rate = steady(finish_times(ours_course, a, ours_t0))
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(f"autograder grade exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    ours_scores_cold = C.gradebook_scores(ours_course, a)
    ours_rows_cold = saved_rows(ours_course, a)
    lat = latency(cli, ours_course, a, students[0], args.n_warm, args.n_cold)

    stock_scores = C.gradebook_scores(stock_course, a)
    ours_scores = C.gradebook_scores(ours_course, a)
    diffs = compare(stock_scores, ours_scores_cold) + [
        f"(after the daemon's re-grades) {d}" for d in compare(stock_scores, ours_scores)]
    # and what else autograding saves: the manual-grading flags and "No response." comments
    diffs += [f"(flags and comments) {d}"
              for d in compare_rows(saved_rows(stock_course, a), ours_rows_cold)]
    total = {s: v["auto_score"] for s, v in ours_scores.items()}
    full = max(total.values(), default=0)
    print(f"scores: {sum(v == full for v in total.values())} at full autograded marks ({full:g}), "
          f"{sum(v < full for v in total.values())} below")
    if diffs:
        print(f"SCORES DIFFER for {len(diffs)} submissions:")
        for d in diffs[:20]:
            print("  " + d)
    else:
        print(f"scores identical: all {len(ours_scores)} submissions, every graded cell "
              f"(and every manual-grading flag and comment)")

    print()
    print(f"{'':28s}{'seconds':>10s}{'s/notebook':>12s}{'first done at':>15s}"
          f"{'then s/notebook':>17s}")
    for label, secs, first, rate in (("stock nbgrader autograde", stock_s, stock_first, stock_rate),
                                     ("autograder grade", ours_s, ours_first, ours_rate)):
        print(f"{label:28s}{secs:10.1f}{secs / n_nb:12.3f}{first:13.1f} s{rate:17.3f}")
    print(f"speed-up: {stock_s / ours_s:.1f}x (whole commands, start-up included)")
    # "first done at": from the command's start to the first graded notebook (start-up: the
    # command, a kernel or the warm zygotes, the first notebook); "then": the rate after it,
    # from the autograded notebooks' write times
    print(f"speed-up once started: {stock_rate / ours_rate:.1f}x "
          f"(seconds per notebook after the first graded one)")
    print()
    print(f"first graded notebook, re-grading one student ({students[0]}), "
          f"command start to its autograded notebook written:")
    for label, key in (("cold (no daemon)", "cold"),
                       ("cold, workers judging", "cold_in_worker"),
                       ("daemon starting (--daemon)", "start"), ("warm daemon", "warm")):
        vals = lat[key]
        print(f"  {label:28s}{median(vals):8.2f} s" + (f"  (median of {len(vals)}: "
              f"{', '.join(f'{v:.2f}' for v in vals)})" if len(vals) > 1 else ""))
    if lat.get("batch") is not None:
        wb = lat["batch"]
        print(f"  whole batch with the warm daemon: {wb:.1f} s, {stock_s / wb:.1f}x stock")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.feedback:
        fs, proc = timed([sys.executable, "-m", "nbgrader", "generate_feedback", a], stock_course)
        cmd = [x for x in ours_cmd if x not in ("--no-feedback",)]
        fo, proc2 = timed(cmd, ours_course)
        print(f"{'stock autograde + feedback':28s}{stock_s + fs:10.1f}{(stock_s + fs) / n_nb:12.3f}")
        print(f"{'autograder grade (+feedback)':28s}{fo:10.1f}{fo / n_nb:12.3f}")
        print(f"speed-up with feedback: {(stock_s + fs) / fo:.1f}x")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
