"""The `autograder` command lists every subcommand, however it is started."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, default_signal_actions

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


@pytest.mark.parametrize("ends, status, err", [("return 3", 3, "tail"),
                                               ("sys.exit('no such thing')", 1, "no such thing"),
                                               ("sys.exit(0)", 0, "tail")])
def test_the_command_exits_fast_with_its_status_its_output_and_its_exit_handlers(
        tmp_path, ends, status, err):
    """``autograder`` (cli.run) skips the interpreter's teardown: the status, everything
    printed (more than a pipe holds) and what the exit handlers do are still there."""
    code = ("import atexit, sys\nfrom autograder import cli\n"
            "atexit.register(lambda: open(sys.argv[1], 'w').write('exit handler ran'))\n"
            "def main():\n    print('x' * 200_000)\n    sys.stderr.write('tail')\n"
            f"    {ends}\n"
            "cli.main = main\ncli.run()\nprint('never here')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ran")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "x" * 200_000 + "\n"
    assert err in proc.stderr
    assert (tmp_path / "ran").read_text() == "exit handler ran"


def test_selfgrade_notes_name_what_they_are_about_without_stray_colons():
    """A note about a whole notebook, or about no notebook (files left out), reads cleanly."""
    from autograder.selfgrade import _incident_line

    assert _incident_line({"notebook": "ps3", "grade_id": "ps3-mul-test", "detail": "d"}) == \
        "ps3, cell ps3-mul-test: d"
    assert _incident_line({"notebook": "executed", "grade_id": None, "detail": "d"}) == "executed: d"
    assert _incident_line({"notebook": "", "grade_id": None, "detail": "left out 2 file(s)"}) == \
        "left out 2 file(s)"


_SIGNALLED = r"""
import os, signal, sys, time
from autograder.cli import run

def entry():
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:  # a forked worker: SIGTERM must end it at once, as Pool.terminate expects
        os.write(ready_w, b"1")  # (a signal that comes during fork itself is dropped by Python)
        time.sleep(30)
        os._exit(0)
    os.read(ready_r, 1)
    os.kill(child, signal.SIGTERM)
    _, status = os.waitpid(child, 0)
    print("child:", os.WTERMSIG(status) if os.WIFSIGNALED(status) else "exited", flush=True)
    try:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        time.sleep(30)
    finally:
        print("cleaned up", flush=True)  # what a grading run's finally blocks do
    return 0

run(entry)
"""


@pytest.mark.parametrize("sig,status", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_term_and_hup_stop_the_command_as_ctrl_c_does(sig, status):
    """kill (SIGTERM) and a closed terminal (SIGHUP) take Ctrl-C's way out: clean-up runs
    (a grading run's finally blocks remove its sandboxes and temporary directories), one line
    instead of a traceback, the shell's status 128 + signal; a forked child keeps the default
    action; a signal the caller ignores (nohup) stays ignored."""
    import signal

    proc = subprocess.run([sys.executable, "-c", _SIGNALLED, sig], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, preexec_fn=default_signal_actions)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert f"child: {int(signal.SIGTERM)}" in proc.stdout, proc.stdout
    assert "cleaned up" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    assert ("interrupted" if sig == "SIGINT" else f"stopped ({sig})") in proc.stderr
    if sig == "SIGHUP":  # under nohup: ignored, the command goes on to its own end
        nohup = subprocess.run([sys.executable, "-c", _SIGNALLED.replace(
            "time.sleep(30)\n    finally", "time.sleep(0.5)\n    finally"), sig],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            preexec_fn=lambda: (default_signal_actions(),
                                signal.signal(signal.SIGHUP, signal.SIG_IGN)))
        assert nohup.returncode == 0 and "cleaned up" in nohup.stdout, nohup.stderr
