"""The one comparison with stock ``nbgrader autograde``, through the grading benchmark.

bench/bench_grading.py grades the same submissions of ps1 (the shortest real assignment:
the solution as a student submits it and one-bug fixtures of tests/bugs_ps1.py) with stock
``nbgrader autograde`` and with ``autograder grade`` (test cells in the judge, student cells
in the sandboxed student's process: docs/architecture.md), compares every cell's score, and
times both, then times re-grades with the grading daemon. Here it runs small (correctness,
not time: the timings belong to the bench), so that neither the comparison nor the bench
can rot. The suite's other graded batches (tests/conftest.py's ``graded``) use only the
project's grader; this file is a scheduling unit of its own (bin/test), so its slow stock run
overlaps the other tests.
"""

from __future__ import annotations

import re
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import bench_grading  # noqa: E402

A = "ps1"
N = 3  # s000-ok and two one-bug fixtures: full marks and fewer, compared cell by cell


def test_bench_grades_like_stock_nbgrader_cell_by_cell(tmp_path, capsys):
    rc = bench_grading.main(["-a", A, "-n", str(N), "--out", str(tmp_path), "--n-warm", "1",
                             "--n-cold", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out  # 1: a cell's score differs between stock nbgrader and ours
    assert (f"scores identical: all {N} submissions, every graded cell (and every "
            f"manual-grading flag and comment)") in out, out
    # identical on empty or all-full grades would prove nothing: the solutions get every
    # autograded point, each bug fixture fewer
    full, below = map(int, re.search(r"scores: (\d+) at full autograded marks \(([\d.]+)\), "
                                     r"(\d+) below", out).group(1, 3))
    top = float(re.search(r"at full autograded marks \(([\d.]+)\)", out).group(1))
    assert (full, below) == (1, 2) and top > 0, out
    assert "speed-up:" in out and "speed-up once started:" in out
    for label in ("stock nbgrader autograde", "autograder grade"):
        row = next(line for line in out.splitlines() if line.startswith(label))
        seconds, per_nb, first, _s, then = row[len(label):].split()
        assert float(seconds) > 0 and float(per_nb) > 0 and float(first) > 0
        assert float(then) > 0  # several notebooks: a rate after the first exists
    # the first graded notebook of a one-student re-grade: cold (the judges in processes of
    # their own, and in the workers), starting the daemon, warm
    for label in ("cold (no daemon)", "cold, workers judging", "daemon starting (--daemon)",
                  "warm daemon"):
        row = next(line for line in out.splitlines() if line.strip().startswith(label))
        assert float(row.strip()[len(label):].split()[0]) > 0, row
    assert "whole batch with the warm daemon:" in out
    assert not [cmd for cmd in _commands() if "autograder.daemon" in cmd and str(tmp_path) in cmd], \
        "the bench left its grading daemon running"


def _commands():
    import os

    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline") as f:
                    yield f.read().replace("\0", " ")
            except OSError:
                continue
