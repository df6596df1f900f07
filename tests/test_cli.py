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
