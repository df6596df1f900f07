"""The judge in a process of its own, beside each grading worker: a cold start on two cores.

A cold ``autograder grade`` must import nbgrader (its workers run nbgrader's preprocessors and
write the gradebook) and torch with the checks (the judge runs the test cells) before the first
notebook can be graded. In one process that is one core's work, one import after the other,
while the machine's other core idles. Here the command forks the *judges' parent* first thing;
it imports torch and warms up the judge (:func:`autograder.grading.warm_judge`) while the command
imports nbgrader and checks the gradebook, then forks one judge per pool worker, and each judge
adopts the student-side zygote the command started for it (:func:`autograder.executor.prestart`).

A worker's execute step (:class:`autograder.executor.WarmExecute`) hands each notebook's
:class:`~autograder.judge.runner.Plan` to its judge and gets the result back: the judge runs the
notebook exactly as a worker does in-process (:func:`autograder.judge.runner.run_notebook`).
Both processes are the instructor's (the student's code runs in the zygote's children only), so
they talk with :mod:`multiprocessing.connection`; nothing here reads what a student's process sent.

Only the cold path uses it: a grading daemon's runs fork from a process that has both already,
and a Dask cluster's workers judge in-process. A worker whose judge is gone (it died) judges in
its own process from then on. ``AUTOGRADER_JUDGE_APART=0`` turns it off (one process per worker,
as before), for comparison.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

PR_SET_PDEATHSIG = 1

#: this worker's judge (a :class:`Client`), where it has one; None: judge in this process
_CLIENT: dict = {"judge": None}


def enabled() -> bool:
    return os.environ.get("AUTOGRADER_JUDGE_APART", "1").strip().lower() not in ("0", "no", "false")


def client():
    """This process's judge, or None (it judges in-process)."""
    return _CLIENT["judge"]


