"""A warm grading process per course, so that a re-grade starts in a second, not in ten.

``autograder grade`` and ``autograder selfgrade`` spend most of a small run starting up:
importing nbgrader and torch, starting the sandboxed zygotes, the first notebook's
first-use imports. A *grading daemon* does that once and keeps it:

    autograder daemon start     # or: autograder grade ps3 --daemon (starts one if absent)
    autograder grade ps3        # uses the running daemon if there is one, else grades here
    autograder daemon status | stop

The daemon listens on a unix socket in the course directory (``.autograder/grade.sock``,
the directory mode 0700, the socket 0600; a course whose path is too long for a socket
name gets one under ``/tmp/autograder-<uid>/``). It serves only its own user: every
connection's peer uid is checked (``SO_PEERCRED``). It keeps nbgrader, torch and the
judge imported and one warm zygote per core (of each kind it was asked for: with and
without torch), and serves one request at a time: each run is forked from it, grades
exactly as :func:`autograder.grading.grade` does in-process (the same code: the pool's
workers adopt the daemon's zygotes instead of starting their own) and streams its
progress back to the command. A run that ends uncleanly (interrupted, crashed) makes the
daemon replace its zygotes. It exits after ``--idle`` seconds without a request (default
15 minutes), when its socket is removed, or when the autograder's code changes (the
command then grades in-process, or starts a fresh daemon with ``--daemon``).

A stale socket (a daemon that died) is detected by the refused connection and replaced
by the next daemon; a lock file (``.autograder/daemon.lock``, held while a daemon lives)
keeps two daemons of one course from starting at once. The settings that shape grading
(``AUTOGRADER_*`` environment variables, the Python interpreter) must match the
command's; if they do not, the command grades in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from .cli import register

STATE_DIR = ".autograder"
SOCK_NAME = "grade.sock"
LOCK_NAME = "daemon.lock"
LOG_NAME = "daemon.log"
IDLE_SECONDS = 15 * 60
#: environment variables the grading depends on; a daemon serves only commands with the same
#: (AUTOGRADER_DB_URL travels with each request instead)
_ENV_KEYS = ("AUTOGRADER_SANDBOX", "AUTOGRADER_LIMITS", "AUTOGRADER_SUBMISSION_LIMITS",
             "AUTOGRADER_EXCHANGE", "AUTOGRADER_LANG", "AUTOGRADER_JOBS", "OMP_NUM_THREADS")
_MAX_REQUEST = 1 << 20
_RUNS = [0]  # runs this daemon has forked (ping says)


class DaemonUnavailable(Exception):
    """No daemon could take the request (none running, or one that may not serve it)."""


# ---------------------------------------------------------------------------- where


def state_dir(course: str | os.PathLike) -> Path:
    return Path(course).resolve() / STATE_DIR


def socket_path(course: str | os.PathLike) -> str:
    """The daemon's socket for ``course`` (a unix socket name holds at most ~107 bytes)."""
    path = str(state_dir(course) / SOCK_NAME)
    if len(path.encode()) <= 100:
        return path
    digest = hashlib.sha256(str(Path(course).resolve()).encode()).hexdigest()[:20]
    return f"/tmp/autograder-{os.getuid()}/{digest}.sock"


