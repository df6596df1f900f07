"""The grading daemon (autograder/daemon.py): the same grades as in-process, its own user only,
a stale socket replaced, an idle daemon gone."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from autograder import course as C
from autograder import daemon

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

A = synthetic.NAME
STUDENTS = ["ok", "bug-mul-sign", "bug-no-accumulate", "bug-crash"]


def _wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # our own child (a daemon started by this process) must be reaped
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    """Two identical courses with the same submissions: one graded in-process, one by a daemon."""
    from autograder.grading import grade

    tmp = tmp_path_factory.mktemp("daemon")
    here = C.copy_course(tmp / "here", root=ROOT)
    synthetic.write_course(here, STUDENTS)
    there = tmp / "there"
    shutil.copytree(here, there)
    run = grade(here, A, jobs=2, feedback=False, report=False, progress=False,
                stream=io.StringIO())
    assert daemon.start(there, idle=600, warm=[A])
    yield {"here": here, "there": there, "run": run}
    ans = daemon.request(there, {"op": "stop"})
    if ans:
        assert _wait_gone(ans["pid"])


def test_the_daemon_grades_exactly_as_in_process(courses):
    there = courses["there"]
    out = io.StringIO()
    run = daemon.grade_via_daemon(there, A, jobs=2, feedback=False, report=False, stream=out)
    assert [(r.student, r.ok, r.reason) for r in run.results] == \
        [(r.student, r.ok, r.reason) for r in courses["run"].results]
    assert C.gradebook_scores(there, A) == C.gradebook_scores(courses["here"], A)
    scores = C.gradebook_scores(there, A)
    assert scores["ok"]["auto_score"] > scores["bug-mul-sign"]["auto_score"]  # a real grading
    assert "grading synth" in out.getvalue() and f"{len(STUDENTS)}/{len(STUDENTS)}" in out.getvalue()
    assert (there / "autograded" / "ok" / A / f"{A}.ipynb").is_file()

    # a re-grade of one student, by the same (warm) daemon, gives that student's grades again
    pid = daemon.request(there, {"op": "ping"})["pid"]
    again = daemon.grade_via_daemon(there, A, students=["bug-no-accumulate"], feedback=False,
                                    report=False, progress=False)
    assert [r.student for r in again.results] == ["bug-no-accumulate"] and again.results[0].ok
    assert daemon.request(there, {"op": "ping"})["pid"] == pid
    assert C.gradebook_scores(there, A) == scores
    # what grade does when the students asked for are missing: the same error, from the daemon
    with pytest.raises(FileNotFoundError, match="nobody"):
        daemon.grade_via_daemon(there, A, students=["nobody"], progress=False)


def test_selfgrade_in_the_daemon_agrees_with_selfgrade_in_process(courses, tmp_path):
    from autograder.selfgrade import selfgrade

    there = courses["there"]
    nb = there / "submitted" / "bug-mul-sign" / A / f"{A}.ipynb"
    here = selfgrade(nb, assignment=A, root=there, daemon="off")
    before = daemon.request(there, {"op": "ping"})
    keep = tmp_path / "kept"
    warm = selfgrade(nb, assignment=A, root=there, daemon="use", keep=keep)
    assert warm.ok and here.ok
    assert [(c.grade_id, c.score, c.max_score, c.messages) for c in warm.cells] == \
        [(c.grade_id, c.score, c.max_score, c.messages) for c in here.cells]
    assert warm.score < warm.max_score  # the bug costs points, both ways
    # the course's daemon graded it (in the private copy of the course)
    after = daemon.request(there, {"op": "ping"})
    assert after["pid"] == before["pid"] and after["runs"] == before["runs"] + 1
    assert (keep / "course" / "autograded" / "selfgrade" / A / f"{A}.ipynb").is_file()


def test_the_socket_is_private_and_another_user_is_refused(courses):
    there = courses["there"]
    assert daemon.request(there, {"op": "ping"})["ev"] == "pong"
    path = daemon.socket_path(there)
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o777 == 0o600
    if os.getuid() != 0:
        pytest.skip("acting as another user needs root")

    def as_nobody() -> str:
        """Connect and ping as uid 65534, in a child: what happened, in a word."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.chdir(os.path.dirname(path))  # only the socket's own directory stands between
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(os.path.basename(path))
                except PermissionError:
                    os.write(w, b"no-access")
                    os._exit(0)
                try:
                    s.sendall(b'{"op": "ping"}\n')
                except BrokenPipeError:
                    pass  # it may have answered and hung up already: its answer is still here
                s.settimeout(20)
                os.write(w, s.recv(4096)[:200])
            except BaseException as e:  # noqa: BLE001  (said in the answer)
                os.write(w, f"error {type(e).__name__}: {e}".encode())
            finally:
                os._exit(0)
        os.close(w)
        got = b""
        while chunk := os.read(r, 4096):
            got += chunk
        os.close(r)
        os.waitpid(pid, 0)
        return got.decode()

    assert as_nobody() == "no-access"  # the directory (0700) and the socket (0600) are the first wall
    # were the permissions loosened, the daemon itself still serves its own user only
    os.chmod(os.path.dirname(path), 0o755)
    os.chmod(path, 0o777)
    try:
        answer = as_nobody()
    finally:
        os.chmod(path, 0o600)
        os.chmod(os.path.dirname(path), 0o700)
    assert '"refused"' in answer and "own user only" in answer and "pong" not in answer
    assert daemon.request(there, {"op": "ping"})["ev"] == "pong"  # and it still serves us


