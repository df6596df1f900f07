"""Shared fixtures: the repository, its assignments, and real nbgrader runs in private copies."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import alt_solutions
import pytest

from autograder import course as C

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPLBACKEND", "Agg")


# Test files whose tests are spread over the xdist workers one parameter at a time: each of
# test_assignments.py's assignments shares its graded batch only with its own tests.
SPLIT_BY_PARAMETER = {"tests/test_assignments.py", "tests/test_alt_solutions.py"}
# Test files that read another file's once-per-worker work go to that file's worker:
# test_lesson01.py reads lesson 1 as executed for test_lessons.py (tests/lessons.py).
SAME_WORKER_AS = {"tests/test_lesson01.py": "tests/test_lessons.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (bin/test), except that SPLIT_BY_PARAMETER's files split by parameter.

    A file's tests stay on one worker, so its module-scoped batch is built once; the five
    graded assignments of test_assignments.py go to every worker. (xdist's own
    ``--dist loadgroup`` does not group under pytest 9: it renames items by an attribute
    pytest no longer reads.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    # hand out work in collection order (pytest_collection_modifyitems: the longest files
    # first), not xdist's default of the files with the most tests first
    config.option.loadscopereorder = False

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, rest = nodeid.partition("::")
            if path in SPLIT_BY_PARAMETER and rest.endswith("]") and "[" in rest:
                return f"{path}[{rest[rest.index('[') + 1:-1]}]"
            return SAME_WORKER_AS.get(path, path)

    return Scheduling(config, log)


# The files that take longest (seconds of one idle run, --durations=0), longest first: the
# workers start on them, and the many short files fill in at the end instead of one long
# file running alone. The others follow in their usual order.
LONGEST_FIRST = ["test_hub.py", "test_lessons.py", "test_validate.py", "test_grading.py",
                 "test_cluster.py", "test_assignments.py", "test_bench.py", "test_attacks.py",
                 "test_security.py", "test_browser.py", "test_submissions.py",
                 "test_browser_zh.py", "test_daemon.py", "test_bug_fixtures.py",
                 "test_nbgrader_config.py", "test_i18n.py", "test_feedback.py",
                 "test_mutation.py", "test_ps5_engine.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def default_signal_actions() -> None:
    """SIGINT, SIGTERM and SIGHUP at their default actions, as a terminal's foreground job has
    them: a ``preexec_fn`` for a child that a test interrupts (a suite run in the background
    hands its children SIGINT ignored, nohup SIGHUP, and an ignored signal rightly stays so)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def assignments(translations: bool = False) -> list[str]:
    """The assignments in source/; the generated translations (ps1-zh-CN ...) only if asked
    (tests/test_i18n.py grades those)."""
    from autograder.translate import is_translation

    return sorted(p.name for p in (ROOT / "source").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb"))
                  and (translations or not is_translation(p.name)))


def source_cell(assignment: str, grade_id: str) -> str:
    """The cell ``grade_id`` of source/<assignment>/<assignment>.ipynb as the instructor wrote
    it, hidden tests included (their markers are comments: the text runs as it is)."""
    import nbformat

    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell.source


def hidden_lines(source_nb: Path, release_nb: Path | None = None) -> set[str]:
    """The non-trivial lines of the hidden test regions of ``source_nb``, less any line the
    release shows too (an import both the visible and the hidden part use is no leak)."""
    import re

    import nbformat

    lines = set()
    for cell in nbformat.read(source_nb, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS",
                                cell.source, re.S):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12}
    if release_nb is not None and release_nb.exists():
        shown = {ln.strip() for c in nbformat.read(release_nb, as_version=4).cells
                 for ln in c.source.splitlines()}
        lines -= shown
    return lines


@dataclass
class Bug:
    """One planted bug: the solution with ``edits`` applied to answer cells.

    ``edits``: {grade_id: [(old, new), ...]}; ``expect``: text the student's
    feedback must contain (the failing check's name or its hint).
    """

    name: str
    edits: dict
    expect: list[str] = field(default_factory=list)


#: Every bug fixture is checked in-process (tests/test_bug_fixtures.py; ps3's in tests/test_ps3.py:
#: its test cell fails and says what the feedback must say); the graded batches grade every
#: E2E_STRIDE-th of them end to end, through the judge and nbgrader, into the feedback page.
E2E_STRIDE = 3


def e2e_bugs(assignment: str) -> list[Bug]:
    """The bug fixtures of ``assignment`` that its graded batch grades end to end."""
    return load_bugs(assignment)[::E2E_STRIDE]


def load_bugs(assignment: str) -> list[Bug]:
    path = ROOT / "tests" / f"bugs_{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"bugs_{assignment}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.BUGS)


@dataclass
class GradedBatch:
    course: Path
    assignment: str
    scores: dict
    bugs: list

    def feedback_html(self, student: str) -> str:
        files = sorted((self.course / "feedback" / student / self.assignment).glob("*.html"))
        assert files, f"no feedback for {student}"
        return "\n".join(f.read_text() for f in files)

    def feedback_text(self, student: str) -> str:
        """The feedback page's text as the student reads it: no tags, entities decoded."""
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.feedback_html(student)))