def _private_dir(path: Path) -> Path:
    """``path`` as a directory of this user's only (mode 0700), or an error."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory of this user")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def code_stamp() -> str:
    """Which autograder code and interpreter this is (a daemon of other code must not serve)."""
    root = Path(__file__).resolve().parent
    newest = max((p.stat().st_mtime_ns for p in root.rglob("*.py")), default=0)
    return f"{sys.executable}|{root}|{newest}"


def _settings() -> dict:
    return {k: os.environ.get(k) for k in _ENV_KEYS}


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


# ---------------------------------------------------------------------------- messages


def _send(conn: socket.socket, msg: dict) -> None:
    conn.sendall(json.dumps(msg).encode() + b"\n")


class _Lines:
    def __init__(self, conn: socket.socket):
        self.conn, self.buf = conn, bytearray()

    def read(self, timeout: float | None = None) -> dict | None:
        while b"\n" not in self.buf:
            if timeout is not None:
                r, _, _ = select.select([self.conn], [], [], timeout)
                if not r:
                    raise TimeoutError("no message")
            chunk = self.conn.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
            if len(self.buf) > _MAX_REQUEST and b"\n" not in self.buf:
                raise ValueError("message too long")
        line, _, rest = bytes(self.buf).partition(b"\n")
        self.buf = bytearray(rest)
        msg = json.loads(line)
        if type(msg) is not dict:
            raise ValueError("a message must be an object")
        return msg


class _Stream:
    """The run's progress output (tqdm, notes), sent to the command as it is written."""

    encoding = "utf-8"

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.gone = False

    def write(self, s: str) -> int:
        if s and not self.gone:
            try:
                _send(self.conn, {"ev": "out", "text": s})
            except OSError:  # the command went away (Ctrl-C): the first write stops the run;
                self.gone = True  # later ones (a progress bar closing) have nobody to tell
                raise
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------------------- the daemon


