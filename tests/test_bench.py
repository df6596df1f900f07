"""The grading benchmark runs end to end and finds identical scores (correctness, not time)."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import bench_grading  # noqa: E402


def test_bench_grades_both_ways_with_identical_scores(tmp_path, capsys):
    rc = bench_grading.main(["-a", "synth", "-n", "2", "--out", str(tmp_path), "--n-warm", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "scores identical: all 2 submissions, every graded cell" in out
    assert "speed-up:" in out and "speed-up once started:" in out
    for label in ("stock nbgrader autograde", "autograder grade"):
        row = next(line for line in out.splitlines() if line.startswith(label))
        seconds, per_nb, first, _s, then = row[len(label):].split()
        assert float(seconds) > 0 and float(per_nb) > 0 and float(first) > 0
        assert float(then) > 0  # two notebooks: a rate after the first exists
    # the first graded notebook of a one-student re-grade: cold, starting the daemon, warm
    for label in ("cold (no daemon)", "daemon starting (--daemon)", "warm daemon"):
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
