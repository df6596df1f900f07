"""``autograder grade <assignment> --scheduler ADDRESS``: the same grading on a Dask cluster.

Grading beyond one machine (docs/design.md, speed and scale). :func:`autograder.grading.grade` normally grades
with a ``multiprocessing`` pool: each worker process runs ``_worker_init`` once
(the nbgrader app and a warm zygote) and then ``grade_submission(student)`` per
student. :class:`ClusterPool` is the part of that pool's interface ``grade()``
uses (``imap_unordered``, ``close``, ``join``, ``terminate``), on a
``dask.distributed`` cluster instead:

- a worker plugin (:data:`PLUGIN`) runs ``_worker_init`` in every Dask worker
  process when it is registered (and in any worker that joins later), and closes
  the worker's zygote and removes its slot directory when it is removed;
- one task per student runs ``grade_submission`` there: nbgrader's own
  Autograde and GenerateFeedback, the notebooks in the sandboxed zygote's
  forked children, exactly as on one machine;
- results come back as they finish (``as_completed``) into the same progress
  bar, failure lines, grades.csv and report. A task that fails as a whole (a
  worker lost three times, say) becomes a failed submission with its reason:
  one bad submission never stops the batch.

``--scheduler local`` starts a ``LocalCluster`` on this machine (one
single-threaded worker process per core) to try it out; the tests use it.

What the cluster needs (docs/instructor-guide.md, "Grading on several machines"):
every worker runs the course's environment (``autograder`` importable), sees the
course directory at the same path (a shared filesystem: it reads submitted/ and
writes autograded/ and feedback/ there), and reaches the gradebook. SQLite on a
shared filesystem is not safe for several machines: use PostgreSQL
(``--db-url postgresql://...``), which nbgrader supports through its ``db_url``.
Before any grading, a probe on every worker checks that it can import the
grader and see ``<course>/submitted`` with the same submissions; if not, the run
stops with :class:`ClusterError` saying which worker cannot.

Dask is optional (``pip install -e '.[cluster]'``): this module imports it only
when a :class:`ClusterPool` is made, and ``autograder grade`` without
``--scheduler`` never imports this module.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path

from .cli import lean_imports

#: the name of the worker plugin on the cluster (one grading run per cluster at a time)
PLUGIN = "autograder-grading"
#: ``--scheduler`` values that start a LocalCluster on this machine
LOCAL = ("local", "localcluster")
#: the Dask worker's periodic callbacks that run its statistical profiler
PROFILER_CALLBACKS = ("profile", "profile-cycle")


class ClusterError(RuntimeError):
    """The cluster (or the gradebook it needs) cannot be used as asked; the message says why."""


def _distributed():
    try:
        import distributed
    except ImportError as e:
        raise ClusterError("grading on a Dask cluster needs dask.distributed (and a PostgreSQL "
                           "driver for the gradebook): pip install -e '.[cluster]'") from e
    return distributed


# ---------------------------------------------------------------------------- the worker side

#: the grading run this worker process is set up for (the plugin's run id), and its slot root
_STATE = {"run": None, "slot_root": None, "cwd": None}
#: one submission at a time per process: grading's per-process state (the nbgrader app,
#: the zygote, the incident lists) is not thread-safe, and a worker may have several threads
_LOCK = threading.Lock()


def _setup_worker(course: str, assignment: str, log_path: str, feedback: bool,
                  db_url: str | None, run: str) -> None:
    """What a pool worker's initializer does, in a Dask worker process."""
    lean_imports()
    from . import grading

    _teardown_worker()
    if db_url:  # the course's nbgrader_config.py reads it (nbgrader's CourseDirectory.db_url)
        os.environ["AUTOGRADER_DB_URL"] = db_url
    _STATE["cwd"] = os.getcwd()
    # the slots are local to this machine: the parent's temporary directory is not here
    _STATE["slot_root"] = tempfile.mkdtemp(prefix="autograder-slots-")
    grading._Worker.feedback_exporter = None  # made for this run's app, on first use
    grading._worker_init(course, assignment, log_path, _STATE["slot_root"], feedback)
    cd = grading._Worker.app.coursedir
    if db_url and cd.db_url != db_url:
        raise ClusterError(f"the course's nbgrader_config.py on {socket.gethostname()} gives the "
                           f"gradebook {cd.db_url!r}, not {db_url!r}: it must take "
                           f"CourseDirectory.db_url from AUTOGRADER_DB_URL")
    _STATE["run"] = run


