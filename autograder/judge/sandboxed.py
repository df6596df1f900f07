"""Inside the OS sandbox: the zygote, and the per-notebook process that serves the judge.

The zygote (one per grading slot, started under bubblewrap by
:class:`autograder.executor.Zygote`) imports numpy, IPython and -- where the
assignment allows torch -- torch and matplotlib once. It talks to the grader over one
control socket (``ctl``):

    grader -> zygote   {"op": "open"}                        a notebook begins
    zygote -> grader   {"ev": "opened", "pid": n} + a socket  (SCM_RIGHTS)
                       ... the grader and the notebook's process talk over that socket ...
    grader -> zygote   {"op": "kill"}                        (only if it must)
    zygote -> grader   {"ev": "closed", "status": ..., "leftover": n, "clean": bool}

For each notebook the zygote forks a child that shares nothing with any other
student's: its own process group, rlimits, a fresh empty working directory, a
``/tmp`` emptied after the previous notebook. The child answers requests
(:mod:`autograder.judge.serve`): run a student cell, or do something to a
student object for a test that runs in the judge. It never holds the control
socket, so nothing it writes can pass for the zygote.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from .. import executor as X
from . import serve, wire

#: torch's own top-level modules (Validate names them in a student cell of such a notebook)
TORCH_MODULES = ("torch", "functorch", "torchgen", "torchvision", "torchaudio")
#: top-level modules blocked in a sandbox without torch (ps3: the engine may not use it), and
#: hidden there by the OS sandbox (autograder.sandbox.torch_paths): torch and the other
#: libraries that differentiate for you (sympy and mpmath come with torch; a red team's ps2
#: answers were sympy.diff). The same list as integrity.BLOCKED (a test keeps them equal).
WITHOUT_TORCH = TORCH_MODULES + ("jax", "jaxlib", "autograd", "sympy", "mpmath")
#: writable places emptied after every notebook, besides the slot's own directories
SCRATCH = ("/tmp", "/dev/shm")


class NoTorch:
    """An import blocker for a sandbox without torch (bubblewrap also hides torch's files)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WITHOUT_TORCH:
            raise ImportError(f"No module named {name!r}: torch is not available here (this "
                              f"code is graded without torch)")
        return None


# ============================================================================ zygote


def zygote_main(slot_dir: str, ctl_fd: int, torch: bool | str = True,
                private_tmp: bool = False) -> int:
    """The zygote's life. ``private_tmp``: /tmp and /dev/shm are the sandbox's own (bubblewrap)
    and are emptied after every notebook; never set it outside the sandbox."""
    slot = Path(slot_dir).resolve()
    ctl = socket.socket(fileno=ctl_fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)  # nothing an import prints can reach anyone
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    X._prctl(X.PR_SET_PDEATHSIG, signal.SIGKILL)
    X._prctl(X.PR_SET_CHILD_SUBREAPER, 1)  # orphans of a student's child come back to us
    X._prctl(PR_SET_DUMPABLE, 0)  # no same-user process may ptrace us or read /proc/<us>/fd
    os.environ.setdefault("IPYTHONDIR", str(slot / X.IPYDIR))
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if not X.has_torch(torch):
        sys.meta_path.insert(0, NoTorch())
    t0 = time.monotonic()
    shell = X._warm_up(torch=torch)
    send = _ctl_sender(ctl)
    send({"ev": "ready", "pid": os.getpid(), "import_s": round(time.monotonic() - t0, 3),
          "torch": torch})
    for msg in _json_lines(ctl, 1 << 16):
        if msg is not None and msg.get("op") == "kill":
            # for a notebook that has ended: the grader asked as its process died (on its own
            # or killed by the watch), and the "closed" crossed this on the way
            continue
        if msg is None or msg.get("op") != "open":
            break
        _one_notebook(shell, slot, ctl, send, msg, private_tmp)
    return 0


PR_SET_DUMPABLE = 4


def _ctl_sender(ctl: socket.socket):
    def send(msg: dict, fds: list[int] | None = None) -> None:
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            socket.send_fds(ctl, [data], fds)
        else:
            ctl.sendall(data)
    return send


def _json_lines(sock: socket.socket, chunk: int = 1 << 20):
    """The JSON objects arriving on ``sock``, one per line; ``None`` once for anything else
    (the end of the stream, a broken line, a value that is not an object), then it stops."""
    buf = bytearray()
    while True:
        end = buf.find(b"\n")
        while end < 0:
            try:
                data = sock.recv(chunk)
            except OSError:
                data = b""
            if not data:
                yield None
                return
            start = len(buf)
            buf += data
            end = buf.find(b"\n", start)
        line = bytes(buf[:end])
        del buf[:end + 1]
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            yield None
            return
        yield msg


def _one_notebook(shell, slot: Path, ctl: socket.socket, send, job: dict,
                  private_tmp: bool = False) -> None:
    work = slot / X.WORK
    # in the sandbox, what rlimits do not count is watched while the notebook runs
    watch = Watch(slot) if private_tmp else None
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # ------------------------------------------------------ the child
        code = 1
        try:
            ctl.close()
            theirs.close()
            code = _child(shell, work, job, mine)
        finally:
            os._exit(code)
    mine.close()
    send({"ev": "opened", "pid": pid}, [theirs.fileno()])
    theirs.close()
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    status = None
    killed = False
    over = None  # which limit the watch found exceeded
    buf = b""
    import select

    while status is None:
        fds = [ctl] + ([pidfd] if pidfd is not None else [])
        ready, _, _ = select.select(fds, [], [], Watch.EVERY if watch or pidfd is None else None)
        if watch and not killed:
            over = watch.over()
            if over:
                X._kill_tree(pid)
                killed = True
        if ctl in ready:
            chunk = ctl.recv(1 << 16)
            if not chunk:  # the grader is gone: so is this notebook
                X._kill_tree(pid)
                killed = True
            buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                try:
                    op = json.loads(line).get("op")
                except (ValueError, AttributeError):
                    op = None
                if op == "kill":
                    X._kill_tree(pid)
                    killed = True
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid:
            status = st
    if pidfd is not None:
        os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    X._reap_killed_group()
    leftover = X._reap_descendants()
    clean = _wipe(slot, private_tmp)
    if private_tmp:  # the sandbox's own IPC namespace, which the next notebook shares
        clean = _remove_ipc() and clean
    send({"ev": "closed", "status": status, "killed": killed, "leftover": leftover,
          "detail": over or X._describe_status(status), "clean": clean,
          **({"over": over} if over else {})})


class Watch:
    """What one notebook holds beyond its rlimits, checked every :attr:`EVERY` seconds while
    it runs (:class:`autograder.sandbox.Limits`): System V shared memory and message queues
    (memory outside its address space, which outlives it), and what the slot's file system
    lost since it began (``file_mb`` bounds one file, not how many). /tmp and /dev/shm are
    sized tmpfs (bwrap). Over a limit, the zygote kills the notebook and says why."""

    EVERY = 0.25

    def __init__(self, slot: Path):
        from ..sandbox import Limits

        self.slot, self.limits = slot, Limits.from_env()
        self.free, self.inodes = self._free()

    def _free(self) -> tuple[int, int]:
        try:
            st = os.statvfs(self.slot)
        except OSError:
            return 0, 0
        return st.f_bavail * st.f_frsize, st.f_favail

    def over(self) -> str | None:
        lim = self.limits
        held = sum(size for _kind, _id, size in _ipc_table())
        if held > lim.scratch_mb << 20:
            return (f"held more than {lim.scratch_mb} MB in System V shared memory or message "
                    f"queues: killed")
        free, inodes = self._free()
        if self.free - free > lim.disk_mb << 20:
            return f"wrote more than {lim.disk_mb} MB to disk: killed"
        if self.inodes - inodes > lim.files:
            return f"made more than {lim.files} files: killed"
        return None


#: System V IPC objects: their /proc/sysvipc table, and the column of the bytes each holds
_SYSVIPC = (("shm", 3), ("msg", 3), ("sem", None))


def _ipc_table() -> list[tuple[str, int, int]]:
    """``(kind, id, bytes)`` of every System V IPC object in this IPC namespace."""
    out = []
    for kind, col in _SYSVIPC:
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii", errors="replace") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            try:
                out.append((kind, int(cols[1]), int(cols[col]) if col else 0))
            except (IndexError, ValueError):
                continue
    return out


def _remove_ipc() -> bool:
    """Remove every System V shared memory segment, message queue and semaphore set of this
    IPC namespace (the sandbox's own: a notebook's could carry a message, or gigabytes, to the
    next student's); whether none is left."""
    import ctypes

    table = _ipc_table()
    if not table:
        return True
    libc, rmid = ctypes.CDLL(None, use_errno=True), 0  # IPC_RMID
    for kind, ident, _size in table:
        if kind == "shm":
            libc.shmctl(ident, rmid, None)
        elif kind == "msg":
            libc.msgctl(ident, rmid, None)
        else:
            libc.semctl(ident, 0, rmid)
    return not _ipc_table()


def _wipe(slot: Path, private_tmp: bool = False) -> bool:
    """Empty every place a notebook could write, so the next student finds nothing of it.

    The slot directory (all but its empty working directory) and, in the sandbox,
    its private ``/tmp`` and ``/dev/shm``; returns whether all of it is gone. What bwrap
    mounted there is kept (the slot; the course's environment and package when they live
    under ``/tmp``), and so are the directories that lead to them, each emptied of
    everything else: a file a notebook left beside them goes like any other.
    """
    try:
        return _wipe_places(slot, private_tmp)
    except OSError:  # a notebook made the slot unreadable: not wiped, so the zygote is replaced
        return False


def _wipe_places(slot: Path, private_tmp: bool) -> bool:
    for d in (slot, slot / X.WORK):
        try:
            os.chmod(d, 0o700)  # a notebook may have chmod-ed them (the slot is bound read-write)
        except OSError:
            pass
    scratch = SCRATCH if private_tmp else ()  # outside the sandbox /tmp is everyone's
    places = [slot] + [Path(d) for d in scratch if os.path.isdir(d) and os.access(d, os.W_OK)]
    keep = _mount_points() | {os.path.realpath(slot)}
    for place in places:
        for entry in list(os.scandir(place)):
            if place == slot and entry.name == X.WORK:
                X._clear_dir(slot / X.WORK)
            else:
                _wipe_entry(entry.path, keep)
    left = [e.name for e in os.scandir(slot / X.WORK)]
    for place in places:
        for entry in os.scandir(place):
            if not (place == slot and entry.name == X.WORK):
                left += _left(entry.path, keep)
    return not left


def _mount_points() -> set[str]:
    """Where something is mounted in this process's view (in the sandbox: what bwrap bound)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    unescape = functools.partial(re.compile(r"\\([0-7]{3})").sub, lambda m: chr(int(m[1], 8)))
    return {unescape(line.split()[4]) for line in lines if len(line.split()) > 4}


def _kept(path: str, keep: set[str]) -> str | None:
    """``"mount"`` if ``path`` is one of ``keep``, ``"above"`` if one lies below it, else None.
    A symbolic link is never kept (whatever it points to, the link is the notebook's)."""
    if os.path.islink(path):
        return None
    p = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    if p in keep:
        return "mount"
    prefix = p.rstrip("/") + "/"
    return "above" if any(k.startswith(prefix) for k in keep) else None


def _wipe_entry(path: str, keep: set[str]) -> None:
    kept = _kept(path, keep)
    if kept == "above":  # a directory bwrap made on the way to a mount: empty it around it
        for entry in list(os.scandir(path)):
            _wipe_entry(entry.path, keep)
    elif kept is None:
        _remove(path)


def _left(path: str, keep: set[str]) -> list[str]:
    """What of ``path`` a wipe did not remove (mounts and the way to them excepted)."""
    kept = _kept(path, keep)
    if kept == "mount":
        return []
    if kept == "above":
        try:
            return [x for e in os.scandir(path) for x in _left(e.path, keep)]
        except OSError:
            return [path]
    return [path]


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            X._rmtree(Path(path))
        else:
            os.unlink(path)
    except OSError:
        pass


# ============================================================================ the child


def _child(shell, work: Path, job: dict, sock: socket.socket) -> int:
    from ..sandbox import limit_child

    os.setsid()
    X._prctl(X.PR_SET_PDEATHSIG, signal.SIGKILL)
    if isinstance(job.get("lang"), str) and job["lang"].replace("-", "_").isidentifier():
        os.environ["AUTOGRADER_LANG"] = job["lang"]  # messages of checks run here (Validate)
    limits = limit_child()
    os.chdir(work)
    # as in a kernel, the notebook's own directory comes first on sys.path (`import helper`
    # of a file handed out with the assignment); the zygote itself never had it there
    sys.path.insert(0, "")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    fd_files = {}
    for fd, name in ((1, "stdout"), (2, "stderr")):
        tmp = tempfile.TemporaryFile(dir=work)
        os.dup2(tmp.fileno(), fd)
        tmp.close()
        fd_files[name] = [fd, 0]
    cap = min(int(job.get("max_output_chars") or 10_000_000), limits.output_chars)
    X._SINK = X._Sink(cap)
    sys.stdout = X._Stream("stdout", 1)
    sys.stderr = X._Stream("stderr", 2)
    sys.stdin = open(os.devnull)
    import builtins

    builtins.input = X._no_input
    shell.user_ns["input"] = X._no_input
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGALRM, X._on_alarm)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except Exception:  # noqa: BLE001
        libc = None

    def drain() -> None:  # what C code and subprocesses wrote to fds 1 and 2
        if libc is not None:
            try:
                libc.fflush(None)
            except Exception:  # noqa: BLE001
                pass
        for name, st in fd_files.items():
            fd, off = st
            room = max(0, cap - X._SINK.chars) + 1
            data = os.pread(fd, min(room, 1 << 24), off)
            st[1] = os.lseek(fd, 0, os.SEEK_END)
            if data:
                X._SINK.stream(name, data.decode("utf-8", "replace"))

    def skip_fd_output() -> None:  # what code called by a test wrote to fds 1/2: dropped
        for st in fd_files.values():
            st[1] = os.lseek(st[0], 0, os.SEEK_END)

    def run_cell(req: dict) -> dict:
        skip_fd_output()
        count = shell.execution_count
        shell.InteractiveTB.set_mode("Context")
        try:
            shell.run_cell(req["src"], store_history=True)
        except KeyboardInterrupt:
            pass
        except BaseException as e:  # noqa: BLE001  (the shell itself failed)
            X._SINK.add(X._error_output(type(e).__name__, X._clean(e)))
        drain()
        outs = X._SINK.finish()
        if X._State.fired:
            outs.append(req.get("error_on_timeout") or
                        X._error_output("CellTimeoutError", "No reply from kernel before timeout"))
        return {"t": "cell", "outputs": outs, "count": count}

    server = serve.Server(shell.user_ns, run_cell=run_cell)
    for req in _json_lines(sock):
        if req is None or req.get("op") == "bye":
            break
        X._SINK.reset()
        X._State.fired = False
        timeout = req.get("timeout")
        try:
            X._State.armed = True
            if isinstance(timeout, (int, float)) and timeout > 0:
                signal.setitimer(signal.ITIMER_REAL, float(timeout))
            try:
                ans = server.answer(req)
            finally:
                X._State.armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt:
            ans = {"exc": {"type": "KeyboardInterrupt", "base": "Exception",
                           "msg": "interrupted: ran past its time limit"}}
        if req.get("op") != "cell":
            X._SINK.reset()  # output of code a test called is dropped: the judge writes tests' outputs
        try:
            data = json.dumps(ans, default=str).encode() + b"\n"
        except (TypeError, ValueError) as e:
            data = wire.dumps({"exc": {"type": wire.REFUSED, "base": "ValueError",
                                       "msg": f"answer not encodable: {e}"}})
        sock.sendall(data)
    return 0


def recv_fd(ctl: socket.socket, buf: bytearray, timeout: float) -> tuple[dict, int | None]:
    """Grader side: one control message and the descriptor sent with it, if any."""
    import select

    deadline = time.monotonic() + timeout
    fd = None
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the zygote gave no answer")
        r, _, _ = select.select([ctl], [], [], left)
        if not r:
            continue
        msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 16, 4)
        if fds:
            for extra in fds[1:]:
                os.close(extra)
            if fd is not None:
                os.close(fd)
            fd = fds[0]
        if not msg:
            raise EOFError("the zygote exited")
        buf += msg
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return json.loads(line), fd


__all__ = ["zygote_main", "recv_fd", "NoTorch", "TORCH_MODULES", "WITHOUT_TORCH"]
