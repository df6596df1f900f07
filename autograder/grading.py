"""``autograder grade <assignment>``: from submitted/ to grades, feedback and a report.

One command for the instructor (docs/instructor-guide.md; the processes: docs/architecture.md):

1. autograde every submission in ``submitted/*/<assignment>/`` with nbgrader's own
   ``Autograde`` converter (sanitising, tests restored from the gradebook,
   IgnorePattern, LimitOutput, SaveAutoGrades, late penalties: all stock), run
   in-process by a pool of worker processes, one per core; the notebooks run in
   warm forked zygotes (:mod:`autograder.executor`) instead of fresh kernels;
2. a progress bar with count, ETA and failures so far; one bad submission
   never stops the batch: it is reported with its reason and left untouched;
3. feedback for each graded submission (nbgrader's ``GenerateFeedback``, in the
   same workers; the course config hides hidden test code);
4. grades as CSV (nbgrader's CSV export plugin): ``reports/<assignment>/grades.csv``;
5. the instructor report (:mod:`autograder.report`): ``reports/<assignment>/``.

Re-running regrades everything and gives the same result; manual grades in the
gradebook survive (nbgrader's SaveAutoGrades never overwrites a manual score).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .cli import register

log = logging.getLogger("autograder.grading")


# ---------------------------------------------------------------------------- results


@dataclass
class SubmissionResult:
    student: str
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    notebooks: int = 0
    incidents: list = field(default_factory=list)
    autograde_seconds: float = 0.0
    cell_seconds: list = field(default_factory=list)
    feedback: bool = False
    feedback_error: str = ""


@dataclass
class GradingRun:
    course: Path
    assignment: str
    results: list[SubmissionResult]
    jobs: int
    autograde_seconds: float
    feedback_seconds: float = 0.0
    total_seconds: float = 0.0
    csv: Path | None = None
    report: Path | None = None
    log_path: Path | None = None

    @property
    def failures(self) -> list[SubmissionResult]:
        return [r for r in self.results if not r.ok]

    @property
    def notebooks(self) -> int:
        return sum(r.notebooks for r in self.results)


# ---------------------------------------------------------------------------- nbgrader


def _make_app(course: Path, assignment: str):
    """nbgrader's autograde app, configured from the course's nbgrader_config.py, not started."""
    from nbgrader.apps import AutogradeApp

    from .course import fast_new_gradebooks

    fast_new_gradebooks()  # a new gradebook without nbgrader's `alembic heads` subprocess
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                          os.environ.get("PATH", "")])  # nbgrader calls alembic
    app = AutogradeApp()
    cwd = os.getcwd()
    os.chdir(course)  # nbgrader also reads ./nbgrader_config.py: it must be this course's
    try:
        app.initialize([], root=str(course))
    finally:
        os.chdir(cwd)
    app.log.setLevel(logging.WARNING)
    app.coursedir.assignment_id = assignment
    return app


def _warm(preprocessors: list) -> list:
    """``Autograde.autograde_preprocessors`` with nbgrader's Execute replaced by WarmExecute,
    and its SaveAutoGrades by one that reads the gradebook once per notebook
    (:mod:`autograder.gradebook_reads`)."""
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    from .executor import WarmExecute
    from .gradebook_reads import save_auto_grades_class

    out = []
    for p in preprocessors:
        if p is Execute or p in ("nbgrader.preprocessors.Execute",
                                 "nbgrader.preprocessors.execute.Execute"):
            p = WarmExecute
        elif p is SaveAutoGrades:
            p = save_auto_grades_class()
        out.append(p)
    if WarmExecute not in out:
        raise RuntimeError("Autograde.autograde_preprocessors has no Execute step to replace")
    return out


def _robust(preprocessors: list) -> list:
    """nbgrader's OverwriteCells replaced by one that survives stripped metadata
    (:func:`autograder.sandbox.robust_overwrite_cells_class`) and reads the gradebook once
    per notebook (:mod:`autograder.gradebook_reads`)."""
    from nbgrader.preprocessors import OverwriteCells

    from .gradebook_reads import overwrite_cells_class

    return [overwrite_cells_class() if p is OverwriteCells else p for p in preprocessors]


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _failure_reason(records: list[logging.LogRecord], exc: BaseException | None) -> str:
    """The most telling line of what nbgrader logged: the exception of a traceback, if any."""
    for rec in records:
        msg = rec.getMessage()
        if rec.levelno >= logging.ERROR and "Traceback (most recent call last)" in msg:
            lines = [ln for ln in msg.strip().splitlines() if ln.strip()]
            return lines[-1].strip()[:500]
    skip = ("There was an error processing assignment", "Please see the",
            "There was an error processing")
    for rec in records:
        msg = rec.getMessage().strip()
        if rec.levelno >= logging.ERROR and not msg.startswith(skip):
            return msg.splitlines()[0][:500]
    for rec in records:
        if rec.levelno >= logging.WARNING:
            return rec.getMessage().strip().splitlines()[0][:500]
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"[:500]
    return "unknown error (see the grading log)"


# ---------------------------------------------------------------------------- the worker


class _Worker:
    """Per-process state of a pool worker: the nbgrader app and its zygote."""

    app = None
    capture: _Capture | None = None
    feedback = True
    feedback_exporter = None
    staging_root: str | None = None  # where submissions are staged (default: the slot root)


def _share_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this process, instead of one per ``Gradebook()``.

    nbgrader opens a new ``Gradebook`` (and engine) about ten times per submission;
    a shared engine keeps its connection pool and compiled-SQL cache, which cuts
    nbgrader's database time severalfold. Sessions, transactions and commits are
    nbgrader's own, unchanged.
    """
    import nbgrader.api as api

    if getattr(api.create_engine, "_autograder_shared", False):
        return
    original = api.create_engine
    engines: dict = {}

    def create_engine(url, *args, **kwargs):
        key = (str(url), os.getpid())
        if key not in engines:
            engines[key] = original(url, *args, **kwargs)
        return engines[key]

    create_engine._autograder_shared = True
    api.create_engine = create_engine