def serve(course: str | os.PathLike, *, idle: float = IDLE_SECONDS,
          warm: list[str] | None = None) -> int:
    """Run the daemon of ``course`` in this process until it is idle for ``idle`` seconds."""
    import fcntl
    import signal
    import tempfile

    from .cli import lean_imports

    lean_imports()
    course = Path(course).resolve()
    sdir = _private_dir(state_dir(course))
    lock = open(sdir / LOCK_NAME, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"autograder daemon: one is already running for {course}", file=sys.stderr)
        return 0
    path = socket_path(course)
    _private_dir(Path(path).parent)
    try:  # a socket left here is stale: the lock says no daemon of this course is alive
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        srv.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    srv.listen(16)
    ino = os.stat(path).st_ino
    stamp, settings = code_stamp(), _settings()
    (sdir / "daemon.pid").write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    slot_root = tempfile.mkdtemp(prefix="autograder-daemon-")
    log_path = str(sdir / LOG_NAME)
    try:
        _warm_up(course, slot_root, log_path, warm or [])
        print(f"autograder daemon: ready for {course} (pid {os.getpid()})", file=sys.stderr,
              flush=True)
        last = time.monotonic()
        while True:
            left = idle - (time.monotonic() - last)
            if left <= 0:
                break
            r, _, _ = select.select([srv], [], [], min(left, 5.0))
            try:
                if os.stat(path).st_ino != ino:
                    break  # our socket was removed or replaced: someone else's now
            except FileNotFoundError:
                break
            if not r:
                continue
            conn, _ = srv.accept()
            try:
                if _handle(conn, stamp, settings) == "stop":
                    break
            except Exception as e:  # noqa: BLE001  (one bad request never stops the daemon)
                print(f"autograder daemon: request failed: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
            finally:
                conn.close()
            last = time.monotonic()
    finally:
        from . import executor

        try:
            if os.stat(path).st_ino == ino:
                os.unlink(path)
        except OSError:
            pass
        srv.close()
        executor.drop_kept(kill=True)
        import shutil

        shutil.rmtree(slot_root, ignore_errors=True)
        try:
            (sdir / "daemon.pid").unlink()
        except OSError:
            pass
    return 0


def _warm_up(course: Path, slot_root: str, log_path: str, assignments: list[str]) -> None:
    """Import and start now what every run needs (the first run then pays none of it)."""
    from . import executor, grading

    executor.keep_zygotes(slot_root, log_path)
    kinds = {executor.assignment_zygote_kind(course, a) for a in assignments
             if (course / "source" / a).is_dir()}
    for torch in sorted(kinds, key=str):  # the zygotes import torch while we import nbgrader
        _start_kept(grading.default_jobs(), torch)
    try:
        from .sandbox import sandbox_status

        sandbox_status()
    except ImportError:
        pass
    with executor.imports_without_gc():  # and what they made frozen: every run forks from it
        grading.warm_imports()
        grading.warm_judge()
        for a in assignments:
            if (course / "source" / a).is_dir():
                grading.warm_assignment(course, a)
    for torch in sorted(kinds, key=str):
        executor.ready_kept(grading.default_jobs(), torch)


def _start_kept(n: int, torch: bool | str):
    """Start (not wait for) the daemon's zygotes of one kind."""
    from . import executor

    zs = [z for z in executor._KEPT["zygotes"].get(torch, []) if z.alive()]
    while len(zs) < n:
        z = executor.Zygote(slot_root=executor._KEPT["slot_root"],
                            log_path=executor._KEPT["log_path"], torch=torch)
        z.kept = True
        z.start()
        zs.append(z)
    executor._KEPT["zygotes"][torch] = zs
    return zs


def _handle(conn: socket.socket, stamp: str, settings: dict) -> str | None:
    if peer_uid(conn) != os.getuid():  # only its own user, whatever the socket's mode
        _send(conn, {"ev": "refused", "msg": "this grading daemon serves its own user only"})
        return None
    req = _Lines(conn).read(timeout=10)
    if req is None:
        return None
    op = req.get("op")
    if op == "ping":
        _send(conn, {"ev": "pong", "pid": os.getpid(), "stamp": stamp, "runs": _RUNS[0]})
        return None
    if op == "stop":
        _send(conn, {"ev": "stopping", "pid": os.getpid()})
        return "stop"
    if op != "grade":
        _send(conn, {"ev": "refused", "msg": f"unknown request {op!r}"})
        return None
    if req.get("stamp") != stamp:
        _send(conn, {"ev": "refused", "stale": True,
                     "msg": "the daemon runs other autograder code (it was changed): restarting"})
        return "stop"
    if req.get("settings") != settings:
        _send(conn, {"ev": "refused", "msg": "the daemon was started with other AUTOGRADER_* "
                                             "settings"})
        return None
    return _grade_request(conn, req)


def _grade_request(conn: socket.socket, req: dict) -> None:
    from . import executor, grading

    course = Path(req["course"])
    assignment = str(req["assignment"])
    if (course / "source" / assignment).is_dir():
        try:  # the kind of zygote this assignment needs, warm before the run is forked
            executor.ready_kept(min(int(req.get("jobs") or 0), 64) or grading.default_jobs(),
                                executor.assignment_zygote_kind(course, assignment))
        except Exception as e:  # noqa: BLE001
            _send(conn, {"ev": "refused", "msg": f"could not start the zygotes: {e}"})
            return None
        try:  # its test cells compiled here, once: every later run forks with them
            grading.warm_assignment(course, assignment)
        except Exception:  # noqa: BLE001  (only a warm-up; the run says what is wrong)
            pass
    _RUNS[0] += 1
    pid = os.fork()
    if pid == 0:  # the run: exactly autograder.grading.grade, in a fork of the warm daemon
        rc = 1
        try:
            rc = _run(conn, req)
        finally:
            os._exit(rc)
    status = _wait_run(pid, conn)
    if status != 0:  # interrupted or crashed mid-run: the zygotes may be mid-notebook
        executor.drop_kept(kill=True)
    return None


def _wait_run(pid: int, conn: socket.socket, grace: float = 10.0) -> int:
    """Wait for the run ``pid``; its exit status. If the command that asked for it goes away
    (Ctrl-C: its end of ``conn`` closes), the run is interrupted now, as a Ctrl-C interrupts a
    run in the command's own process: it stops its workers and cleans up (killed if it has not
    ended ``grace`` seconds later). Without this the run went on until its next line of
    progress, and the daemon, which serves one run at a time, kept every later command waiting
    for it (a notebook stuck for its whole time limit: a minute)."""
    import signal

    try:
        exited = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (not Linux >= 5.3): look every 0.1 s
        exited = None
    interrupted_at = None
    watch = [conn]  # the command's end (dropped if it writes: it never does, and a readable
    try:            # socket with data waiting would wake select at once, forever)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if interrupted_at is not None:
                if time.monotonic() - interrupted_at > grace:
                    os.kill(pid, signal.SIGKILL)
                    return os.waitpid(pid, 0)[1]
                select.select([exited] if exited is not None else [], [], [], 0.1)
                continue
            r, _, _ = select.select(watch + ([exited] if exited is not None else []), [], [],
                                    None if exited is not None else 0.1)
            if conn in r:
                if _peer_gone(conn):
                    os.kill(pid, signal.SIGINT)
                    interrupted_at = time.monotonic()
                else:
                    watch = []
    finally:
        if exited is not None:
            os.close(exited)


def _peer_gone(conn: socket.socket) -> bool:
    """Whether the other end of ``conn`` has closed it (the command never writes after its request)."""
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _run(conn: socket.socket, req: dict) -> int:
    import signal
    import traceback

    from . import grading

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # _wait_run's interrupt
    stream = _Stream(conn)
    try:
        os.chdir(req.get("cwd") or req["course"])
    except OSError:
        pass
    try:
        try:
            run = grading.grade(Path(req["course"]), req["assignment"],
                                students=req.get("students") or None,
                                jobs=req.get("jobs") or None,
                                feedback=bool(req.get("feedback", True)),
                                report=bool(req.get("report", True)),
                                progress=bool(req.get("progress", True)), stream=stream,
                                db_url=req.get("db_url") or None)
        finally:  # the work is over: a command that closes the connection on our last answer
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # must not turn it into a failure
    except FileNotFoundError as e:
        _send(conn, {"ev": "error", "kind": "FileNotFoundError", "msg": str(e)})
        return 0
    except BrokenPipeError:
        return 1  # the command went away (Ctrl-C): the run was cut short
    except Exception as e:  # noqa: BLE001
        try:
            _send(conn, {"ev": "error", "kind": type(e).__name__,
                         "msg": f"{e}\n{traceback.format_exc()}"})
        except OSError:
            pass
        return 1
    _send(conn, {"ev": "done", "run": run_to_json(run)})
    return 0


# ---------------------------------------------------------------------------- results as data


def run_to_json(run) -> dict:
    from dataclasses import asdict

    out = {k: getattr(run, k) for k in ("assignment", "jobs", "autograde_seconds",
                                         "feedback_seconds", "total_seconds")}
    for k in ("course", "csv", "report", "log_path"):
        v = getattr(run, k)
        out[k] = None if v is None else str(v)
    out["results"] = [asdict(r) for r in run.results]
    return out


def run_from_json(d: dict):
    from .grading import GradingRun, SubmissionResult

    results = []
    for r in d["results"]:
        r = dict(r)
        r["cell_seconds"] = [tuple(x) for x in r.get("cell_seconds", [])]
        results.append(SubmissionResult(**r))
    paths = {k: None if d.get(k) is None else Path(d[k]) for k in ("csv", "report", "log_path")}
    return GradingRun(Path(d["course"]), d["assignment"], results, d["jobs"],
                      autograde_seconds=d["autograde_seconds"],
                      feedback_seconds=d.get("feedback_seconds", 0.0),
                      total_seconds=d.get("total_seconds", 0.0), **paths)


# ---------------------------------------------------------------------------- the command's side


def connect(course: str | os.PathLike, timeout: float = 5.0) -> socket.socket | None:
    """A connection to the course's daemon, or None if none is listening.

    Only a daemon of this user's: a socket that another user's process serves there (a course
    directory others can write to) is not the course's daemon, whose answers would be grades."""
    path = socket_path(course)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        uid = peer_uid(s)
        if uid != os.getuid():
            print(f"autograder: {path} is served by another user's process (uid {uid}), "
                  f"not by a grading daemon of yours: not used", file=sys.stderr)
            s.close()
            return None
    except (FileNotFoundError, ConnectionRefusedError, PermissionError, socket.timeout, OSError):
        s.close()
        return None
    s.settimeout(None)
    return s


def start(course: str | os.PathLike, *, idle: float = IDLE_SECONDS, warm: list[str] | None = None,
          wait: float = 30.0) -> bool:
    """Start the course's daemon in the background (detached) unless one runs; True once it
    accepts connections (it may still be warming up: requests wait for it)."""
    course = Path(course).resolve()
    if connect(course) is not None:
        return True
    sdir = _private_dir(state_dir(course))
    cmd = [sys.executable, "-m", "autograder.daemon", str(course), "--idle", str(idle)]
    for a in warm or []:
        cmd += ["--warm", a]
    with open(sdir / LOG_NAME, "ab") as log:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True, cwd=str(course))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        s = connect(course, timeout=1.0)
        if s is not None:
            s.close()
            return True
        time.sleep(0.02)
    return False