def build_batch(tmp: Path, assignment: str, bugs: list[Bug] | None = None,
                alt: bool = False) -> Path:
    """A private course with ``assignment`` generated (real ``nbgrader generate_assignment``)
    and its submissions: the solution, the unmodified release and one per bug fixture
    (``bug-<name>``; ``bugs``: these, else :func:`e2e_bugs`); with ``alt``, the second correct solution of
    tests/alt_solutions/ too (student ``alt``). Returns the course directory."""
    course = C.copy_course(tmp / "course", assignment, root=ROOT)
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    release_dir = course / "release" / assignment
    C.write_submission(course, assignment, "release",  # as handed out, with its other files
                       {p.name: p for p in release_dir.iterdir() if p.is_file()})
    for student, files in (extra_submissions(course, assignment) if alt else {}).items():
        C.write_submission(course, assignment, student, files)
    if alt and alt_solutions.has_alt(assignment):
        # ps5's engine: exported from ps3's committed release, kept in sync with source/ by
        # test_assignments.py::test_every_release_is_in_sync_with_source
        C.write_submission(course, assignment, alt_solutions.STUDENT, alt_solutions.alt_submission(
            release_dir, assignment, ROOT / "release" / "ps3" / "ps3.ipynb", tmp))
    C.write_solution_submissions(course, assignment, {
        "solution": {}, **{f"bug-{bug.name}": bug.edits
                           for bug in (e2e_bugs(assignment) if bugs is None else bugs)}})
    return course


#: ps5's engine test (tests/test_ps5_engine.py): the solution notebook with an engine whose tanh
#: backward is wrong, and with no engine at all, graded in the session's ps5 batch
PS5_BUGGY_ENGINE, PS5_NO_ENGINE = "engine-tanh-wrong", "engine-missing"
PS5_TANH_BACKWARD = ("return (grad * (1 - t**2),)", "return (grad * (1 - t),)")


#: in the batches of the assignments whose answers must not use torch: the solution, except
#: that one answer hands its work to torch (ps1: part A's grad_tanh_mean by torch.autograd;
#: ps2: d_exp; ps5: an engine that imports torch). tests/test_assignments.py checks what it loses.
TORCH_USER = "uses-torch"
PS2_D_EXP_BY_TORCH = {"ps2-local-derivatives": [(
    "return np.exp(x)  # exp is its own derivative",
    "import torch\n    t = torch.tensor(x, requires_grad=True)\n    t.exp().sum().backward()\n"
    "    return t.grad.numpy()")]}
PS1_TANH_BY_TORCH = {"ps1-grad-tanh-mean": [(
    "return (1 - np.tanh(x) ** 2) / x.size",
    "t = torch.tensor(x, requires_grad=True)\n    t.tanh().mean().backward()\n"
    "    return t.grad.numpy()")]}


def extra_submissions(course: Path, assignment: str) -> dict[str, dict]:
    """Submissions that other test files read from the session's batch of ``assignment``."""
    release = course / "release" / assignment / f"{assignment}.ipynb"
    source = course / "source" / assignment / f"{assignment}.ipynb"
    if assignment == "ps2":
        return {TORCH_USER: {"ps2.ipynb": C.solution_submission(release, source, PS2_D_EXP_BY_TORCH)}}
    if assignment == "ps1":
        return {TORCH_USER: {"ps1.ipynb": C.solution_submission(release, source, PS1_TANH_BY_TORCH)}}
    if assignment != "ps5":
        return {}
    solved = C.solution_submission(release, source)
    engine = (course / "source" / "ps5" / "minigrad.py").read_text()
    old, new = PS5_TANH_BACKWARD
    assert engine.count(old) == 1, "source/ps5/minigrad.py: tanh's backward changed"
    # the engine passes its work to torch (a torch-backed Variable would import it just so)
    by_torch = engine.replace("import numpy as np\n", "import numpy as np\nimport torch\n", 1)
    assert by_torch != engine, "source/ps5/minigrad.py: no 'import numpy as np' line"
    return {PS5_BUGGY_ENGINE: {"ps5.ipynb": solved, "minigrad.py": engine.replace(old, new).encode()},
            PS5_NO_ENGINE: {"ps5.ipynb": solved},
            TORCH_USER: {"ps5.ipynb": solved, "minigrad.py": by_torch.encode()}}


def grade_batch(tmp: Path, assignment: str) -> GradedBatch:
    """The batch of :func:`build_batch` graded by the project's own grader, with feedback.

    ``autograder.grading.grade`` runs nbgrader's Autograde converter with the test cells in
    the judge (docs/architecture.md); tests/test_bench.py proves it scores like stock
    ``nbgrader autograde`` on one assignment, so the other batches need not pay for stock.
    """
    import io

    from autograder.grading import grade

    course = build_batch(tmp, assignment, alt=True)
    progress = io.StringIO()
    run = grade(course, assignment, report=False, stream=progress)
    assert not run.failures, (f"{assignment}: not graded: "
                              + "; ".join(f"{r.student}: {r.reason}" for r in run.failures)
                              + "\n" + progress.getvalue()[-3000:])
    return GradedBatch(course, assignment, C.gradebook_scores(course, assignment),
                       e2e_bugs(assignment))


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """``graded(assignment)``: the assignment graded once per test run, shared by xdist workers.

    The first worker to ask grades it under a file lock in the run's shared temp
    directory and leaves the scores there as JSON; the others wait and reuse them.
    """
    import fcntl
    import json

    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's basetemp is <run>/popen-gwN: share <run>. Without xdist,
    # basetemp is the run's own directory (its parent holds earlier runs: never reuse those)
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache: dict[str, GradedBatch] = {}

    def get(assignment: str) -> GradedBatch:
        if assignment in cache:
            return cache[assignment]
        work = shared / f"graded-{assignment}"
        done = shared / f"graded-{assignment}.json"
        with open(shared / f"graded-{assignment}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(work, ignore_errors=True)  # what a killed worker left half-built
                batch = grade_batch(work, assignment)
                done.write_text(json.dumps(batch.scores))
        cache[assignment] = GradedBatch(work / "course", assignment, json.loads(done.read_text()),
                                        e2e_bugs(assignment))
        return cache[assignment]

    return get