def _teardown_worker() -> None:
    from . import executor, grading

    _STATE["run"] = None
    executor._close_zygotes()
    app = grading._Worker.app
    if app is not None:
        for h in list(app.log.handlers):
            h.close()
        grading._Worker.app = None
        warnings_log = logging.getLogger("py.warnings")  # _worker_init sent it to the run's log
        warnings_log.handlers[:] = []
        warnings_log.propagate = True
        logging.captureWarnings(False)
    grading._Worker.feedback_exporter = None
    if _STATE["slot_root"]:
        shutil.rmtree(_STATE["slot_root"], ignore_errors=True)
        _STATE["slot_root"] = None
    if _STATE["cwd"]:
        try:
            os.chdir(_STATE["cwd"])
        except OSError:
            pass
        _STATE["cwd"] = None


def grade_task(student: str, run: str):
    """One Dask task: ``grade_submission(student)`` in this worker, set up for run ``run``."""
    from .grading import SubmissionResult, grade_submission

    with _LOCK:
        if _STATE["run"] != run:
            return SubmissionResult(student, ok=False,
                                    reason=f"the Dask worker on {socket.gethostname()} was not "
                                           f"set up for this grading run (another run on the "
                                           f"same cluster?); grade it again")
        return grade_submission(student)


def probe(course: str, assignment: str) -> dict:
    """Run on every worker before grading: can it see the course, and is it sandboxed?"""
    lean_imports()
    from .grading import find_students
    from .sandbox import sandbox_status

    sub = Path(course) / "submitted"
    st = sandbox_status()
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "config": (Path(course) / "nbgrader_config.py").is_file(),
            "submitted": sub.is_dir(),
            "students": find_students(Path(course), assignment) if sub.is_dir() else [],
            "sandbox": (st.ok, st.reason)}


def _plugin_class():
    from distributed.diagnostics.plugin import WorkerPlugin

    class GradingPlugin(WorkerPlugin):
        """Sets a Dask worker up as a grading worker (``_worker_init``) and tears it down."""

        name = PLUGIN

        def __init__(self, course: str, assignment: str, log_path: str, feedback: bool,
                     db_url: str | None, run: str):
            self.args = (course, assignment, log_path, feedback, db_url, run)
            self.paused: list[str] = []

        def setup(self, worker):  # in the worker's main thread, so the zygote outlives tasks
            # Dask's statistical profiler samples the task thread's stack every 10 ms: with
            # nbgrader's deep stacks that made each submission ~1.8x slower. Paused while
            # grading, resumed by teardown.
            pcs = worker.periodic_callbacks
            self.paused = [n for n in PROFILER_CALLBACKS if n in pcs and pcs[n].is_running()]
            for n in self.paused:
                pcs[n].stop()
            _setup_worker(*self.args)

        def teardown(self, worker):
            _teardown_worker()
            for n in self.paused:
                if n in worker.periodic_callbacks:
                    worker.periodic_callbacks[n].start()
            self.paused = []

    GradingPlugin.__module__ = __name__
    GradingPlugin.__qualname__ = "GradingPlugin"
    return GradingPlugin


_LAZY: dict = {}


def __getattr__(name):  # GradingPlugin is made on first use: importing this module needs no dask
    if name == "GradingPlugin":
        if name not in _LAZY:
            _LAZY[name] = _plugin_class()
        return _LAZY[name]
    raise AttributeError(name)


# ---------------------------------------------------------------------------- the client side