def request(course: str | os.PathLike, msg: dict, timeout: float = 10.0) -> dict | None:
    """One short request (ping, stop): the daemon's answer, or None if no daemon answers."""
    s = connect(course)
    if s is None:
        return None
    try:
        _send(s, msg)
        return _Lines(s).read(timeout=timeout)
    except (OSError, ValueError, TimeoutError):
        return None
    finally:
        s.close()


def grade_via_daemon(course: str | os.PathLike, assignment: str, *, students=None, jobs=None,
                     feedback: bool = True, report: bool = True, progress: bool = True,
                     stream=None, db_url: str | None = None, start_if_absent: bool = False,
                     daemon_course: str | os.PathLike | None = None):
    """:func:`autograder.grading.grade` done by a grading daemon: its GradingRun.

    ``daemon_course``: whose daemon (default: ``course``'s own; ``selfgrade`` grades a
    private copy of the course with the course's daemon). Raises :class:`DaemonUnavailable`
    when no daemon can take it (the caller grades in-process), ``FileNotFoundError`` as
    ``grade`` does.
    """
    course = Path(course).resolve()
    owner = Path(daemon_course).resolve() if daemon_course else course
    stream = stream or sys.stderr
    s = connect(owner)
    if s is None and start_if_absent:
        try:
            started = start(owner, warm=[assignment])
        except OSError as e:  # no state directory of this user's there (another user's course)
            raise DaemonUnavailable(f"could not start a grading daemon: {e}") from None
        s = connect(owner) if started else None
        if s is not None:
            print(f"started the course's grading daemon: later grade and selfgrade runs start "
                  f"warm (it exits after {IDLE_SECONDS // 60} idle minutes; "
                  f"`bin/course daemon stop` ends it now)", file=stream, flush=True)
    if s is None:
        raise DaemonUnavailable("no grading daemon")
    msg = {"op": "grade", "course": str(course), "assignment": assignment,
           "students": list(students or []), "jobs": jobs or 0, "feedback": feedback,
           "report": report, "progress": progress, "cwd": os.getcwd(),
           "db_url": db_url or os.environ.get("AUTOGRADER_DB_URL") or None,
           "stamp": code_stamp(), "settings": _settings()}
    try:
        _send(s, msg)
        lines = _Lines(s)
        while True:
            ev = lines.read()
            if ev is None:
                raise DaemonUnavailable("the grading daemon closed the connection")
            kind = ev.get("ev")
            if kind == "out":
                stream.write(ev.get("text", ""))
                stream.flush()
            elif kind == "done":
                return run_from_json(ev["run"])
            elif kind == "error":
                if ev.get("kind") == "FileNotFoundError":
                    raise FileNotFoundError(ev.get("msg", ""))
                raise RuntimeError(f"the grading daemon's run failed: {ev.get('msg', '')}")
            elif kind == "refused":
                if ev.get("stale") and start_if_absent:
                    s.close()
                    time.sleep(0.2)  # the stale daemon is exiting; a fresh one takes over
                    return grade_via_daemon(course, assignment, students=students, jobs=jobs,
                                            feedback=feedback, report=report, progress=progress,
                                            stream=stream, db_url=db_url, start_if_absent=True,
                                            daemon_course=owner)
                raise DaemonUnavailable(ev.get("msg", "refused"))
            else:
                raise DaemonUnavailable(f"unexpected answer {kind!r}")
    except KeyboardInterrupt:  # Ctrl-C: the daemon's run stops when it next writes to us
        print(f"\ninterrupted: the grading daemon's run of {assignment} stops with this command "
              f"(the submissions graded before it keep their grades in the gradebook; grades.csv "
              f"was not rewritten). Run the command again to grade them all.", file=stream)
        raise
    finally:
        s.close()