class _CachedJsonschema:
    """``jsonschema`` for nbgrader's cell-metadata checks, with each schema checked once.

    nbgrader validates every cell's nbgrader metadata with ``jsonschema.validate``,
    which first re-checks the schema itself against the JSON Schema meta-schema:
    ~4 ms a cell, twice per notebook, about 0.5 s per ps3 submission. This keeps
    one validator per schema; ``validate`` raises what ``jsonschema.validate``
    raises (the best-matching error) for the same metadata.
    """

    def __init__(self, module):
        self._module = module
        self._validators: dict = {}

    def __getattr__(self, name):  # everything else: jsonschema itself
        return getattr(self._module, name)

    def validate(self, instance, schema, cls=None, *args, **kwargs):
        if args or kwargs:
            return self._module.validate(instance, schema, cls, *args, **kwargs)
        key = (id(schema), cls)
        entry = self._validators.get(key)
        if entry is None or entry[0] is not schema:
            c = cls or self._module.validators.validator_for(schema)
            c.check_schema(schema)
            entry = self._validators[key] = (schema, c(schema))
        error = self._module.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error


def _cache_metadata_schema() -> None:
    """Make nbgrader's metadata validation check its schema once per process (see above)."""
    import nbgrader.nbgraderformat.common as common

    if not isinstance(common.jsonschema, _CachedJsonschema):
        common.jsonschema = _CachedJsonschema(common.jsonschema)


def _feedback_converter(app):
    """nbgrader's GenerateFeedback, keeping its HTML exporter (compiled templates) between students."""
    from nbconvert.writers import FilesWriter
    from nbgrader.converters import GenerateFeedback

    class WarmFeedback(GenerateFeedback):
        def start(self) -> None:  # BaseConverter.start, with the exporter made once per worker
            self.init_notebooks()
            self.writer = FilesWriter(parent=self, config=self.config)
            if _Worker.feedback_exporter is None:
                exporter = self.exporter_class(parent=self, config=self.config)
                for pp in self.preprocessors:
                    exporter.register_preprocessor(pp)
                _Worker.feedback_exporter = exporter
            self.exporter = _Worker.feedback_exporter
            cwd = os.getcwd()
            os.chdir(self.coursedir.root)
            try:
                self.convert_notebooks()
            finally:
                os.chdir(cwd)

    fb = WarmFeedback(coursedir=app.coursedir, parent=app)
    fb.force = True
    return fb