class ClusterPool:
    """What :func:`autograder.grading.grade` uses of a ``multiprocessing.Pool``, on Dask.

    ``scheduler``: a scheduler address (``tcp://host:8786``) or ``"local"`` for a
    LocalCluster of ``jobs`` single-threaded worker processes on this machine.
    ``students``: the submissions the parent found, which every worker must see.
    """

    def __init__(self, scheduler: str, jobs: int, *, course: Path, assignment: str,
                 students: list[str], log_path: str, feedback: bool, db_url: str | None,
                 stream=None, connect_timeout: float = 30, workers_timeout: float = 60):
        distributed = _distributed()
        self.scheduler = scheduler
        self.stream = stream
        self.cluster = None
        self.client = None
        self.futures: dict = {}
        self.run = uuid.uuid4().hex[:12]
        self.assignment = assignment
        self._registered = False
        try:
            if scheduler.lower() in LOCAL:
                self.cluster = distributed.LocalCluster(
                    n_workers=jobs, threads_per_worker=1, processes=True,
                    memory_limit=0,  # notebooks run in the zygotes' children, under their own limits
                    dashboard_address=None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
            else:
                try:
                    self.client = distributed.Client(scheduler, timeout=connect_timeout)
                except (OSError, TimeoutError) as e:
                    raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: "
                                       f"{e}") from e
                try:
                    self.client.wait_for_workers(1, timeout=workers_timeout)
                except TimeoutError as e:
                    raise ClusterError(f"no Dask worker connected to {scheduler} within "
                                       f"{workers_timeout:.0f} s") from e
            self._check_workers(str(course), assignment, students, db_url)
            plugin = __getattr__("GradingPlugin")(str(course), assignment, log_path, feedback,
                                                  db_url, self.run)
            self._registered = True  # from now on, close() unregisters it (even half set up)
            try:
                self.client.register_plugin(plugin, name=PLUGIN)
            except Exception as e:
                raise ClusterError(f"setting the Dask workers up for grading failed: "
                                   f"{type(e).__name__}: {e}") from e
        except BaseException:
            self.close()
            self.join()
            raise

    @property
    def processes(self) -> int:
        """Worker processes on the cluster now (the ``jobs`` of the run's summary)."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def _say(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def _check_workers(self, course: str, assignment: str, students: list[str],
                       db_url: str | None) -> None:
        try:
            answers = self.client.run(probe, course, assignment)
        except Exception as e:  # e.g. ModuleNotFoundError: autograder, on a worker
            raise ClusterError(f"the Dask workers cannot run the grader ({type(e).__name__}: "
                               f"{e}); every worker needs the course's environment "
                               f"(pip install -e '.[cluster]')") from e
        if not answers:
            raise ClusterError(f"no Dask worker connected to {self.scheduler}")
        bad = []
        for addr, a in sorted(answers.items()):
            where = f"worker {addr} on {a['host']}"
            if not a["submitted"] or not a["config"]:
                bad.append(f"{where} cannot see {course}/"
                           f"{'submitted' if a['config'] else 'nbgrader_config.py'}")
            elif set(students) - set(a["students"]):
                missing = sorted(set(students) - set(a["students"]))
                bad.append(f"{where} sees no submitted/<student>/{assignment} for "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
            if not a["sandbox"][0]:
                from .sandbox import unsandboxed_warning

                self._say(f"{where}: {unsandboxed_warning(a['sandbox'][1])}")
        if bad:
            raise ClusterError("the workers need the course directory at the same path (a "
                               "shared filesystem):\n  " + "\n  ".join(bad))
        hosts = {a["host"] for a in answers.values()}
        url = db_url or ""
        if len(hosts) > 1 and url.startswith("sqlite"):
            self._say(f"warning: {len(hosts)} machines share a SQLite gradebook ({url}); "
                      f"SQLite over a network filesystem can lose or corrupt grades: use "
                      f"PostgreSQL (--db-url postgresql://...)")

    def imap_unordered(self, func, students):
        """``grade_submission`` of each student on the cluster; results as they finish."""
        from .grading import SubmissionResult, grade_submission

        if func is not grade_submission:
            raise ValueError("a ClusterPool runs autograder.grading.grade_submission only")
        distributed = _distributed()
        students = list(students)
        keys = [f"grade-{self.assignment}-{s}-{self.run}" for s in students]
        futures = self.client.map(grade_task, students, run=self.run, key=keys, pure=False)
        self.futures = dict(zip(futures, students))
        for fut in distributed.as_completed(futures):
            student = self.futures[fut]
            if fut.status == "finished":
                yield fut.result()
            else:  # the task itself failed (lost workers, a pickling error): that student only
                exc = fut.exception() if fut.status == "error" else None
                reason = (f"{type(exc).__name__}: {exc}" if exc is not None
                          else f"the Dask task was {fut.status}")
                yield SubmissionResult(student, ok=False, reason=f"on the cluster: {reason}"[:500])
            fut.release()

    def close(self) -> None:
        """Tear the workers' grading state down (their zygotes, slot directories)."""
        if self._registered and self.client is not None:
            self._registered = False
            try:
                self.client.unregister_worker_plugin(PLUGIN)
            except Exception as e:  # noqa: BLE001  (the grades are in; say it and go on)
                self._say(f"warning: could not tear the grading workers down: {e}")

    def join(self) -> None:
        """Disconnect; a LocalCluster started here is shut down."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def terminate(self) -> None:
        """Cancel what is still running (an interrupt), then as :meth:`close` and :meth:`join`."""
        if self.client is not None and self.futures:
            try:
                self.client.cancel(list(self.futures))
            except Exception:  # noqa: BLE001
                pass
        self.close()