def test_a_stale_socket_is_replaced_and_an_idle_daemon_exits(courses, tmp_path):
    from autograder.grading import grade_here_or_in_daemon

    there = courses["there"]
    pid = daemon.request(there, {"op": "ping"})["pid"]
    os.kill(pid, signal.SIGKILL)  # a daemon that died without cleaning up
    assert _wait_gone(pid)
    path = daemon.socket_path(there)
    assert os.path.exists(path) and daemon.connect(there) is None  # stale: nobody listens
    # a grade command finds no daemon and grades in-process, with the same result
    run = grade_here_or_in_daemon(there, A, daemon="use", students=["ok"], feedback=False,
                                  report=False, progress=False)
    assert run.results[0].ok
    # the next daemon takes the socket over
    assert daemon.start(there, idle=3)
    new = daemon.request(there, {"op": "ping"}, timeout=120)  # answered once warm: slow under load
    assert new["ev"] == "pong" and new["pid"] != pid
    assert _wait_gone(new["pid"], timeout=120)  # idle for 3 s: it exits, and removes its socket
    assert not os.path.exists(path)
    # the fixture's teardown finds no daemon; start one so that it has one to stop
    assert daemon.start(there, idle=600)


def test_a_daemon_that_cannot_be_started_leaves_the_run_to_this_process(tmp_path):
    """``auto`` (bin/course's default) where no state directory of this user's can be made (a
    file in its place; another user's course): DaemonUnavailable, which grade_here_or_in_daemon
    answers by grading in-process, never a failed command."""
    course = C.copy_course(tmp_path / "course", root=ROOT)
    daemon.state_dir(course).write_text("not a directory")
    out = io.StringIO()
    with pytest.raises(daemon.DaemonUnavailable, match="could not start a grading daemon"):
        daemon.grade_via_daemon(course, A, start_if_absent=True, stream=out)
    assert "started the course's grading daemon" not in out.getvalue()
    assert daemon.state_dir(course).read_text() == "not a directory"  # nothing lost


def test_a_socket_served_by_another_user_is_not_the_daemon():
    """A course directory others can write to: another user's process listening where the
    course's daemon would is not talked to (its answers would be grades), and nothing is
    started in their state directory: the run is left to this process."""
    if os.getuid() != 0:
        pytest.skip("acting as another user needs root")
    import tempfile

    # a short path: the socket in the course's state directory (a long one moves it to /tmp)
    short = Path(tempfile.mkdtemp(prefix="ag-"))
    course = C.copy_course(short / "course", root=ROOT)
    sdir = daemon.state_dir(course)
    sdir.mkdir()  # planted by the other user
    os.chown(sdir, 65534, 65534)
    path = daemon.socket_path(course)
    assert os.path.dirname(path) == str(sdir), path
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the imposter: uid 65534, answering every request with a forged "done"
        try:
            os.close(r)
            os.chdir(os.path.dirname(path))  # pytest's temporary directories are root's (0700)
            os.setgid(65534)
            os.setuid(65534)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(os.path.basename(path))
            os.chmod(os.path.basename(path), 0o777)
            srv.listen(8)
            os.write(w, b"up")
            os.close(w)
            while True:
                conn, _ = srv.accept()
                conn.sendall(b'{"ev": "pong", "pid": 1}\n{"ev": "done", "run": {}}\n')
                conn.close()
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 2) == b"up"
        assert daemon.connect(course) is None
        assert daemon.request(course, {"op": "ping"}) is None
        with pytest.raises(daemon.DaemonUnavailable):
            daemon.grade_via_daemon(course, A, start_if_absent=True, stream=io.StringIO())
        assert sorted(os.listdir(sdir)) == [daemon.SOCK_NAME]  # no daemon of ours started there
        assert daemon.connect(course) is None  # and the imposter is still refused
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        shutil.rmtree(short, ignore_errors=True)
