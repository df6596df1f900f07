"""The `autograder` command lists every subcommand, however it is started."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

SUBCOMMANDS = ("grade", "release", "report", "selfgrade")


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "autograder.cli"],
                                  [str(ROOT / ".venv/bin/autograder")]])
def test_help_lists_every_subcommand(argv):
    out = subprocess.run([*argv, "--help"], capture_output=True, text=True, cwd=ROOT, check=True)
    for name in SUBCOMMANDS:
        assert name in out.stdout, f"`autograder {name}` is not offered:\n{out.stdout}"


def test_unknown_assignment_is_a_clear_error(tmp_path):
    from autograder.course import copy_course

    course = copy_course(tmp_path / "c", root=ROOT)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "ps99"],
                          capture_output=True, text=True, cwd=course)
    assert proc.returncode != 0
    assert "ps99" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_default_workers_come_from_autograder_jobs(monkeypatch):
    from autograder.grading import default_jobs

    monkeypatch.delenv("AUTOGRADER_JOBS", raising=False)
    cores = default_jobs()
    assert cores >= 1
    monkeypatch.setenv("AUTOGRADER_JOBS", str(cores + 2))
    assert default_jobs() == cores + 2
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("AUTOGRADER_JOBS", bad)
        with pytest.raises(ValueError, match="AUTOGRADER_JOBS"):
            default_jobs()


def test_a_bad_autograder_jobs_is_a_clear_error(tmp_path):
    import os

    from autograder.course import copy_course

    course = copy_course(tmp_path / "c", root=ROOT)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "ps1"],
                          capture_output=True, text=True, cwd=course,
                          env=dict(os.environ, AUTOGRADER_JOBS="many"))
    assert proc.returncode == 2, proc.stderr
    assert "AUTOGRADER_JOBS='many'" in proc.stderr and "Traceback" not in proc.stderr