class Judges:
    """In the grading command: the judges' parent, forked now, and one connection per judge.

    Make it after :func:`autograder.executor.prestart` (each judge adopts one of those zygotes)
    and before the pool of workers is forked: each worker takes one connection
    (:meth:`take`), and the command then lets go of all of them (:meth:`release`).
    """

    def __init__(self, n: int, *, course: str, assignment: str, slot_root: str,
                 log_path: str, kind, draws: bool, seeds: bool):
        import multiprocessing

        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(n)]
        self.taken = multiprocessing.Value("i", 0)
        command = os.getpid()
        try:
            self.pid = os.fork()
        except OSError:
            for mine, theirs in pairs:
                mine.close()
                theirs.close()
            raise
        if self.pid == 0:  # the judges' parent: never returns
            code = 1
            try:
                for mine, _theirs in pairs:
                    mine.close()
                _parent(command, [theirs for _mine, theirs in pairs], course=course,
                        assignment=assignment, slot_root=slot_root, log_path=log_path, kind=kind,
                        draws=draws, seeds=seeds)
                code = 0
            finally:
                os._exit(code)
        for _mine, theirs in pairs:
            theirs.close()
        self.ends: list[socket.socket] = [mine for mine, _theirs in pairs]

    def take(self) -> Connection | None:
        """In a pool worker: the next judge's connection (None once all are taken: a worker the
        pool started later, after one died, judges in-process); closes the others'."""
        with self.taken.get_lock():
            k = self.taken.value
            self.taken.value += 1
        conn = None
        for i, end in enumerate(self.ends):
            if i == k:
                conn = Connection(end.detach())
            else:
                end.close()
        self.ends = []
        return conn

    def release(self) -> None:
        """In the command, once the pool is forked: hold no judge's connection (a judge stops
        when its worker's end closes)."""
        for end in self.ends:
            end.close()
        self.ends = []

    def stop(self, wait: float) -> None:
        """In the command, at the end: wait up to ``wait`` seconds for the judges to stop (their
        workers are gone, so they are stopping), then stop what is left: SIGTERM to their parent,
        which stops and reaps them, each ending its zygotes (SIGKILL after 5 s more)."""
        self.release()
        if self._reaped(wait):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self._reaped(5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # the judges die with it (PDEATHSIG)
            self._reaped(None)

    def _reaped(self, wait: float | None) -> bool:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                pid, _status = os.waitpid(self.pid, 0 if wait is None else os.WNOHANG)
            except ChildProcessError:
                return True
            if pid:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent ends (a killed command leaves no judge behind)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _parent(command: int, ends: list[socket.socket], *, course: str, assignment: str,
            slot_root: str, log_path: str, kind, draws: bool, seeds: bool) -> None:
    from .. import executor
    from .runner import compile_instructor_cells

    _die_with_parent(command)
    # Ctrl-C reaches the whole process group: the command decides, and ends us (stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.chdir(course)
    with open(log_path, "a") as log:  # what a judge prints (a warning) goes to the grading log,
        os.dup2(log.fileno(), 1)      # not over the command's progress bar
        os.dup2(log.fileno(), 2)
    # and through new streams: the ones inherited may be a caller's (pytest's capture, a
    # Jupyter kernel's, whose messages go through its own thread, not forked here)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    try:
        from .. import grading

        with executor.imports_without_gc():
            grading.warm_judge(draws=draws, seeds=seeds)
            compile_instructor_cells(Path(course), assignment)
    except Exception:  # noqa: BLE001  (only a warm-up: a judge imports what it lacks)
        pass
    me = os.getpid()
    judges: list[int] = []

    def stop(signum, frame):  # the command ends early: end the judges (each ends its
        # zygotes), reap them, go; one that does not end within 3 s is killed
        for pid in judges:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for pid in judges:
            with contextlib.suppress(ChildProcessError):
                while not os.waitpid(pid, os.WNOHANG)[0]:
                    if time.monotonic() > deadline:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                        break
                    time.sleep(0.01)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    for i, end in enumerate(ends):
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until it is listed
        pid = os.fork()
        if pid == 0:
            code = 1
            signal.signal(signal.SIGTERM, _end_judge)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            try:
                for j, other in enumerate(ends):
                    if j != i:
                        other.close()
                _judge(i, end, me, slot_root=slot_root, log_path=log_path, kind=kind)
                code = 0
            finally:
                os._exit(code)
        judges.append(pid)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for end in ends:
        end.close()
    executor.release_prestarted()  # the zygotes' control sockets: each judge holds its own
    for pid in judges:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _end_judge(signum, frame) -> None:
    """A judge told to stop (SIGTERM from its parent): its zygotes end now (each takes its
    sandbox, and the notebook running there, with it), then the judge."""
    from .. import executor

    for z in list(executor._ZYGOTES.values()):
        with contextlib.suppress(Exception):
            z.kill()
    os._exit(1)


def _judge(i: int, end: socket.socket, parent: int, *, slot_root: str, log_path: str,
           kind) -> None:
    """One judge: adopt zygote ``i``, then run each notebook its worker sends, until the worker
    closes its end."""
    from .. import executor
    from ..executor import ExecutorError
    from .runner import run_notebook

    _die_with_parent(parent)
    executor.keep_prestarted(i)  # zygote i is ours; the others' sockets are closed now
    executor.shared_zygote(slot_root, log_path=log_path, torch=kind)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [pid {os.getpid()}] INFO judge {i} ready: "
          f"a grading worker's test cells run in this process", file=sys.stderr, flush=True)
    conn = Connection(end.detach())
    try:
        while True:
            try:
                req = conn.recv()
            except (EOFError, OSError):
                break
            try:
                zyg = executor.shared_zygote(slot_root, torch=req["kind"])
                try:
                    answer = ("ok", run_notebook(zyg, req["plan"], files_dir=req["files_dir"]))
                except ExecutorError:
                    zyg.kill()
                    raise
            except ExecutorError as e:
                answer = ("executor", str(e))
            except Exception as e:  # noqa: BLE001  (the worker fails this notebook with it)
                answer = ("error", f"{type(e).__name__}: {e}")
            try:
                conn.send(answer)
            except OSError:
                break
    finally:
        executor._close_zygotes()


class JudgeGone(Exception):
    """The worker's judge process ended: the worker judges in its own process from now on."""


class Client:
    """A worker's end of its judge."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def run(self, plan, *, files_dir, kind) -> dict:
        """:func:`autograder.judge.runner.run_notebook` in the judge: its result, or its error.

        A judge that is gone (it died: never for a student's doing, which stays in the zygote's
        children) raises :class:`JudgeGone`, and the worker runs the notebook itself, as it would
        without a judge of its own. One that goes silent well past the notebook's own time limit
        fails the notebook (``ExecutorError``, as a stuck zygote does)."""
        from ..executor import ExecutorError

        limit = (plan.notebook_timeout or 3600) + 2 * (plan.grace or 5) + 60
        try:
            self.conn.send({"plan": plan, "files_dir": str(files_dir), "kind": kind})
            if not self.conn.poll(limit):
                self.close()
                raise ExecutorError(f"the judge (the grading process that runs the test cells) "
                                    f"did not answer within {limit:g} s")
            status, value = self.conn.recv()
        except (EOFError, OSError):
            self.close()
            raise JudgeGone("the judge (the grading process that runs the test cells) ended; "
                            "this worker judges in its own process from now on") from None
        if status == "ok":
            return value
        if status == "executor":
            raise ExecutorError(value)
        raise RuntimeError(value)

    def close(self) -> None:
        _CLIENT["judge"] = None
        with contextlib.suppress(OSError):
            self.conn.close()


def use(conn: Connection | None) -> None:
    """In a pool worker: judge through ``conn`` (from :meth:`Judges.take`), or in-process."""
    _CLIENT["judge"] = Client(conn) if conn is not None else None