def _pool_worker_init(*args) -> None:
    """A local pool worker: :func:`_worker_init`, with Ctrl-C left to the command. SIGINT
    reaches the whole process group; the command stops the pool itself (``Pool.terminate``),
    and a worker waiting for its next submission printed a KeyboardInterrupt traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_init(*args)


def _worker_init(course: str, assignment: str, log_path: str, slot_root: str,
                 feedback: bool, staging_root: str | None = None,
                 started_dir: str | None = None, judges=None) -> None:
    from multiprocessing.util import Finalize

    from . import executor
    from .judge import apart

    os.chdir(course)
    _Worker.staging_root = staging_root
    _Worker.started_dir = started_dir
    conn = None
    if judges is not None:  # judges of their own (each adopts a pre-started zygote): a worker
        conn = judges.take()  # the pool starts later (one died) judges here, its own zygote
        executor.forget_prestarted()
    apart.use(conn)
    if conn is None:  # the zygote imports torch while this process imports nbgrader
        executor.shared_zygote(slot_root, log_path=log_path,  # its stderr: the grading log
                               torch=executor.assignment_zygote_kind(course, assignment))
    Finalize(None, executor._close_zygotes, exitpriority=10)
    _share_engines()
    _cache_metadata_schema()
    logging.captureWarnings(True)  # nbgrader's SQLAlchemy warnings go to the log, not the terminal
    app = _make_app(Path(course), assignment)
    app.log.handlers[:] = []
    app.log.propagate = False
    app.log.setLevel(logging.INFO)
    fh = logging.FileHandler(log_path)
    fh.setFormatter(logging.Formatter(f"%(asctime)s [pid {os.getpid()}] %(levelname)s "
                                      f"%(message)s"))
    app.log.addHandler(fh)
    logging.getLogger("py.warnings").handlers[:] = [fh]
    logging.getLogger("py.warnings").propagate = False
    _Worker.capture = _Capture()
    app.log.addHandler(_Worker.capture)
    app.config.WarmExecute.slot_root = slot_root
    app.config.WarmExecute.course_root = course
    if "optimistic_validation" not in app.config.Exporter:
        # nbconvert validates the notebook against its schema after each of Autograde's and
        # GenerateFeedback's ~12 preprocessors (~5 ms each on ps3); once, after the last, is
        # nbconvert's own option: an invalid notebook still fails, named by the last step
        app.config.Exporter.optimistic_validation = True
    if "add_missing_cells" not in app.config.OverwriteCells:
        # a deleted test cell (or one whose metadata was stripped) is put back and graded,
        # instead of nbgrader's silent zero; autograder.sandbox.audit_submission says so
        app.config.OverwriteCells.add_missing_cells = True
    _Worker.app = app
    _Worker.feedback = feedback


def warm_imports() -> None:
    """Import now what a worker's first submission would import on first use (nbgrader's
    converters and preprocessors, nbconvert's exporters, the gradebook's ORM), and make the
    process-wide patches the workers make: for a process that forks runs (autograder.daemon)."""
    import nbconvert.exporters  # noqa: F401
    import nbgrader.api  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    from nbgrader.apps import AutogradeApp  # noqa: F401

    from . import executor, sandbox, submissions  # noqa: F401
    from .judge import runner  # noqa: F401

    executor.WarmExecute  # noqa: B018  (built on first use)
    _share_engines()
    _cache_metadata_schema()
    import nbformat
    from sqlalchemy.orm import configure_mappers

    nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    configure_mappers()  # nbgrader's gradebook classes, set up once


def warm_judge(draws: bool = True, seeds: bool = True) -> None:
    """Import what test cells use (torch, the checks) in this process, once, before forking.

    Test cells run in the grading workers (the judge, :mod:`autograder.judge`); importing
    torch in each of them would cost every worker seconds at start. ``draws``: set up
    pyplot too (~0.3 s more), for an assignment whose cells draw
    (:func:`autograder.executor.assignment_draws`: ps3's pictures); elsewhere only the
    backend is chosen (Agg), and a cell that draws all the same imports pyplot in its worker.
    ``seeds``: run torch's ``backward(gradient)`` once, whose first call imports sympy (~0.6 s),
    for an assignment whose judge cells call it (:func:`autograder.executor.assignment_seeds`:
    ps3); elsewhere a worker that needs it imports it then, once.
    The instructor's environment is left as it is (the zygotes' backend comes from it).
    """
    import io

    from . import checks

    checks.torch_gradients(lambda a, b: (a * b + a).tanh().mean(),
                           checks.random_inputs((2, 3), (3,), seed=0))
    if seeds:
        import torch

        x = torch.ones(2, dtype=torch.float64, requires_grad=True)
        (x * 2.0).backward(torch.ones(2, dtype=torch.float64))
    try:  # test cells draw graphs: pyplot, its backend and fonts once, here
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:  # never switch a running session's backend
            matplotlib.use("Agg")
        if draws:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(1, 1))
            fig.text(0.5, 0.5, "x")
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)
    except Exception:  # noqa: BLE001  (only a warm-up)
        pass
    for mod in ("autograder.graph", "autograder.testing", "autograder.judge.runner"):
        __import__(mod)


def grade_submission(student: str) -> SubmissionResult:
    """Autograde (and give feedback to) one student's submission, in this worker process.

    nbgrader reads a cleaned staging copy of the submission, never the original:
    only regular files, only the assignment's notebooks and the files it ships,
    within the size limits (:mod:`autograder.submissions`).
    """
    t0 = time.monotonic()
    marker = _started(student)
    try:
        return _grade_submission(student, t0)
    finally:
        if marker:
            with contextlib.suppress(OSError):
                os.unlink(marker)


def _started(student: str) -> str | None:
    """Say that this worker (its pid) grades ``student`` now, for the watchdog of
    :func:`_results` (a worker that dies takes its task with it: the pool would wait forever)."""
    started_dir = getattr(_Worker, "started_dir", None)
    if not started_dir:
        return None
    path = _marker(started_dir, student)
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(str(os.getpid()))
        return path
    return None


def _marker(started_dir: str, student: str) -> str:
    """The file in which a worker names itself as the one grading ``student``."""
    return os.path.join(started_dir, hashlib.sha256(student.encode()).hexdigest()[:32])


def _grade_submission(student: str, t0: float) -> SubmissionResult:
    from .submissions import staged_submission

    slot_root = _Worker.staging_root or _Worker.app.config.WarmExecute.get("slot_root")
    with staged_submission(_Worker.app.coursedir, student, staging_dir=slot_root  # removed
                           if isinstance(slot_root, str) and slot_root else None) as cleaned:
        if cleaned.fatal:
            return SubmissionResult(student, ok=False, reason=cleaned.fatal,
                                    incidents=cleaned.notes, seconds=time.monotonic() - t0)
        return _grade_staged(student, cleaned, t0)


class _Record(dict):
    """One submission's incidents and cell times. nbconvert deep-copies a notebook's
    resources before its preprocessors run: this record stays itself."""

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def _recording_autograde():
    """nbgrader's Autograde converter, with a record of this submission's incidents and cell
    times that WarmExecute fills in (through each notebook's resources: no module globals)."""
    from nbgrader.converters import Autograde

    class RecordingAutograde(Autograde):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.record = _Record(incidents=[], cell_seconds=[])

        def init_single_notebook_resources(self, notebook_filename):
            resources = super().init_single_notebook_resources(notebook_filename)
            resources["autograder_record"] = self.record
            return resources

    return RecordingAutograde


def _grade_staged(student: str, cleaned, t0: float) -> SubmissionResult:
    from nbgrader.converters import NbGraderException


    app = _Worker.app
    cap = _Worker.capture
    cap.records.clear()
    cd = app.coursedir
    cd.student_id = student
    cd.notebook_id = "*"
    res = SubmissionResult(student, ok=True)
    exc = None
    from .sandbox import audit_submission  # bad files and edited cells, in words

    try:
        fatal, notes = audit_submission(cd.root, cd.assignment_id, student, cd.db_url,
                                        submission_dir=cleaned.directory)
    except Exception as e:  # noqa: BLE001  (the audit only explains; nbgrader decides)
        fatal, notes = None, [{"kind": "audit", "detail": f"could not check the files: {e}"}]
    if fatal and cleaned.notes:  # what the cleaning refused is part of why
        fatal = "; ".join([fatal] + [n["detail"] for n in cleaned.notes])
    else:
        notes = cleaned.notes + notes
    if fatal:
        res.ok, res.reason, res.incidents = False, fatal, notes
        res.seconds = time.monotonic() - t0
        return res
    try:
        conv = _recording_autograde()(coursedir=cd, parent=app)
        conv.force = True
        conv.sanitize_preprocessors = _robust(conv.sanitize_preprocessors)
        conv.autograde_preprocessors = _warm(conv.autograde_preprocessors)
        conv.start()
        res.notebooks = sum(len(v) for v in conv.assignments.values())
    except NbGraderException as e:
        res.ok, exc = False, e
    except Exception as e:  # never let one submission stop the batch
        res.ok, exc = False, e
        app.log.error("Traceback (most recent call last):\n%s", traceback.format_exc())
    if not res.ok:
        res.reason = _failure_reason(cap.records, exc)
    record = conv.record if "conv" in locals() else {"incidents": [], "cell_seconds": []}
    res.incidents = notes + [dict(i) for i in record["incidents"]]
    res.autograde_seconds = time.monotonic() - t0
    res.cell_seconds = list(record["cell_seconds"])
    if res.ok and _Worker.feedback:
        cap.records.clear()
        try:
            _feedback_converter(app).start()
            res.feedback = True
        except Exception as e:
            res.feedback_error = _failure_reason(cap.records, e)
    res.seconds = time.monotonic() - t0
    return res


# ---------------------------------------------------------------------------- the batch


def find_students(course: Path, assignment: str) -> list[str]:
    """Student ids with a ``submitted/<student>/<assignment>`` directory."""
    sub = Path(course) / "submitted"
    if not sub.is_dir():
        return []
    return sorted(p.name for p in sub.iterdir()
                  if (p / assignment).is_dir() and not p.name.startswith("."))


def ensure_in_gradebook(course: Path, assignment: str) -> bool:
    """Make sure the gradebook knows the assignment (its cells and points), as nbgrader needs.

    If it does not (a fresh clone: gradebook.db is not in git), record it from
    source/ with nbgrader's own GenerateAssignment, writing the release to a
    temporary directory so ``release/`` is left alone. Returns True if it did so.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateAssignment

    app = _make_app(course, assignment)
    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        try:
            gb.find_assignment(assignment)
            return False
        except MissingEntry:
            pass
    if not (Path(course) / "source" / assignment).is_dir():
        raise FileNotFoundError(f"no assignment {assignment!r}: source/{assignment} does not exist")
    tmp = tempfile.mkdtemp(prefix="autograder-release-")
    try:
        app.log.setLevel(logging.WARNING)
        app.coursedir.release_directory = tmp
        conv = GenerateAssignment(coursedir=app.coursedir, parent=app)
        conv.force = True
        conv.start()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def _sqlite_path(course: Path) -> str | None:
    """The gradebook's file, if the course's gradebook is SQLite."""
    from .course import db_url

    try:
        from sqlalchemy.engine import make_url

        url = make_url(db_url(course))
    except Exception:  # noqa: BLE001
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def _journal_mode(path: str, mode: str | None = None, timeout: float = 2.0) -> str | None:
    """SQLite's journal mode of ``path`` (set to ``mode`` first, if given); None if busy."""
    import sqlite3

    try:
        con = sqlite3.connect(path, timeout=timeout)
        try:
            row = con.execute(f"PRAGMA journal_mode={mode}" if mode else "PRAGMA journal_mode")
            return str(row.fetchone()[0]).lower()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def export_csv(course: Path, assignment: str | list[str], dest: Path) -> Path:
    """Grades of ``assignment`` (or of several, e.g. ps1 and its translation ps1-zh-CN) as CSV,
    by nbgrader's own CSV export plugin."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    names = [assignment] if isinstance(assignment, str) else list(assignment)
    app = _make_app(course, names[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    plugin = CsvExportPlugin(parent=app)
    plugin.to = str(dest)
    plugin.assignment = names
    with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
        plugin.export(gb)
    return dest


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Grading workers when ``--jobs`` is not given: ``$AUTOGRADER_JOBS`` if set, else the
    cores this process may run on. (The test suite sets 1: pytest already runs a test file per
    core, and each worker costs a sandboxed process that imports torch.)"""
    env = os.environ.get("AUTOGRADER_JOBS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"AUTOGRADER_JOBS={env!r}: expected a whole number of workers, 1 or more")
        return int(env)
    return _cores()


def grade(course: Path, assignment: str, *, students: list[str] | None = None,
          jobs: int | None = None, feedback: bool = True, report: bool = True,
          progress: bool = True, stream=None, scheduler: str | None = None,
          db_url: str | None = None) -> GradingRun:
    """Grade every submission of ``assignment`` in ``course``; see the module docstring.

    ``scheduler``: grade on a Dask cluster (its address, or ``"local"``) instead of a
    process pool here (:mod:`autograder.cluster`). ``db_url``: nbgrader's gradebook URL,
    e.g. ``postgresql://...``, for this run and its workers (``AUTOGRADER_DB_URL``, which
    the course's nbgrader_config.py reads, is set for the run and restored after it).
    """
    kw = dict(students=students, jobs=jobs, feedback=feedback, report=report,
              progress=progress, stream=stream, scheduler=scheduler)
    if not db_url:
        return _grade(course, assignment, **kw)
    saved = os.environ.get("AUTOGRADER_DB_URL")
    os.environ["AUTOGRADER_DB_URL"] = db_url
    try:
        return _grade(course, assignment, **kw)
    finally:
        if saved is None:
            os.environ.pop("AUTOGRADER_DB_URL", None)
        else:
            os.environ["AUTOGRADER_DB_URL"] = saved


def warm_assignment(course: Path, assignment: str, judge: bool = True) -> None:
    """Do now, once, what each worker's first notebook of ``assignment`` would do: compile
    its test and instructor cells as the judge runs them (not with ``judge=False``: the judges
    have processes of their own, :mod:`autograder.judge.apart`, which compile them), and build
    nbformat's validator for its notebooks' format. In the process that forks the workers (a
    grading daemon keeps it for its later runs)."""
    import nbformat

    from . import nbgrader_plugins  # noqa: F401  (feedback and hidden-test stripping)
    from .judge.runner import compile_instructor_cells

    if judge:
        compile_instructor_cells(course, assignment)
    for path in sorted((Path(course) / "source" / assignment).glob("*.ipynb")):
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception:  # noqa: BLE001  (only a warm-up; grading says what is wrong)
            pass


def _grade(course: Path, assignment: str, *, students, jobs, feedback, report, progress,
           stream, scheduler) -> GradingRun:
    from tqdm import tqdm

    t_start = time.monotonic()
    stream = stream or sys.stderr
    course = Path(course).resolve()
    out_dir = course / "reports" / assignment
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "grading.log"
    log_path.write_text("")
    found = find_students(course, assignment)
    if students:
        missing = sorted(set(students) - set(found))
        if missing:
            raise FileNotFoundError(f"no submission of {assignment} for: {', '.join(missing)} "
                                    f"(looked in {course / 'submitted'})")
        found = [s for s in found if s in set(students)]
    if not found:
        raise FileNotFoundError(f"no submissions of {assignment} in {course / 'submitted'}/*/"
                                f"{assignment}/")
    jobs = max(1, min(jobs or default_jobs(), len(found)))
    try:  # probe the sandbox once, here: the forked workers inherit the answer
        from .sandbox import sandbox_status

        sandbox_status()
    except ImportError:
        pass
    results: list[SubmissionResult] = []
    t0 = time.monotonic()
    # one machine: the workers' zygotes start now and import torch (~4 s) while we check
    # the gradebook; a Dask cluster's workers make their own, on their machines. In a run
    # forked by a grading daemon (autograder.daemon) they are the daemon's, already warm.
    from . import executor

    slot_root = None if scheduler else tempfile.mkdtemp(prefix="autograder-slots-")
    kept_root = None if scheduler else executor.kept_slot_root()
    kind = executor.assignment_zygote_kind(course, assignment)
    draws = executor.assignment_draws(course, assignment)
    seeds = executor.assignment_seeds(course, assignment)
    judges = None
    if kept_root:
        executor.prestart_kept(jobs, torch=kind)
    elif slot_root:
        from .judge import apart

        split = apart.enabled()
        # the zygotes start now, while this process imports nbgrader. With judges of their own
        # (below), as many as the cores this process and the judges' parent leave free, at
        # least the first worker's: more would only slow the judges' start-up, which the first
        # graded notebook waits for (a judge without one starts its zygote when it is forked)
        executor.prestart(max(1, min(jobs, _cores() - 2)) if split else jobs, slot_root,
                          log_path=str(log_path), torch=kind)
        if split:  # the judges import torch in a process of their own, now, while
            # this one imports nbgrader (the machine's second core was idle)
            try:
                judges = apart.Judges(jobs, course=str(course), assignment=assignment,
                                      slot_root=slot_root, log_path=str(log_path), kind=kind,
                                      draws=draws, seeds=seeds)
            except OSError:  # no process to spare (ulimit -u): the workers judge
                judges = None
    finished = False
    restore_journal = None
    started_dir = None  # who grades whom now (the pool's watchdog: _results)
    try:
        # nbgrader, torch and the checks imported without the garbage collector, and frozen
        # before the workers fork (executor.imports_without_gc: ~0.5 s of a cold start)
        with executor.imports_without_gc():
            # the gradebook is created/upgraded here, once, before any worker touches it
            if ensure_in_gradebook(course, assignment):
                print(f"the gradebook had no {assignment}: recorded it from source/{assignment} "
                      f"(release/ untouched)", file=stream)
            if not scheduler and judges is None:
                # the workers fork from here: they inherit the judge's torch (and pyplot if
                # it draws), and the test cells compiled
                warm_judge(draws=draws, seeds=seeds)
            if not scheduler:
                warm_assignment(course, assignment, judge=judges is None)
        # an SQLite gradebook in write-ahead-log mode for the run: the workers' reads no
        # longer wait for each other's writes (about 7% of a ps3 batch); put back afterwards
        db_file = None if scheduler else _sqlite_path(course)
        if db_file and _journal_mode(db_file) not in (None, "wal") and \
                _journal_mode(db_file, "wal") == "wal":
            restore_journal = db_file
        if scheduler:  # the same work on a Dask cluster; only then is dask imported
            from .cluster import ClusterPool
            from .course import db_url as course_db_url

            pool = ClusterPool(scheduler, jobs, course=course, assignment=assignment,
                               students=found, log_path=str(log_path), feedback=feedback,
                               db_url=course_db_url(course), stream=stream)
            jobs = pool.processes
        else:
            started_dir = tempfile.mkdtemp(prefix="autograder-started-")
            try:
                pool = multiprocessing.get_context("fork").Pool(
                    jobs, initializer=_pool_worker_init,
                    initargs=(str(course), assignment, str(log_path), kept_root or slot_root,
                              feedback, slot_root, started_dir, judges))
            finally:
                executor.release_prestarted()  # each worker has its zygote's pipes; we keep none
                if judges is not None:
                    judges.release()
        try:
            bar = tqdm(total=len(found), desc=f"grading {assignment}", unit="sub", file=stream,
                       disable=not progress, dynamic_ncols=True, mininterval=0.2)
            bar.set_postfix(failed=0)
            failed = 0
            lost = False
            for res in _results(pool, found, started_dir):
                results.append(res)
                lost = lost or res.reason.startswith(WORKER_DIED)
                if not res.ok:
                    failed += 1
                    bar.write(f"  FAILED {res.student}: {res.reason}", file=stream)
                bar.set_postfix(failed=failed)
                bar.update(1)
            bar.close()
            if lost:  # the lost task's result never comes: closing would wait for it forever
                pool.terminate()
            else:
                pool.close()
            pool.join()
            finished = True
        except BaseException as e:
            pool.terminate()
            pool.join()
            if isinstance(e, KeyboardInterrupt):  # Ctrl-C: say what is kept, then stop
                print(f"\ninterrupted: {len(results)} of {len(found)} submissions of {assignment} "
                      f"were graded before it (their grades are in the gradebook; "
                      f"{out_dir / 'grades.csv'} was not rewritten). Run the command again to "
                      f"grade them all.", file=stream)
            raise
    finally:
        if judges is not None:  # their workers are gone: they stop (or are killed now)
            judges.stop(wait=10 if finished else 0)
        if slot_root:  # after a clean close the zygotes have exited; else they are killed now
            executor.reap_prestarted(timeout=10 if finished else 0)
            shutil.rmtree(slot_root, ignore_errors=True)
        if restore_journal:  # one file again (unless another program has it open just now)
            _journal_mode(restore_journal, "delete")
        if started_dir:
            shutil.rmtree(started_dir, ignore_errors=True)
    elapsed = time.monotonic() - t0
    results.sort(key=lambda r: r.student)
    run = GradingRun(course, assignment, results, jobs, autograde_seconds=elapsed,
                     log_path=log_path)
    run.csv = export_csv(course, assignment, out_dir / "grades.csv")
    if report:
        from .report import write_report

        run.report = write_report(course, assignment, run=run)
    run.total_seconds = time.monotonic() - t_start
    return run


#: the reason given for a submission whose grading worker died (:func:`_results`)
WORKER_DIED = "the grading worker died while grading this submission"


def _results(pool, students: list[str], started_dir: str | None, watch_s: float = 2.0):
    """``pool.imap_unordered(grade_submission, students)``, with a watchdog: a pool whose
    worker dies (killed for memory, a crash in a library) replaces the worker but loses its
    task, and would wait for that result forever. Every ``watch_s`` without a result, the
    students whose worker (named in ``started_dir`` by :func:`_started`) no longer exists
    are given up, with a reason; the run ends when every student has a result."""
    it = pool.imap_unordered(grade_submission, students)
    pending = set(students)
    t0 = time.monotonic()
    while pending:
        try:
            res = it.next(timeout=watch_s) if started_dir else next(it)
        except StopIteration:
            return
        except multiprocessing.TimeoutError:
            for student in sorted(pending):
                if _worker_gone(started_dir, student):
                    pending.discard(student)
                    yield SubmissionResult(
                        student, ok=False, seconds=time.monotonic() - t0,
                        reason=f"{WORKER_DIED} (killed: out of memory? see the grading log; "
                               f"grade it again alone: --student {student})")
            continue
        pending.discard(res.student)
        yield res


def _worker_gone(started_dir: str, student: str) -> bool:
    """Whether the worker that started grading ``student`` has exited (without a result)."""
    try:
        with open(_marker(started_dir, student)) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False  # not started yet, or finished (its result is on its way)
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def summary(run: GradingRun) -> str:
    """What the instructor reads after a run."""
    from .sandbox import sandbox_status, unsandboxed_warning

    st = sandbox_status()
    lines = [st.reason if st.ok else unsandboxed_warning(st.reason)]
    ok = [r for r in run.results if r.ok]
    nbs = max(run.notebooks, 1)
    lines.append(f"{run.assignment}: {len(ok)}/{len(run.results)} submissions graded "
                 f"({run.notebooks} notebooks, {run.jobs} workers, {run.autograde_seconds:.1f} s, "
                 f"{run.autograde_seconds / nbs:.3f} s per notebook"
                 f"{' incl. feedback' if any(r.feedback for r in run.results) else ''})")
    if run.failures:
        lines.append(f"failed ({len(run.failures)}); their submitted files are untouched:")
        for r in run.failures:
            lines.append(f"  {r.student}: {r.reason}")
    notes = [(r, i) for r in run.results for i in r.incidents]
    if notes:
        lines.append(f"notes ({len(notes)}):")
        for r, i in notes:
            where = incident_where(i)
            lines.append(f"  {r.student}{f' ({where})' if where else ''}: {i.get('detail')}")
    fb_bad = [r for r in run.results if r.ok and r.feedback_error]
    for r in fb_bad:
        lines.append(f"  feedback failed for {r.student}: {r.feedback_error}")
    rel = lambda p: os.path.relpath(p, run.course) if p else "-"  # noqa: E731
    fb = sum(r.feedback for r in run.results)
    if fb:
        lines.append(f"feedback: feedback/<student>/{run.assignment}/ ({fb} submissions)")
    lines.append(f"grades:   {rel(run.csv)}")
    if run.report:
        lines.append(f"report:   {rel(run.report)}")
    lines.append(f"log:      {rel(run.log_path)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the command


def _add_args(p) -> None:
    p.add_argument("assignment", help="assignment name, e.g. ps3")
    p.add_argument("--jobs", "-j", type=int, default=0,
                   help="worker processes (default: $AUTOGRADER_JOBS, else one per core)")
    p.add_argument("--student", nargs="+", action="extend", default=[], metavar="S",
                   help="grade only these students")
    p.add_argument("--no-feedback", action="store_true", help="skip generating feedback")
    p.add_argument("--no-report", action="store_true", help="skip the instructor report")
    p.add_argument("--course", default=None,
                   help="course directory (default: the one holding nbgrader_config.py "
                        "here or above)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler (tcp://host:8786), or 'local' "
                        "for a LocalCluster here; the workers need the course at the same path "
                        "(docs/instructor-guide.md)")
    p.add_argument("--db-url", default=None, metavar="URL",
                   help="nbgrader's gradebook URL (e.g. postgresql://user:pw@host/gradebook; "
                        "default: the course's nbgrader_config.py, SQLite)")
    add_daemon_args(p)


def add_daemon_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--daemon", dest="daemon", action="store_true", default=None,
                   help="grade in the course's warm grading daemon, starting one if none runs "
                        "(later runs skip the start-up; autograder.daemon; bin/course's default)")
    g.add_argument("--no-daemon", dest="daemon", action="store_false",
                   help="grade in this process even if a grading daemon runs (default: use a "
                        "running one, and bin/course starts one; AUTOGRADER_DAEMON=auto|use|off "
                        "changes the default)")


def incident_where(incident: dict, code=str) -> str:
    """Where an incident belongs, as far as it is known: "ps3, cell ps3-mul-test", "ps3", or
    "" (a bad file, say). ``code``: how to write the cell's name (the report: in backticks)."""
    cell = incident.get("grade_id") or incident.get("cell")
    return ", ".join(w for w in (str(incident.get("notebook") or ""),
                                 "" if cell is None else f"cell {code(cell)}") if w)


def grade_here_or_in_daemon(course: Path, assignment: str, *, daemon: str = "use",
                            daemon_course: Path | None = None, **kw) -> GradingRun:
    """:func:`grade`, done by the grading daemon of ``daemon_course`` (default: ``course``)
    when ``daemon`` is ``"use"`` (if one runs) or ``"auto"`` (starting one if none runs);
    in this process otherwise, or when no daemon can take it."""
    if daemon != "off" and not kw.get("scheduler"):
        from . import daemon as _daemon

        kw2 = {k: v for k, v in kw.items() if k != "scheduler"}
        try:
            return _daemon.grade_via_daemon(course, assignment, daemon_course=daemon_course,
                                            start_if_absent=(daemon == "auto"), **kw2)
        except _daemon.DaemonUnavailable as e:
            log.info("grading in-process: %s", e)
    return grade(course, assignment, **kw)


def _run(args) -> int:
    from .course import repo_root

    course = Path(args.course).resolve() if args.course else repo_root()
    from .cluster import ClusterError  # no dask import: that waits for a ClusterPool
    from .daemon import mode
    from .translate import translations_of

    # an assignment and its translations (ps1, ps1-zh-CN: same cells, grade_ids, tests and
    # points) are graded together, into one gradebook and one CSV of every language
    names = [args.assignment] + [t for t in translations_of(course, args.assignment)
                                 if any((course / "submitted").glob(f"*/{t}"))]
    if not args.jobs:
        try:  # a bad $AUTOGRADER_JOBS: a clear error before anything starts
            default_jobs()
        except ValueError as e:
            print(f"autograder grade: {e}", file=sys.stderr)
            return 2
    runs = []
    for name in names:
        try:
            run = grade_here_or_in_daemon(
                course, name, daemon=mode(args.daemon), students=args.student or None,
                jobs=args.jobs or None, feedback=not args.no_feedback,
                report=not args.no_report, scheduler=args.scheduler, db_url=args.db_url)
        except (FileNotFoundError, ClusterError) as e:
            print(f"autograder grade: {e}", file=sys.stderr)
            return 2
        print(summary(run))
        runs.append(run)
    if len(runs) > 1:
        both = export_csv(course, names, course / "reports" / args.assignment
                          / "grades-all-languages.csv")
        print(f"grades of {', '.join(names)}: {os.path.relpath(both, course)}")
    return 1 if any(r.failures for r in runs) else 0


register("grade", "autograde every submission of an assignment on all cores, then feedback, "
         "grades.csv and the instructor report", _add_args, _run)