def wait_exit(pid: int, timeout: float = 30.0) -> bool:
    """Wait until process ``pid`` has exited (a zombie counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def mode(flag: bool | None = None) -> str:
    """How a grading command uses the daemon: ``off``, ``use`` (a running one; default) or
    ``auto`` (start one if absent). ``--daemon``/``--no-daemon`` win over ``AUTOGRADER_DAEMON``."""
    if flag is True:
        return "auto"
    if flag is False:
        return "off"
    env = os.environ.get("AUTOGRADER_DAEMON", "").strip().lower()
    if env in ("0", "off", "no", "false"):
        return "off"
    if env in ("1", "auto", "yes", "true", "on"):
        return "auto"
    return "use"


# ---------------------------------------------------------------------------- the command


def _add_args(p) -> None:
    p.add_argument("action", choices=("start", "stop", "status", "serve"),
                   help="start one in the background, stop it, say whether one runs, or serve "
                        "in the foreground")
    p.add_argument("--course", default=None, help="course directory (default: the one holding "
                                                  "nbgrader_config.py here or above)")
    p.add_argument("--idle", type=float, default=IDLE_SECONDS,
                   help=f"exit after this many seconds without a request (default {IDLE_SECONDS})")
    p.add_argument("--warm", action="append", default=[], metavar="ASSIGNMENT",
                   help="start the zygotes this assignment needs right away")


def _run_cmd(args) -> int:
    from .course import repo_root

    course = Path(args.course).resolve() if args.course else repo_root()
    if args.action == "serve":
        return serve(course, idle=args.idle, warm=args.warm)
    if args.action == "start":
        ok = start(course, idle=args.idle, warm=args.warm)
        print(f"grading daemon {'running' if ok else 'did not start'} for {course}"
              + ("" if ok else f" (see {state_dir(course) / LOG_NAME})"))
        return 0 if ok else 1
    if args.action == "stop":
        ans = request(course, {"op": "stop"})
        if ans and not wait_exit(ans["pid"]):
            print(f"grading daemon (pid {ans['pid']}) did not stop within 30 s", file=sys.stderr)
            return 1
        print(f"grading daemon stopped (pid {ans['pid']})" if ans else "no grading daemon running")
        return 0
    ans = request(course, {"op": "ping"})
    print(f"grading daemon running (pid {ans['pid']}) on {socket_path(course)}" if ans
          else "no grading daemon running")
    return 0 if ans else 1


register("daemon", "a warm grading process for this course (grade and selfgrade start in a "
         "second)", _add_args, _run_cmd)


def main(argv: list[str] | None = None) -> int:  # python -m autograder.daemon COURSE [--idle S]
    import argparse

    ap = argparse.ArgumentParser(prog="python -m autograder.daemon")
    ap.add_argument("course")
    ap.add_argument("--idle", type=float, default=IDLE_SECONDS)
    ap.add_argument("--warm", action="append", default=[])
    args = ap.parse_args(argv)
    return serve(args.course, idle=args.idle, warm=args.warm)


if __name__ == "__main__":
    from autograder.cli import run  # exits without the interpreter's teardown of torch

    run(main)
