"""Warm, forked notebook execution for nbgrader's autograder (docs/architecture.md).

Stock ``nbgrader autograde`` starts a Jupyter kernel per notebook, imports torch
in it and shuts it down again: about 98% of its 2.3 s per notebook. Here a
*zygote* process per pool slot imports torch, numpy, matplotlib, IPython and
``autograder`` once; each notebook then runs in a child forked from it, so it
starts warm and shares nothing with any other student's run:

    parent (WarmExecute, in an nbgrader worker)            zygote (slot_dir)
      copy the notebook's directory to slot_dir/work  ->   fork a child
                                                           child: setsid, chdir work,
                                                             run the code cells in a fresh
                                                             IPython shell, stream each
                                                             cell's outputs back, _exit
      <- the executed cells' outputs (one JSON line)       kill leftover descendants,
                                                           clear slot_dir/work

:class:`WarmExecute` is an nbgrader ``Execute`` preprocessor, so nbgrader's own
``Autograde`` converter does everything else exactly as stock (sanitising,
restoring the tests from the gradebook, IgnorePattern, LimitOutput,
SaveAutoGrades, late penalties).

Outputs are recorded as ipykernel would send them: stdout/stderr as stream
outputs (also what C code or subprocesses write to fds 1 and 2), displays and
``execute_result`` through IPython's display system, errors as ``error``
outputs with ``ename``/``evalue``/``traceback``. A cell that runs past
``Execute.timeout`` is interrupted (KeyboardInterrupt) and gets nbgrader's
``CellTimeoutError`` output; if it does not stop, or the whole notebook runs
past ``WarmExecute.notebook_timeout``, or the process dies (``os._exit``, a
crash, out of memory), the child is killed, the cell gets an error output
saying so and the cells after it get a "not run" error (no points), while the
cells before it keep their outputs.

Sandboxing (docs/security.md): the zygote is started with ``zygote_argv(slot_dir)``
only, talks to its parent only over its stdin/stdout pipes, needs read access
to the Python environment (venv, stdlib, the ``autograder`` package) and
read-write access to ``slot_dir`` only; it never sees the course directory or
the gradebook.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORK = "work"  # slot_dir/work: the notebook's working directory (cleared after each run)
IPYDIR = "ipython"  # slot_dir/ipython: IPYTHONDIR of the zygote (IPython wants a writable one)
NOT_RUN = "DeadKernelError"
#: the zygote kind of an assignment whose students' code uses torch.optim (see assignment_zygote_kind)
OPTIM = "optim"
#: the zygote kind of an assignment graded without torch whose student cells draw (ps5): no
#: torch, but pyplot warmed as in a zygote with torch
NO_TORCH_PLOTS = "no-torch+plots"
#: the zygote kind of an assignment whose student cells use torch but neither draw nor hand
#: torch's backward a gradient (ps1): torch without pyplot (~0.7 s of CPU) and without
#: what backward(gradient) imports on first use (sympy, ~0.6 s) warmed. A notebook that does
#: either all the same pays for it in its own process, once
TORCH_LEAN = "torch-lean"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


#: how a zygote's Python starts: its imports come from the installation, never from its working
#: directory (``-c`` puts "" on sys.path; removed before anything is imported)
_ZYGOTE_BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
                "from autograder.executor import main; sys.exit(main(sys.argv[1:]))")


def has_torch(kind: bool | str) -> bool:
    """Whether a zygote of ``kind`` (:func:`assignment_zygote_kind`) lets student code import torch."""
    return bool(kind) and kind != NO_TORCH_PLOTS


def zygote_argv(slot_dir: str | os.PathLike, ctl_fd: int | None = None,
                torch: bool | str = True) -> list[str]:
    """The command line that starts a zygote for ``slot_dir``, inside the OS sandbox.

    ``ctl_fd``: the zygote's end of its control socket; ``torch=False``: a sandbox in
    which torch does not exist (its files hidden, its import refused); ``torch="optim"``:
    torch, and what its optimizers import on first use, warmed too; ``torch=TORCH_LEAN``:
    torch without pyplot or sympy warmed (:func:`assignment_zygote_kind`).
    """
    from .sandbox import sandbox_status, wrap_zygote_argv

    # not `python -m`: that puts the working directory (the slot's, which notebooks write) first
    # on sys.path, and a zygote restarted there would import a numpy.py a notebook left
    argv = [sys.executable, "-c", _ZYGOTE_BOOT, "zygote", str(slot_dir)]
    if ctl_fd is not None:
        argv.append(str(ctl_fd))
    if not has_torch(torch):
        argv.append("--no-torch")
        if torch == NO_TORCH_PLOTS:
            argv.append("--plots")
    elif torch == OPTIM:
        argv.append("--optim")
    elif torch == TORCH_LEAN:
        argv.append("--lean")
    if sandbox_status().ok:
        argv.append("--private-tmp")  # /tmp and /dev/shm are the sandbox's own: wiped per notebook
    try:
        return wrap_zygote_argv(argv, slot_dir, torch=has_torch(torch))
    except TypeError:  # an older sandbox module without the torch switch
        return wrap_zygote_argv(argv, slot_dir)


# ============================================================================ parent side


class ExecutorError(RuntimeError):
    """The zygote itself failed (did not start, crashed, stopped answering)."""


class Zygote:
    """A warm zygote process and its slot directory, driven from the grader.

    :meth:`open_child` forks a fresh process for one notebook and returns a socket to it
    (:mod:`autograder.judge.sandboxed`); :meth:`close_child` ends it and reports how.
    ``torch=False`` starts a zygote in which torch does not exist (ps3's engine).
    """

    def __init__(self, slot_dir: str | os.PathLike | None = None, *, slot_root: str | None = None,
                 startup_timeout: float = 300.0, log_path: str | None = None,
                 torch: bool | str = True):
        self._own_slot = slot_dir is None
        self.slot_dir = Path(slot_dir or tempfile.mkdtemp(prefix="autograder-slot-",
                                                          dir=slot_root or None))
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.torch = torch
        self.proc: subprocess.Popen | None = None
        self.ctl = None
        self._buf = bytearray()
        self._ready = False
        self.info: dict = {}
        #: kept warm by a grading daemon (autograder.daemon) across runs: a pool worker that
        #: used it only lets go of its control socket; the daemon alone stops it
        self.kept = False
        self._started = False  # a later start() replaces a zygote that died or was killed
        self._child_open = False  # a notebook's child opened and not yet closed

    def _fresh_slot(self) -> None:
        """Before a replacement zygote starts: nothing the last one's notebooks left in the slot
        (a ``numpy.py`` in the working directory, a directory made unreadable) may reach it.
        A slot of its own is replaced by a new one; a given slot is emptied."""
        if self._own_slot:
            old = self.slot_dir
            self.slot_dir = Path(tempfile.mkdtemp(prefix="autograder-slot-", dir=old.parent))
        else:
            old = None
        try:
            os.chmod(old or self.slot_dir, 0o700)  # a notebook may have made it unreadable
        except OSError:
            pass
        if old is not None:
            _rmtree(old)
            return
        for entry in list(os.scandir(self.slot_dir)):
            if entry.is_dir(follow_symlinks=False):
                _rmtree(Path(entry.path))
            else:
                os.unlink(entry.path)

    # -- lifecycle
    def start(self) -> None:
        """Start the zygote process (returns at once; it imports in the background)."""
        import socket

        if self.proc is not None and self.proc.poll() is None:
            return
        if self._started:
            self._fresh_slot()
        self._started = True
        (self.slot_dir / WORK).mkdir(parents=True, exist_ok=True)
        (self.slot_dir / IPYDIR).mkdir(parents=True, exist_ok=True)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log = open(self.log_path or os.devnull, "ab")
        try:
            from .sandbox import zygote_env

            env = zygote_env()
        except ImportError:
            env = None
        try:
            self.proc = subprocess.Popen(zygote_argv(self.slot_dir, theirs.fileno(), self.torch),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, cwd=self.slot_dir / WORK, close_fds=True,
                                         pass_fds=(theirs.fileno(),), env=env,
                                         preexec_fn=_die_with_parent)
        finally:
            log.close()
            theirs.close()
        self.ctl = mine
        self._buf = bytearray()
        self._ready = False

    def _wait_ready(self) -> None:
        if self._ready:
            return
        msg, _ = self._read_msg(self.startup_timeout)
        if msg.get("ev") != "ready":
            raise ExecutorError(f"zygote did not start: {msg}")
        self.info = msg
        self._ready = True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.kept and not isinstance(self.proc, subprocess.Popen):  # a daemon's, lent to us
            self._close_ctl()
            self.proc = None
            return
        if self.proc is not None:
            self._close_ctl()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._own_slot:
            _rmtree(self.slot_dir)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._close_ctl()
            self.proc = None

    def _close_ctl(self) -> None:
        if self.ctl is not None:
            try:
                self.ctl.close()
            except OSError:
                pass
            self.ctl = None

    # -- protocol
    def _read_msg(self, timeout: float) -> tuple[dict, int | None]:
        from .judge.sandboxed import recv_fd

        try:
            return recv_fd(self.ctl, self._buf, timeout)
        except TimeoutError:
            self.kill()
            raise ExecutorError(f"zygote gave no answer within {timeout:.0f} s (killed)") from None
        except (EOFError, OSError, ValueError) as e:
            code = self.proc.poll() if self.proc is not None else None
            self.kill()
            raise ExecutorError(f"zygote exited (code {code}): {e}"
                                + (f"; see {self.log_path}" if self.log_path else "")) from None

    def _send(self, msg: dict) -> None:
        try:
            self.ctl.sendall(json.dumps(msg).encode() + b"\n")
        except (OSError, AttributeError) as e:
            self.kill()
            raise ExecutorError("zygote closed its control socket") from e

    def open_child(self, files_dir: str | os.PathLike | None = None, lang: str | None = None):
        """A fresh process for one notebook: ``(socket to it, its pid in the sandbox)``.

        ``files_dir``'s files are copied into the (emptied) working directory first;
        ``lang``: the language of messages made in that process (AUTOGRADER_LANG there).
        """
        import socket

        if self._child_open:
            # the last notebook's child was never closed (its grading stopped on an error): its
            # zygote may still owe a message about it, which must not be read as this
            # notebook's answer: a new zygote instead
            self.kill()
        if not self.alive():
            self.start()
        self._wait_ready()
        work = self.slot_dir / WORK
        _clear_dir(work)
        if files_dir is not None:  # the assignment's files; never a notebook: the one being
            # graded holds the hidden tests, restored from the gradebook
            shutil.copytree(files_dir, work, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"))
        self._send({"op": "open", **({"lang": lang} if lang else {})})
        msg, fd = self._read_msg(60)
        if msg.get("ev") != "opened" or fd is None:
            self.kill()
            raise ExecutorError(f"zygote did not open a notebook: {msg}")
        self._child_open = True
        return socket.socket(fileno=fd), msg.get("pid")

    def close_child(self, kill: bool = False, timeout: float = 10.0) -> dict:
        """Wait for the notebook's process to end (killing it if asked, or if it lingers)."""
        self._child_open = False  # answered below, or the zygote is gone
        if self.ctl is None:
            return {"leftover": 0, "clean": True}
        if kill:
            self._send({"op": "kill"})
        try:
            msg, _ = self._read_msg_soft(timeout)
            if msg is None:
                self._send({"op": "kill"})
                msg, _ = self._read_msg(timeout)
        except ExecutorError:
            # it died while the notebook ran (a student's code may kill its parent): whether the
            # notebook got to its end first is a race, so the notebook fails either way, with
            # this reason, and its cells' results are not kept
            raise ExecutorError("the zygote (the grading process that starts each notebook) "
                                "died while this notebook ran") from None
        if not msg.get("clean", True) or msg.get("leftover"):
            # something of this notebook could not be wiped, or it left processes behind (the
            # zygote reaps them, but a chain of them, each in its own group, can outlast the
            # reaping and signal the next student's notebook): the next one gets a new zygote,
            # and ending this one ends its whole sandbox (its own pid namespace)
            self.kill()
        return msg

    def _read_msg_soft(self, timeout: float):
        from .judge.sandboxed import recv_fd

        try:
            return recv_fd(self.ctl, self._buf, timeout)
        except TimeoutError:
            return None, None
        except (EOFError, OSError, ValueError) as e:
            self.kill()
            raise ExecutorError(f"zygote exited: {e}") from None

    def run(self, files_dir, cells: list[tuple[int, str]], *, cell_timeout: float | None = 60,
            notebook_timeout: float | None = 600, error_on_timeout: dict | None = None,
            max_output_chars: int = 100_000, roles: dict | None = None, lang: str = "en",
            **_ignored) -> dict:
        """Run ``cells`` ([(index, source)]) in one fresh child, all as student cells unless
        ``roles`` says otherwise (see :mod:`autograder.judge.runner`)."""
        from .judge.runner import Plan, run_notebook

        roles = roles or {}
        plan = Plan([(i, src, roles.get(i, "student")) for i, src in cells],
                    cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                    error_on_timeout=error_on_timeout, max_output_chars=max_output_chars,
                    student_torch=has_torch(self.torch), lang=lang)
        return run_notebook(self, plan, files_dir=files_dir)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except Exception:
        return False


def _rmtree(path: Path) -> None:
    root = os.path.realpath(path)

    def onerror(func, p, exc):  # a student may chmod 000 what they wrote
        try:
            parent = os.path.realpath(os.path.dirname(p))
            if parent == root or parent.startswith(root + os.sep):  # never above the tree
                os.chmod(parent, 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


def _clear_dir(path: Path) -> None:
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True)
        return
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _rmtree(Path(entry.path))
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


# ---------------------------------------------------------------------------- nbgrader


_ZYGOTES: dict[str, Zygote] = {}

def shared_zygote(slot_root: str = "", log_path: str | None = None, torch: bool | str = True) -> Zygote:
    """This process's zygote (one per worker process), started on first use.

    A pool worker first adopts the zygote the grading command started for it
    before forking the pool (:func:`prestart`), if there is one.
    """
    key = f"{os.getpid()}:{slot_root}:{torch}"
    z = _ZYGOTES.get(key)
    if z is None:
        z = _adopt(slot_root, torch) or Zygote(slot_root=slot_root or None, log_path=log_path,
                                               torch=torch)
        _ZYGOTES[key] = z
    if not z.alive():
        z.start()
    return z


# ---------------------------------------------------------------------------- pre-started zygotes
#
# A zygote spends ~4 s importing torch and warming up. The grading command starts one per
# pool worker first thing (prestart), while it imports nbgrader and checks the gradebook;
# the pool's workers, forked afterwards, each adopt one (pool worker k takes zygote k).

_PRESTARTED: dict = {"slot_root": None, "zygotes": [], "taken": None}


def prestart(n: int, slot_root: str, log_path: str | None = None,
             torch: bool | str = True) -> list[Zygote]:
    """Start ``n`` zygotes now, for the ``n`` pool workers this process is about to fork."""
    import multiprocessing

    zs = [Zygote(slot_root=slot_root, log_path=log_path, torch=torch) for _ in range(n)]
    for z in zs:
        z.start()
    # which worker takes which: the next free index, shared by the forked workers
    _PRESTARTED.update(slot_root=slot_root, zygotes=zs, taken=multiprocessing.Value("i", 0))
    return zs


_KEPT: dict = {"slot_root": None, "log_path": None, "zygotes": {}}


def keep_zygotes(slot_root: str, log_path: str | None = None) -> None:
    """This process is a grading daemon: its zygotes live in ``slot_root`` and outlast each run."""
    _KEPT.update(slot_root=slot_root, log_path=log_path)


def kept_slot_root() -> str | None:
    return _KEPT["slot_root"]


def ready_kept(n: int, torch: bool | str) -> list[Zygote]:
    """In the daemon: ``n`` live zygotes of this kind, started (and waited for) if missing."""
    zs = [z for z in _KEPT["zygotes"].get(torch, []) if z.alive()]
    while len(zs) < n:
        z = Zygote(slot_root=_KEPT["slot_root"], log_path=_KEPT["log_path"], torch=torch)
        z.kept = True
        z.start()
        zs.append(z)
    _KEPT["zygotes"][torch] = zs
    for z in zs:
        z._wait_ready()  # in the daemon, once: the runs it forks find them ready
    return zs


def drop_kept(kill: bool = False) -> None:
    """In the daemon: forget (and with ``kill``, stop) its zygotes: a run ended uncleanly."""
    for zs in _KEPT["zygotes"].values():
        for z in zs:
            if kill:
                z.kill()
            else:
                z.close()
            if z._own_slot:
                _rmtree(z.slot_dir)
    _KEPT["zygotes"] = {}


def prestart_kept(n: int, torch: bool | str) -> list[Zygote]:
    """In a run forked from a grading daemon: the daemon's zygotes, for the pool to adopt."""
    import multiprocessing

    # not z.alive(): they are the daemon's children, not ours, and Popen.poll() would call
    # them gone; the daemon checked them just before it forked this run
    zs = [z for z in _KEPT["zygotes"].get(torch, []) if z.proc is not None][:n]
    _PRESTARTED.update(slot_root=_KEPT["slot_root"], zygotes=zs,
                       taken=multiprocessing.Value("i", 0))
    return zs


def release_prestarted() -> None:
    """In the parent, once the pool is forked: close its copies of the zygotes' pipes.

    A zygote stops when its worker closes its input; no other process may hold it open.
    The parent still reaps them (:func:`reap_prestarted`): they are its children.
    """
    for z in _PRESTARTED["zygotes"]:
        z._close_ctl()


def reap_prestarted(timeout: float = 10.0) -> None:
    """In the parent, after the pool (or instead of it): wait for, or kill, the zygotes it started."""
    release_prestarted()  # closing our ends is what lets an unadopted zygote stop
    for z in _PRESTARTED["zygotes"]:
        proc = z.proc
        if proc is None or z.kept:  # a daemon's: it outlasts the run
            continue
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if z._own_slot:
            _rmtree(z.slot_dir)
    _PRESTARTED.update(slot_root=None, zygotes=[], taken=None)


def keep_prestarted(i: int) -> None:
    """In a judge of its own (:mod:`autograder.judge.apart`), forked from the command after
    :func:`prestart`: zygote ``i`` is the one this process adopts; close the others' sockets."""
    zs = _PRESTARTED["zygotes"]
    for j, z in enumerate(zs):
        if j != i:
            z._close_ctl()
    _PRESTARTED.update(zygotes=zs[i:i + 1], taken=None)  # no other process takes from it


def forget_prestarted() -> None:
    """In a pool worker whose judge has a process of its own (that judge adopts the zygote):
    hold none of the pre-started zygotes' sockets, and adopt none later."""
    release_prestarted()
    _PRESTARTED.update(slot_root=None, zygotes=[], taken=None)


def _adopt(slot_root: str, torch: bool | str = True) -> Zygote | None:
    """In a pool worker: take the pre-started zygote meant for it, and let go of the others."""
    zs = _PRESTARTED["zygotes"]
    if not zs or _PRESTARTED["slot_root"] != slot_root or zs[0].torch != torch:
        return None
    taken = _PRESTARTED["taken"]
    if taken is None:  # this process's only (keep_prestarted)
        k = 0
    else:
        with taken.get_lock():
            k = taken.value
            taken.value += 1
    mine = zs[k] if k < len(zs) and zs[k].proc is not None else None
    for z in zs:
        if z is not mine and z.proc is not None:
            z._close_ctl()  # another worker's: hold none of its control sockets
    _PRESTARTED.update(slot_root=None, zygotes=[], taken=None)
    if mine is None:  # a worker the pool started later (one died): a zygote of its own
        return None
    mine.proc = _Adopted(mine.proc)
    return mine


class _Adopted:
    """A zygote process started by the parent, driven from a pool worker (not its parent).

    ``subprocess.Popen`` cannot wait for another process's child (it would report it dead
    at once); this answers ``poll``/``wait``/``kill`` from ``/proc`` and signals instead.
    The parent reaps the process when it exits.
    """

    def __init__(self, popen: subprocess.Popen):
        self.pid = popen.pid
        self.stdin = popen.stdin
        self.stdout = popen.stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                with open(f"/proc/{self.pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state in ("Z", "X"):  # exited, waiting for the parent to reap it
                    self.returncode = -1
            except (OSError, IndexError):
                self.returncode = -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@atexit.register
def _close_zygotes() -> None:
    for key, z in list(_ZYGOTES.items()):
        if key.startswith(f"{os.getpid()}:"):
            z.close()
            del _ZYGOTES[key]


def _warm_execute_class():
    from nbformat import from_dict
    from nbgrader.preprocessors import Execute
    from traitlets import Float, Integer, Unicode

    class WarmExecute(Execute):
        """nbgrader's Execute preprocessor, run in a forked warm zygote instead of a new kernel.

        Configure like ``Execute`` (``timeout`` per cell, ``error_on_timeout``);
        plus ``notebook_timeout``, ``max_output_chars`` and ``slot_root``.
        """

        notebook_timeout = Integer(600, help="Wall-clock limit for one notebook, in seconds "
                                             "(the cells left when it expires get no points)."
                                   ).tag(config=True)
        grace = Float(5.0, help="Seconds a timed-out cell gets to stop after its interrupt, "
                                "before its process is killed.").tag(config=True)
        max_output_chars = Integer(10_000_000, help="Characters of output kept per cell "
                                                   "(LimitOutput trims further).").tag(config=True)
        slot_root = Unicode("", help="Directory for the zygotes' slot directories "
                                     "(default: the system's temporary directory).").tag(config=True)
        course_root = Unicode("", help="The course directory, whose source/ notebooks say which "
                                       "instructor cells run where (default: the working "
                                       "directory).").tag(config=True)

        def preprocess(self, nb, resources=None, km=None):
            resources = resources if resources is not None else {}
            path = (resources.get("metadata") or {}).get("path") or os.getcwd()
            todo = []
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if not cell.source.strip() or \
                        self.skip_cells_with_tag in cell.metadata.get("tags", []):
                    continue
                todo.append((i, cell.source))
            nbg = resources.get("nbgrader") or {}
            trusted = trusted_source(self.course_root or os.getcwd(),
                                     nbg.get("assignment", ""), nbg.get("notebook", ""))
            from .judge.runner import Plan, cell_role, run_notebook

            roles = {i: cell_role(nb.cells[i], trusted) for i, _ in todo}
            eot = dict(self.error_on_timeout or {})
            if eot:
                eot.setdefault("output_type", "error")  # as nbclient adds it
            plan = Plan([(i, src, roles[i]) for i, src in todo],
                        cell_timeout=self._get_timeout(None),
                        notebook_timeout=self.notebook_timeout or None,
                        error_on_timeout=eot or None, max_output_chars=self.max_output_chars,
                        student_torch=trusted["student_torch"],
                        owned=frozenset(trusted["owned"]), lang=trusted.get("lang", "en"),
                        grace=self.grace)
            from .judge import apart

            judge, result = apart.client(), None
            if judge is not None:  # a judge of its own (a cold grading command)
                try:
                    result = judge.run(plan, files_dir=path, kind=zygote_kind(trusted))
                except apart.JudgeGone as e:
                    self.log.warning("%s", e)
            if result is None:
                zyg = shared_zygote(self.slot_root, torch=zygote_kind(trusted))
                try:
                    result = run_notebook(zyg, plan, files_dir=path)
                except ExecutorError:
                    zyg.kill()
                    raise
            apply_result(nb, todo, result)
            nb.metadata["language_info"] = from_dict(_language_info())
            incidents = []
            err = result.get("error")
            if err:
                incidents.append(err)
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and any(
                        o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                    if not (err and err.get("cell") == i):
                        incidents.append({"kind": "timeout", "cell": i,
                                          "grade_id": _grade_id(cell),
                                          "detail": f"cell {i} ran past {self.timeout} s "
                                                    f"and was interrupted"})
            if err and err.get("cell") is not None:
                err = incidents[0] = dict(err, grade_id=_grade_id(nb.cells[err["cell"]]))
            if not result.get("clean", True):
                incidents.append({"kind": "processes", "cell": None, "grade_id": None,
                                  "detail": "the notebook left files the sandbox could not "
                                            "remove: its zygote was replaced"})
            if result.get("leftover"):
                incidents.append({"kind": "processes", "cell": None, "grade_id": None,
                                  "detail": f"the notebook left {result['leftover']} process(es) "
                                            f"running after it ended (detached?): killed"})
            notebook = (resources.get("nbgrader") or {}).get("notebook", "")
            for inc in incidents:
                inc.pop("outputs", None)
                inc["notebook"] = notebook
            # what went wrong (timeouts, dead processes) and how long each cell took go to
            # the submission's own record (autograder.grading puts one in resources)
            record = resources.get("autograder_record")
            if record is not None:
                record["incidents"].extend(incidents)
                for i, got in sorted(result.get("cells", {}).items()):
                    if got.get("seconds") is not None:
                        record["cell_seconds"].append(
                            (notebook, _grade_id(nb.cells[i]) or f"cell {i}", got["seconds"]))
            self.log.debug("warm execution: %s", result.get("seconds"))
            return nb, resources

    return WarmExecute


_TRUSTED: dict = {}


def assignment_zygote_kind(course_root: str | os.PathLike, assignment: str) -> bool | str:
    """The zygote ``assignment`` needs: ``False`` if its student's code may not use torch
    (source metadata says), ``"optim"`` (:data:`OPTIM`) if the instructor's notebook uses
    ``torch.optim``, else ``True``.

    The first optimizer a process makes imports ``torch._dynamo`` (~2 s of CPU): an ``"optim"``
    zygote does that once, before forking, so that each notebook need not; the others skip it.
    A student who uses an optimizer where the course does not pays it in their own notebook.
    """
    kinds = [zygote_kind(t) for t in _trusted_notebooks(course_root, assignment)]
    if NO_TORCH_PLOTS in kinds:
        return NO_TORCH_PLOTS
    if False in kinds:
        return False
    if OPTIM in kinds:
        return OPTIM
    return True if True in kinds else TORCH_LEAN


def zygote_kind(trusted: dict) -> bool | str:
    """One notebook's zygote kind, from :func:`trusted_source` (see :func:`assignment_zygote_kind`):
    without torch, pyplot warmed or not (:data:`NO_TORCH_PLOTS`: a student cell draws), or
    with torch, its optimizers warmed or not, pyplot and backward(gradient) warmed only where a
    cell of the student's process uses them (:data:`TORCH_LEAN` otherwise)."""
    if not trusted["student_torch"]:
        return NO_TORCH_PLOTS if trusted.get("student_draws") else False
    if trusted.get("uses_optim"):
        return OPTIM
    return True if trusted.get("student_draws") or trusted.get("student_seeds") else TORCH_LEAN


def assignment_draws(course_root: str | os.PathLike, assignment: str) -> bool:
    """Whether a code cell of the assignment's ``source/`` notebooks names matplotlib or the
    course's drawing helpers (the judge then sets up pyplot before its workers fork:
    :func:`autograder.grading.warm_judge`)."""
    return any(t.get("draws") for t in _trusted_notebooks(course_root, assignment))


def assignment_seeds(course_root: str | os.PathLike, assignment: str) -> bool:
    """Whether a judge cell of the assignment's ``source/`` notebooks calls torch's
    ``backward`` with a gradient (or ``grad_outputs``), whose first call imports sympy: the
    judge then does it before its workers fork (:func:`autograder.grading.warm_judge`)."""
    return any(t.get("judge_seeds") for t in _trusted_notebooks(course_root, assignment))


def _trusted_notebooks(course_root: str | os.PathLike, assignment: str) -> list[dict]:
    """:func:`trusted_source` of each of the assignment's ``source/`` notebooks."""
    return [trusted_source(str(course_root), assignment, nb.stem)
            for nb in sorted((Path(course_root) / "source" / assignment).glob("*.ipynb"))]


_OPTIM_RE = re.compile(r"\boptim\b")
#: ``.backward(<something>)`` or ``grad_outputs=``: a gradient handed to torch's backward
_SEEDS_RE = re.compile(r"\.backward\(\s*[^)\s]|\bgrad_outputs\b")
_DRAWS_RE = re.compile(r"\b(matplotlib|pyplot|plt|draw_graph|draw_side_by_side|autograder\.plots)\b")


def trusted_source(course_root: str, assignment: str, notebook: str) -> dict:
    """What the instructor's ``source/`` notebook says about running ``notebook``.

    :func:`autograder.judge.runner.trusted_cells` plus ``student_torch``, ``uses_optim``
    (a code cell names ``optim``: :func:`zygote_kind`), ``draws`` (one names matplotlib:
    :func:`assignment_draws`) and ``judge_seeds`` (a judge cell hands torch's ``backward`` a
    gradient: :func:`assignment_seeds`); read from the
    course, never from the submission. Without a source notebook: no special roles,
    torch available.
    """
    path = Path(course_root) / "source" / assignment / f"{notebook}.ipynb"
    key = str(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {"roles": {}, "by_source": {}, "owned": set(), "student_torch": True, "lang": "en"}
    hit = _TRUSTED.get(key)
    if hit is None or hit[0] != mtime:
        from .judge.runner import cell_role, trusted_cells

        with open(path, encoding="utf-8") as f:
            src = json.load(f)
        meta = (src.get("metadata") or {}).get("autograder") or {}
        code_cells = [c for c in src.get("cells") or [] if c.get("cell_type") == "code"]
        code = ["".join(c.get("source") or "") if isinstance(c.get("source"), list)
                else str(c.get("source") or "") for c in code_cells]
        cells = trusted_cells(src)
        # the cells that run in the student's process (the judge's own rule for each cell)
        student = [s for c, s in zip(code_cells, code) if cell_role(c, cells) != "judge"]
        judge = [s for c, s in zip(code_cells, code) if cell_role(c, cells) == "judge"]
        hit = (mtime, dict(cells,
                           student_torch=meta.get("student_torch", True) is not False,
                           uses_optim=any(_OPTIM_RE.search(s) for s in code),
                           draws=any(_DRAWS_RE.search(s) for s in code),
                           student_draws=any(_DRAWS_RE.search(s) for s in student),
                           student_seeds=any(_SEEDS_RE.search(s) for s in student),
                           judge_seeds=any(_SEEDS_RE.search(s) for s in judge),
                           lang=meta.get("lang") or "en"))  # the checks' messages speak it
        _TRUSTED[key] = hit
    return hit[1]


def _grade_id(cell) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def apply_result(nb, todo: list[tuple[int, str]], result: dict) -> None:
    """Put the outputs a zygote returned into the notebook's cells (as nbclient would)."""
    from nbformat import from_dict

    cells = result["cells"]
    err = result.get("error")
    for i, _src in todo:
        cell = nb.cells[i]
        got = cells.get(i)
        if got is not None:
            cell.outputs = [from_dict(o) for o in got["outputs"]]
            cell.execution_count = got.get("execution_count")
            continue
        if err and err.get("cell") == i:
            cell.outputs = [from_dict(o) for o in err.get("outputs", [])]
        else:
            why = err.get("detail", "the notebook stopped") if err else "the notebook stopped"
            cell.outputs = [from_dict(_error_output(
                NOT_RUN, f"not run: {why} (in an earlier cell)"))]
        cell.execution_count = None


def _error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]}


def __getattr__(name):  # WarmExecute is built lazily: importing this module stays cheap
    if name == "WarmExecute":
        cls = _warm_execute_class()
        globals()["WarmExecute"] = cls
        return cls
    raise AttributeError(name)


# ============================================================================ zygote side


def _warm_matplotlib(shell) -> None:
    """pyplot, its inline backend and IPython's hook for it, set up in the zygote (~0.6 s)."""
    import matplotlib

    try:
        import matplotlib.pyplot  # noqa: F401
        import matplotlib_inline.backend_inline  # noqa: F401
        shell.enable_matplotlib(None)  # whatever MPLBACKEND says; inline flushes figures per cell
    except Exception:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The first figure makes pyplot load its backend and register its own post_execute
    # hook with IPython: do it here, once, not in every notebook (nor in the middle of one,
    # where it looks like submitted code changing the shell).
    plt.close(plt.figure())


@contextlib.contextmanager
def imports_without_gc(freeze: bool = True):
    """Run an import-heavy warm-up with the cyclic garbage collector off, then freeze its heap.

    Importing torch, nbgrader and matplotlib allocates a few hundred thousand long-lived
    objects and almost no garbage, yet with the collector on Python runs full collections
    over that growing heap again and again: about a quarter of the import time
    (``import torch, matplotlib.pyplot, sympy, nbgrader.apps``: 2.3 user CPU-s with it,
    1.75 without). ``freeze``: then move everything made so far to the permanent
    generation (:func:`gc.freeze`), so later collections, and those of processes forked
    from this one, neither scan it nor write to its pages (copy-on-write). Leaves the
    collector on or off as it found it; a process must not fork inside this block, or
    the child starts with the collector off.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_on:
            gc.enable()


def _warm_up(torch: bool | str = True):
    """:func:`_warm_up_imports` without the garbage collector, which then collects once and
    freezes what the warm-up made: every child starts with a small young heap."""
    with imports_without_gc(freeze=False):
        shell = _warm_up_imports(torch)
    # Everything imported so far (torch's ~100k objects) moves to the GC's permanent
    # generation: a collection in a child then scans only what the notebook made, and
    # does not write to (copy-on-write) the zygote's pages.
    gc.collect()
    gc.freeze()
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:
        print(f"autograder zygote: warning: {threads} threads before fork", file=sys.stderr)
    return shell


def _warm_up_imports(torch: bool | str = True):
    """Import what every notebook imports, and build the IPython shell each child will use.

    ``torch=False``: a zygote for an assignment graded without torch (none of it is imported,
    nor matplotlib: see below);
    ``torch="optim"``: also what torch's optimizers import on first use (:func:`assignment_zygote_kind`);
    ``torch=TORCH_LEAN``: torch, but neither pyplot nor backward(gradient) warmed.
    """
    import IPython  # noqa: F401
    import numpy  # noqa: F401
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False  # no sqlite file, no saving thread
    # plain tracebacks: IPython's coloured ones re-run pygments' lexer set-up for every
    # frame (~0.2 s each), which would dominate the cost of a failing test cell
    cfg.InteractiveShell.colors = "nocolor"
    shell = _shell_class().instance(config=cfg)
    if torch and torch != TORCH_LEAN:  # with torch, or NO_TORCH_PLOTS
        _warm_matplotlib(shell)
    # else (ps3: an engine without torch, whose cells draw nothing, its pictures drawn by the
    # judge; ps1: TORCH_LEAN): matplotlib is left to a notebook that imports it, which then
    # sets up the same inline backend itself (matplotlib_inline, from MPLBACKEND): 0.6 s of CPU less per
    # zygote start, which is what competes with the grading command's own start-up
    import autograder  # noqa: F401
    import autograder.checks as checks

    if has_torch(torch):
        import torch as _torch

        # torch imports parts of itself on first use (backward() with a gradient pulls in
        # sympy, ~0.6 s): use them once here, as a student's cell may. This starts no thread
        # (fork stays safe).
        checks.torch_gradients(lambda a, b: (a @ b).tanh().mean(),
                               checks.random_inputs((2, 3), (3, 2), seed=0))
        if torch != TORCH_LEAN:
            x = _torch.ones(2, dtype=_torch.float64, requires_grad=True)
            (x * 2.0).backward(_torch.ones(2, dtype=_torch.float64))
    for mod in ("autograder.graph", "autograder.testing", "autograder.plots"):
        try:  # what the assignments' cells import
            __import__(mod)
        except ImportError:
            pass
    # Format one traceback now: IPython's first traceback imports and caches stack_data
    # and pygments (~0.7 s), which every child would otherwise pay again.
    for code in ("from autograder.checks import assert_close\nassert_close(1.0, 2.0, 'warm-up')",
                 "def f(:\n  pass"):
        try:
            exec(compile(code, "<warm-up>", "exec"), {})
        except SyntaxError:
            shell.showsyntaxerror()
        except Exception:
            shell.showtraceback()
    if torch == OPTIM:
        from .sandbox import _settle_lazy_imports

        _settle_lazy_imports()  # torch._dynamo, which the first optimizer imports: do it now
    return shell


def _describe_status(status: int | None) -> str:
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {os.WEXITSTATUS(status)} (os._exit?)"


def _kill_tree(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _children() -> list[int]:
    me = os.getpid()
    kids: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{tid}/children") as f:
                kids.update(int(x) for x in f.read().split())
        return sorted(kids)
    except OSError:
        pass
    for d in os.listdir("/proc"):  # no /proc/*/children: scan parents
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        kids.add(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(kids)


def _reap_killed_group(grace: float = 0.5) -> None:
    """Reap the notebook's own process group, just sent SIGKILL, before looking for escapees.

    A helper the notebook started in its group (a subprocess, ps3's torch-less
    worker) dies with it; only a process that left the group (setsid: detached)
    is still alive afterwards and is reported by :func:`_reap_descendants`.
    """
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            wpid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if wpid == 0:
            if not _children():
                return
            time.sleep(0.005)  # still dying (or detached: then we give up at the deadline)


def _reap_descendants(rounds: int = 50) -> int:
    """Kill every remaining descendant (they are reparented to us: we are a subreaper).

    Returns how many were still alive (a detached daemon, say), for the report.
    """
    killed: set[int] = set()
    for _ in range(rounds):
        while True:
            try:
                wpid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return len(killed)
            if not wpid:
                break
        kids = _children()
        if not kids:
            return len(killed)
        for k in kids:
            _kill_tree(k)
            killed.add(k)
        time.sleep(0.01)
    return len(killed)


def _language_info() -> dict:
    import platform

    return {"name": "python", "version": platform.python_version(), "mimetype": "text/x-python",
            "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
            "nbconvert_exporter": "python", "file_extension": ".py"}


# ---------------------------------------------------------------------------- the child


class _Sink:
    """The current cell's outputs, in nbformat's JSON shape."""

    def __init__(self, cap: int):
        self.cap = cap
        self.reset()

    def reset(self) -> None:
        self.outputs: list[dict] = []
        self.chars = 0
        self.truncated = False
        self.clear_on_next = False

    def _room(self, n: int) -> int:
        return max(0, self.cap - self.chars) if n > 0 else 0

    def _pre(self) -> None:
        if self.clear_on_next:
            self.outputs = []
            self.clear_on_next = False

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        room = self._room(len(text))
        if room < len(text):
            text = text[:room]
            if not self.truncated:
                self.truncated = True
                text += "\n... output truncated by the autograder ...\n"
        if not text:
            return
        self._pre()
        self.chars += len(text)
        last = self.outputs[-1] if self.outputs else None
        # stderr: one output per line-start write, so nbgrader's IgnorePattern can drop a
        # warning without also dropping a real error printed in the same cell
        if last is not None and last["output_type"] == "stream" and last["name"] == name and \
                (name == "stdout" or not last["_parts"][-1].endswith("\n")):
            last["_parts"].append(text)
        else:
            self.outputs.append({"output_type": "stream", "name": name, "_parts": [text]})

    def add(self, out: dict) -> None:
        if out.get("output_type") == "error":  # never dropped: a test's failure must show
            self._pre()
            self.outputs.append(out)
            return
        size = sum(len(v) if isinstance(v, str) else 100 for v in out.get("data", {}).values())
        if self.chars + size > self.cap:
            self.stream("stderr", "")
            if not self.truncated:
                self.truncated = True
                self.outputs.append({"output_type": "stream", "name": "stdout",
                                     "_parts": ["... output truncated by the autograder ...\n"]})
            return
        self._pre()
        self.chars += size
        self.outputs.append(out)

    def clear(self, wait: bool) -> None:
        if wait:
            self.clear_on_next = True
        else:
            self.outputs = []

    def finish(self) -> list[dict]:
        outs = []
        for o in self.outputs:
            if o["output_type"] == "stream":
                outs.append({"output_type": "stream", "name": o["name"],
                             "text": "".join(o["_parts"])})
            else:
                outs.append(o)
        return outs


_SINK: _Sink | None = None


def _clean(s) -> str:
    if not isinstance(s, str):
        s = str(s)
    return s.encode("utf-8", "replace").decode("utf-8")


class _Stream:
    """sys.stdout / sys.stderr of the child: writes become stream outputs of the current cell."""

    encoding = "utf-8"
    errors = "replace"
    newlines = None
    closed = False

    def __init__(self, name: str, fd: int):
        self.name, self._fd = name, fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if _SINK is not None:
            _SINK.stream(self.name, _clean(s))
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        pass

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False


def _shell_class():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Pub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            if update or _SINK is None:  # update_display_data: nbclient ignores it too
                return
            _SINK.add({"output_type": "display_data", "data": _jsonable(data),
                       "metadata": _jsonable(metadata or {})})

        def clear_output(self, wait=False):
            if _SINK is not None:
                _SINK.clear(wait)

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            if _SINK is not None:
                _SINK.add({"output_type": "execute_result", "execution_count": self.prompt_count,
                           "data": _jsonable(format_dict), "metadata": _jsonable(md_dict or {})})

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        display_pub_class = Pub
        displayhook_class = Hook

        def _showtraceback(self, etype, evalue, stb):
            if _SINK is None:
                return
            try:
                ename = etype.__name__
            except Exception:
                ename = "Exception"
            try:
                value = _clean(evalue)[:_SINK.cap]
            except Exception:
                value = "<unprintable exception>"
            _SINK.add({"output_type": "error", "ename": _clean(ename), "evalue": value,
                       "traceback": _cap_lines([_clean(x) for x in (stb or [])[:200]], _SINK.cap)})

        def enable_gui(self, gui=None):
            pass

    return Shell


def _cap_lines(lines: list[str], cap: int) -> list[str]:
    """At most ``cap`` characters in all (a 50 MB exception message must not land in feedback)."""
    out, room = [], cap
    for line in lines:
        if room <= 0:
            out.append("... traceback truncated by the autograder ...")
            break
        out.append(line[:room])
        room -= len(line)
    return out


def _jsonable(obj):
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return json.loads(json.dumps(obj, default=str))


def _no_input(*args, **kwargs):
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError("raw_input was called, but this frontend does not support "
                                   "input requests.")


class _State:
    armed = False
    fired = False


def _on_alarm(signum, frame):
    if _State.armed:
        _State.fired = True
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[0] == "zygote":
        from .judge.sandboxed import zygote_main

        flags = argv[3:]
        torch = ((NO_TORCH_PLOTS if "--plots" in flags else False) if "--no-torch" in flags
                 else OPTIM if "--optim" in flags else TORCH_LEAN if "--lean" in flags else True)
        return zygote_main(argv[1], int(argv[2]), torch=torch,
                           private_tmp="--private-tmp" in argv[3:])
    print("usage: python -m autograder.executor zygote SLOT_DIR CONTROL_FD "
          "[--no-torch [--plots]|--optim|--lean]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
