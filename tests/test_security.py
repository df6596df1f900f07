"""Grading holds against students and bad input (docs/design.md, docs/security.md).

One small assignment (``sec``: a hand-computed gradient and a tiny engine) is
defined here, released with real nbgrader, and submitted by ~30 students: two
correct ones, the untouched release, and one submission per attack or bad file
of docs/security.md's threat table. ``autograder grade`` grades them ALL IN ONE BATCH, twice. Checks:

- every attack scores no more than its honest work (the points its real code earns);
- every bad file and every incident has a clear reason in the summary;
- the correct submissions get full marks; the untouched release gets 0;
- nothing in submitted/ changes (hashes); the second run gives the same grades;
- a manual grade survives the re-run; no hidden test code or solution reaches feedback;
- a detached process cannot change scores after grading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from graded_fixture import (
    ENGINE,
    ENGINE_TEST,
    SETUP,
    SQUARE,
    SQUARE_TEST,
    WRONG_ENGINE,
    WRONG_SQUARE,
    Case,
    above_honest_work,
    auto_score,
    grade_cli,
    missing_reasons,
    write_course,
)
from graded_fixture import answer as _answer
from graded_fixture import append as _append
from graded_fixture import cell as _cell
from graded_fixture import hashes as _hashes
from graded_fixture import meta as _meta
from graded_fixture import solved as _solved

from autograder import course as C

pytestmark = [pytest.mark.slow]  # one batch, one worker (bin/test: --dist loadfile)

A = "sec"
SQUARE_POINTS, ENGINE_POINTS, EXPLAIN_POINTS = 2, 3, 1
AUTO_MAX = SQUARE_POINTS + ENGINE_POINTS






def source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.language_info = {"name": "python"}
    nb.metadata.autograder = {"student_torch": False}  # the engine is graded without torch
    cells = [
        nbformat.v4.new_markdown_cell("# Security fixture\nA gradient and a tiny engine.",
                                      metadata=_meta("intro", locked=True)),
        nbformat.v4.new_code_cell(SETUP, metadata=_meta("setup", locked=True)),
        nbformat.v4.new_code_cell(SQUARE, metadata=_meta("square", solution=True)),
        nbformat.v4.new_code_cell(SQUARE_TEST, metadata=_meta(
            "square-test", grade=True, locked=True, points=SQUARE_POINTS)),
        nbformat.v4.new_code_cell(ENGINE, metadata=_meta("engine", solution=True)),
        nbformat.v4.new_code_cell(ENGINE_TEST, metadata=_meta(
            "engine-test", grade=True, locked=True, points=ENGINE_POINTS)),
        nbformat.v4.new_markdown_cell("Why does a value used twice get the sum of both "
                                      "gradients?", metadata=_meta("explain-q", locked=True)),
        nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata=_meta(
            "explain", grade=True, solution=True, points=EXPLAIN_POINTS)),
    ]
    for c, cid in zip(cells, ["intro", "setup", "square", "square-test", "engine",
                              "engine-test", "explain-q", "explain"]):
        c["id"] = cid
    nb.cells = cells
    return nb


# ---------------------------------------------------------------------------- fixtures



def cases(course: Path) -> list[Case]:
    db = course / "gradebook.db"
    src = course / "source" / A / f"{A}.ipynb"

    def sol(f=None):
        def build(rel, srcp):
            nb = _solved(rel, srcp)
            if f:
                f(nb)
            return {f"{A}.ipynb": nb}
        return build

    def wrong(f=None):
        def g(nb):
            _answer(nb, "square", WRONG_SQUARE)
            _answer(nb, "engine", WRONG_ENGINE)
            if f:
                f(nb)
        return sol(g)

    def raw(data: bytes, name=f"{A}.ipynb"):
        return lambda rel, srcp: {name: data}

    def v3(rel, srcp):
        nb = _solved(rel, srcp)
        return {f"{A}.ipynb": nbformat.writes(nbformat.convert(nb, 3)).encode()}

    def schema(nb):
        _cell(nb, "square-test").metadata.nbgrader["schema_version"] = 99

    def strip_all(nb):
        for c in nb.cells:
            c.metadata.pop("nbgrader", None)

    def delete_tests(nb):
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")
                    or c.metadata["nbgrader"].get("solution")]

    def reorder(nb):
        i = nb.cells.index(_cell(nb, "engine-test"))
        j = nb.cells.index(_cell(nb, "engine"))
        nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]

    def retype(nb):
        c = _cell(nb, "square-test")
        c.cell_type = "markdown"
        c.pop("outputs", None)
        c.pop("execution_count", None)

    def edit_tests(nb):
        _cell(nb, "square-test").source = "pass  # tests removed"
        _cell(nb, "engine-test").source = "pass"

    def points(nb):
        _cell(nb, "square-test").metadata.nbgrader["points"] = 100

    def visible_only(nb):  # honest work: right for the visible input only
        _answer(nb, "square", "def square_grad(x):\n    return 2 * x if x.shape == (3,) else x\n")

    detached = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', '''\n"
        "import os, sqlite3, time\n"
        "if os.fork(): os._exit(0)\n"
        "os.setsid()\n"
        "time.sleep(30)  # outlives its notebook, however slow the machine\n"
        f"db = sqlite3.connect({str(db)!r})\n"
        "db.execute('UPDATE grade SET manual_score = 99')\n"
        "db.commit()\n"
        f"open({str(course / 'DETACHED-WAS-HERE')!r}, 'w').write('x')\n"
        "'''], start_new_session=True)\n")

    out = [
        Case("ok-1", sol(), AUTO_MAX),
        Case("ok-2", sol(), AUTO_MAX),
        Case("release", lambda rel, srcp: {f"{A}.ipynb": rel}, 0),
        # --- tests and metadata
        Case("edited-tests", wrong(edit_tests), 0, r"checksum|changed|restored"),
        Case("changed-points", sol(points), AUTO_MAX, r"points"),
        Case("deleted-tests", sol(delete_tests), AUTO_MAX, r"missing|deleted|added back"),
        Case("reordered-tests", sol(reorder), SQUARE_POINTS, r"order"),
        Case("retyped-test", sol(retype), AUTO_MAX, r"cell_type|type"),
        Case("stripped-metadata", sol(strip_all), AUTO_MAX, r"missing|metadata"),
        Case("unknown-schema", sol(schema), 0, r"schema_version", failed=True),
        # --- monkeypatching what the tests rely on, with wrong answers (honest work: 0)
        Case("patch-numpy", wrong(lambda nb: _append(nb, "square",
             "np.isclose = lambda a, b, **k: np.ones(np.broadcast_shapes(np.shape(a), "
             "np.shape(b)), bool)\nnp.allclose = lambda *a, **k: True")), 0,
             r"does not match torch"),
        Case("patch-torch", wrong(lambda nb: _append(nb, "square",
             "import torch\ntorch.Tensor.__pow__ = lambda self, e: self * self * 0.5")), 0,
             r"does not match torch"),
        Case("patch-autograder", wrong(lambda nb: _append(nb, "square",
             "import autograder.checks\nautograder.checks.assert_close = lambda *a, **k: None")), 0,
             r"does not match torch"),
        Case("patch-builtins", sol(lambda nb: (visible_only(nb), _append(nb, "engine",
             "import builtins\nbuiltins.range = lambda *a: iter(())"))),
             ENGINE_POINTS, r"does not match torch"),
        Case("patch-during-test", wrong(lambda nb: _answer(nb, "engine", WRONG_ENGINE.replace(
             "    def backward(self):\n", "    def backward(self):\n"
             "        import autograder.checks as _c\n"
             "        _c.assert_close = lambda *a, **k: None\n"))), 0, r"does not match torch"),
        Case("redefined-helper", wrong(lambda nb: _append(nb, "square",
             "def assert_grad_close(*a, **k):\n    pass\n"
             "def check_gradients(*a, **k):\n    pass")), 0, r"does not match torch"),
        Case("ipython-custom-exc", wrong(lambda nb: _append(nb, "square",
             "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)")), 0,
             r"does not match torch"),
        Case("ipython-ast-transformer", wrong(lambda nb: _append(nb, "square",
             "import ast\nclass _NoChecks(ast.NodeTransformer):\n"
             "    def visit_Expr(self, node):\n        return ast.Pass()\n"
             "get_ipython().ast_transformers.append(_NoChecks())")), 0, r"does not match torch"),
        Case("sink-finalizer", wrong(lambda nb: _append(nb, "square",
             "import gc\n_G = get_ipython().__class__._showtraceback.__globals__\n"
             "class _Strip:\n    def __del__(self):\n        s = _G['_SINK']\n"
             "        s.outputs[:] = [o for o in s.outputs if o.get('output_type') != 'error']\n"
             "        _arm()  # again, for the next test\n"
             "def _arm():\n    a = _Strip()\n    a.me = a\n_arm()\ngc.disable()")), 0,
             r"does not match torch"),
        Case("patching-thread", wrong(lambda nb: _append(nb, "square",
             "import threading, time\ndef _keep_patching():\n    while True:\n"
             "        np.isclose = lambda a, b, **k: np.ones(np.broadcast_shapes("
             "np.shape(a), np.shape(b)), bool)\n        time.sleep(0.0001)\n"
             "threading.Thread(target=_keep_patching, daemon=True).start()")), 0,
             r"does not match torch"),
        Case("forged-results", wrong(lambda nb: _append(nb, "square",
             "import os\nfor fd in range(3, 64):\n    try:\n        os.fstat(fd)\n"
             "        os.write(fd, b'{\"ev\": \"cell\", \"i\": 5, \"count\": 1, "
             "\"outputs\": []}\\n')\n    except OSError:\n        pass")), 0,
             r"does not match torch|protocol|stopped answering"),
        Case("fake-result", sol(lambda nb: _answer(nb, "square",
             "class Always:\n    def __eq__(self, o): return True\n"
             "    def __array__(self, *a, **k): raise TypeError('no')\n"
             "def square_grad(x):\n    return Always()\n")), ENGINE_POINTS,
             r"expected a numpy array or a number"),
        Case("torch-in-engine", sol(lambda nb: _answer(nb, "engine",
             "import torch\n"
             "class Variable:\n"
             "    def __init__(self, data, requires_grad=False):\n"
             "        self.t = data if isinstance(data, torch.Tensor) else "
             "torch.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)\n"
             "    data = property(lambda self: self.t.detach().numpy())\n"
             "    grad = property(lambda self: None if self.t.grad is None else "
             "self.t.grad.numpy())\n"
             "    def __add__(self, o): return Variable(self.t + (o.t if isinstance(o, Variable) else o))\n"
             "    def __mul__(self, o): return Variable(self.t * (o.t if isinstance(o, Variable) else o))\n"
             "    def sum(self): return Variable(self.t.sum())\n"
             "    def backward(self): self.t.backward()\n")), SQUARE_POINTS, r"without torch|must not use torch"),
        # --- disk and processes
        Case("read-hidden", sol(lambda nb: _append(nb, "square",
             "import os\n"
             "for p in ['../../../source/sec/sec.ipynb', '../../source/sec/sec.ipynb', "
             f"{str(src)!r}, {str(db)!r}]:\n"
             "    try:\n        print('LEAKED', open(p, 'rb').read()[:20000])\n"
             "    except OSError as e:\n        print('blocked:', type(e).__name__)\n")), AUTO_MAX),
        Case("write-gradebook", wrong(lambda nb: _append(nb, "square",
             f"import sqlite3\ntry:\n    db = sqlite3.connect({str(db)!r})\n"
             "    db.execute('UPDATE grade SET manual_score = 99')\n    db.commit()\n"
             "except Exception as e:\n    print('blocked:', type(e).__name__)\n")), 0),
        Case("detached-process", wrong(lambda nb: _append(nb, "square", detached)), 0,
             r"process\(es\) running"),
        Case("infinite-loop", sol(lambda nb: _append(nb, "engine",
             "def _spin(self):\n    while True:\n        pass\nVariable.backward = _spin")),
             SQUARE_POINTS, r"time|timeout|limit"),
        Case("memory-bomb", sol(lambda nb: _append(nb, "engine",
             "def _bomb(self):\n    chunks = []\n    while True:\n"
             "        chunks.append(np.ones(1_000_000_000))\nVariable.backward = _bomb")),
             SQUARE_POINTS, r"MemoryError|memory|ran past"),
        Case("huge-output", sol(lambda nb: _append(nb, "square",
             "print('x' * 50_000_000)\nraise ValueError('y' * 20_000_000)")), AUTO_MAX,
             r"truncated"),
        Case("flood-in-test", wrong(lambda nb: _answer(nb, "square",
             "def square_grad(x):\n    print('y' * 300_000)  # pushes the failure out?\n"
             "    return x\n")), 0, r"does not match torch"),
        Case("os-exit", sol(lambda nb: _append(nb, "engine", "import os\nos._exit(3)")),
             SQUARE_POINTS, r"exit"),
        Case("system-exit", sol(lambda nb: _append(nb, "engine", "raise SystemExit(1)")),
             AUTO_MAX),
        Case("killed-kernel", sol(lambda nb: _append(nb, "engine",
             "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")),
             SQUARE_POINTS, r"kill"),
        Case("killed-grader", sol(lambda nb: _append(nb, "engine",
             "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")), 0,
             r"zygote|grading process", failed=True),
        # --- files
        Case("not-a-notebook", raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)), 0,
             r"not a notebook|UTF-8", failed=True),
        Case("invalid-json", raw(b'{"cells": [{"cell_type": "code", "source": "x = '), 0,
             r"JSON", failed=True),
        Case("old-nbformat", v3, AUTO_MAX, r"nbformat"),
        Case("wrong-name", lambda rel, srcp: {"Sec final (1).ipynb": _solved(rel, srcp)}, 0,
             r"Sec final \(1\)\.ipynb|name", failed=True),
        Case("missing-notebook", lambda rel, srcp: {"answers.txt": b"I did it on paper"}, 0,
             r"missing|no notebook|not submitted", failed=True),
    ]
    return out


# ---------------------------------------------------------------------------- the batch


def _grade(course: Path, *extra: str):
    return grade_cli(course, A, *extra)


def _auto(scores, student):
    return auto_score(scores, student, skip=("explain",))


#: what the second run re-grades (the others must keep their grades untouched)
REGRADED = ("ok-1", "release", "edited-tests", "deleted-tests", "stripped-metadata",
            "write-gradebook", "read-hidden", "detached-process", "killed-grader", "invalid-json")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    t0 = time.monotonic()
    course = tmp_path_factory.mktemp("security") / "course"
    all_cases = write_course(course, A, source_notebook(), cases, timeout=4,
                             notebook_timeout=30, grace=1.5)
    before = _hashes(course / "submitted")
    first = _grade(course)
    scores1 = C.gradebook_scores(course, A)
    # the detached process would strike 30 s after it starts: wait until it is gone
    survivors = _wait_until_no_process_names(str(course / "DETACHED-WAS-HERE"), timeout=60)
    after_sleep = C.gradebook_scores(course, A)
    # a manual grade, given between the runs, must survive the re-run
    from nbgrader.api import Gradebook

    with Gradebook(C.db_url(course)) as gb:
        g = gb.find_grade("explain", A, A, "ok-1")
        g.manual_score = 1
        gb.db.commit()
    # feedback was checked on the first run; the re-run grades the cases that leave or aim at
    # what outlasts a run (the gradebook, files, processes), a bad file, and the manual grade
    second = _grade(course, "--no-feedback", "--student", *REGRADED)
    scores2 = C.gradebook_scores(course, A)
    return dict(course=course, cases=all_cases, first=first, second=second, scores1=scores1,
                after_sleep=after_sleep, survivors=survivors, scores2=scores2, before=before,
                after=_hashes(course / "submitted"), seconds=time.monotonic() - t0)


def _wait_until_no_process_names(text: str, timeout: float) -> list[int]:
    """Wait until no live process has ``text`` in its command line; the pids still alive
    after ``timeout`` seconds (none: every such process is gone, whenever it went)."""
    needle = text.encode()
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for d in Path("/proc").iterdir():
            try:  # a zombie's cmdline is empty: it can no longer act
                if d.name.isdigit() and needle in (d / "cmdline").read_bytes():
                    alive.append(int(d.name))
            except OSError:
                pass  # it ended while we looked
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_batch_ran(batch):
    first = batch["first"]
    print(f"both runs in {batch['seconds']:.0f} s")
    print(first.stdout[-6000:], first.stderr[-3000:])
    # exit 1: some cases are bad files, reported as failures; every case was taken up
    assert first.returncode == (1 if any(c.failed for c in batch["cases"]) else 0), first.stderr[-3000:]
    n = len(batch["cases"])
    assert f"grading {A}" in first.stderr and f"{n}/{n}" in first.stderr, first.stderr[-3000:]


def test_correct_submissions_get_full_marks(batch):
    for s in ("ok-1", "ok-2"):
        assert _auto(batch["scores1"], s) == AUTO_MAX, batch["scores1"].get(s)
    assert _auto(batch["scores1"], "release") == 0


def test_every_case_scores_no_more_than_its_honest_work(batch):
    bad = above_honest_work(batch["cases"], lambda name: _auto(batch["scores1"], name))
    assert not bad, "\n".join(bad)


def test_honest_work_is_not_lost_either(batch):
    """Attacks that also hold real work keep exactly that work's points (no collateral damage)."""
    off = [(c.name, c.honest, _auto(batch["scores1"], c.name)) for c in batch["cases"]
           if not c.failed and _auto(batch["scores1"], c.name) != c.honest]
    assert not off, off


def test_every_bad_file_and_incident_has_a_reason(batch):
    out = batch["first"].stdout
    missing = missing_reasons(batch["cases"], out, batch["course"], A)
    assert not missing, "\n".join(missing) + "\n---\n" + out[-4000:]


def test_submitted_files_never_change(batch):
    assert batch["before"] == batch["after"]


def test_second_run_gives_the_same_grades(batch):
    s1, s2 = batch["scores1"], batch["scores2"]
    assert set(REGRADED) <= {c.name for c in batch["cases"]}, "REGRADED names a case that is gone"
    assert f"{len(REGRADED)}/{len(REGRADED)}" in batch["second"].stderr, batch["second"].stderr[-3000:]
    for case in batch["cases"]:  # the re-graded the same, the others untouched
        assert _auto(s1, case.name) == _auto(s2, case.name), case.name


def test_manual_grade_survives_regrading(batch):
    cells = batch["scores2"]["ok-1"]["cells"]
    assert batch["scores2"]["ok-1"]["score"] == AUTO_MAX + 1, cells


def test_no_detached_process_changes_scores_later(batch):
    assert not batch["survivors"], f"the detached process outlived grading: {batch['survivors']}"
    assert not (batch["course"] / "DETACHED-WAS-HERE").exists()
    for case in batch["cases"]:
        assert _auto(batch["scores1"], case.name) == _auto(batch["after_sleep"], case.name)
    manual = [(s, v["cells"]) for s, v in batch["after_sleep"].items()
              if v["score"] is not None and v["score"] > AUTO_MAX + EXPLAIN_POINTS]
    assert not manual, manual


def test_no_hidden_tests_or_solutions_leak_into_feedback_or_outputs(batch):
    """Feedback never shows hidden test code; no output anywhere holds the solution."""
    from autograder.sandbox import sandbox_status

    course = batch["course"]
    hidden_code = "hidden_x = random_inputs((2, 3), seed=hidden_seed)[0]"  # a line only the hidden tests have
    feedback = sorted((course / "feedback").rglob("*.html"))
    assert len(feedback) >= 20
    for p in feedback:
        text = p.read_text(errors="replace")
        assert hidden_code not in text and "BEGIN HIDDEN TESTS" not in text, p
        assert "BEGIN SOLUTION" not in text, p
    for p in sorted((course / "autograded").rglob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
        assert "BEGIN SOLUTION" not in outputs, p
    nb = nbformat.read(course / "autograded" / "read-hidden" / A / f"{A}.ipynb", as_version=4)
    printed = json.dumps([c.get("outputs", []) for c in nb.cells])
    if sandbox_status().ok:  # without the OS sandbox this attack works: docs/security.md
        assert "LEAKED" not in printed and printed.count("blocked: FileNotFoundError") == 4, \
            printed[:2000]


def test_huge_output_is_capped(batch):
    course = batch["course"]
    for d in ("feedback", "autograded"):
        normal = sum(p.stat().st_size for p in (course / d / "ok-1").rglob("*") if p.is_file())
        for p in (course / d / "huge-output").rglob("*"):
            if p.is_file():  # 50 MB printed: at most a cell's cap (100 kB) more than a normal page
                assert p.stat().st_size < normal + 1_000_000, (p, p.stat().st_size, normal)


def test_sandbox_state_is_reported(batch):
    from autograder.sandbox import sandbox_status

    st = sandbox_status()
    text = batch["first"].stdout + batch["first"].stderr
    if st.ok:
        assert "sandbox" in text.lower()
    else:
        assert "WITHOUT the OS sandbox" in text


ZYGOTE_SCRIPT = r'''
import json, os, sys, time
from autograder.executor import Zygote
pidfile = sys.argv[1]
z = Zygote()
cells = [
    (0, "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])"),
    (1, "import subprocess, sys, time\n"
        "code = 'import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\n"
        "open(PIDFILE, \"w\").write(str(os.getpid()))\\ntime.sleep(60)'\n"
        f"subprocess.Popen([sys.executable, '-c', code.replace('PIDFILE', repr({json.dumps(pidfile)}))])\n"
        "time.sleep(1.5)"),
    (2, "x = bytearray(64 * 2**30)"),
]
r = z.run(None, cells, cell_timeout=20, notebook_timeout=60)
z.close()
out = {i: [o.get("text") or o.get("ename") for o in c["outputs"]] for i, c in r["cells"].items()}
print(json.dumps(out))
'''


def test_without_bwrap_limits_cleanup_and_audit_still_hold(tmp_path):
    """AUTOGRADER_SANDBOX=off: a loud warning; rlimits and process clean-up still hold."""
    pidfile = tmp_path / "daemon.pid"
    env = dict(os.environ, AUTOGRADER_SANDBOX="off")
    proc = subprocess.run([sys.executable, "-c", ZYGOTE_SCRIPT, str(pidfile)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WITHOUT the OS sandbox" in proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    from autograder.sandbox import Limits

    assert int(out["0"][0]) == Limits().memory_mb << 20
    assert out["2"] == ["MemoryError"], out
    pid = int(pidfile.read_text())  # the daemon did start, detached ...
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z", \
        "a detached process outlived its notebook"  # ... and is gone


#: System V shared memory from a notebook (ctypes: nothing to install)
SYSV = '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
def segment(key, mb, fill=b"secret"):
    ident = libc.shmget(key, mb << 20, 0o1000 | 0o600)  # IPC_CREAT: made, then filled
    at = libc.shmat(ident, None, 0)
    ctypes.memset(at, 1, mb << 20)
    ctypes.memmove(at, fill, len(fill))
    libc.shmdt(ctypes.c_void_p(at))
    return ident
'''


def test_a_notebook_cannot_pass_ipc_to_the_next_nor_hold_memory_or_disk_past_the_limits(
        tmp_path, monkeypatch):
    """What rlimits do not count (a red team's, session 15): System V IPC, which outlives the
    notebook in the zygote's IPC namespace, is removed after each one; shared memory and
    what the slot's disk loses are watched while it runs; /tmp and /dev/shm are sized."""
    from autograder.executor import Zygote
    from autograder.sandbox import sandbox_status

    if not sandbox_status().ok:
        pytest.skip(f"needs the OS sandbox: {sandbox_status().reason}")
    monkeypatch.setenv("AUTOGRADER_LIMITS", "scratch_mb=64,disk_mb=64")
    z = Zygote(slot_root=str(tmp_path), torch=False)
    try:
        def run(code, timeout=30):
            r = z.run(None, [(0, SYSV), (1, code)], cell_timeout=timeout, notebook_timeout=60)
            outs = [o.get("text") or o.get("evalue") or "" for o in r["cells"].get(1, {}).get("outputs", [])]
            return "".join(outs), r.get("error")

        out, err = run("print(segment(0x5EC, 1))")
        assert err is None and out.strip().isdigit(), (out, err)
        # the next notebook, in the same zygote, finds nothing of it
        out, err = run("print(libc.shmget(0x5EC, 0, 0), len(open('/proc/sysvipc/shm').read().splitlines()))")
        assert out.split() == ["-1", "1"], out  # no such key; the table's header alone
        # memory outside the address space, over scratch_mb: killed, and the report says why
        out, err = run("import time\nfor k in range(4):\n    segment(0, 32)\ntime.sleep(20)")
        assert err and err["kind"] == "limits" and "more than 64 MB in System V shared memory" in \
            err["detail"], err
        # the disk: files of 8 MB each (under file_mb) until the watch stops it
        out, err = run("import time\nfor k in range(40):\n    open(f'f{k}', 'wb').write(b'x' * (8 << 20))\n"
                       "time.sleep(20)")
        assert err and err["kind"] == "limits" and "wrote more than 64 MB to disk" in err["detail"], err
        # /tmp and /dev/shm are 64 MB tmpfs here
        out, err = run("import errno\nfor d in ('/tmp', '/dev/shm'):\n    try:\n"
                       "        for k in range(3):\n"
                       "            open(f'{d}/f{k}', 'wb').write(b'x' * (40 << 20))\n"
                       "    except OSError as e:\n        print(d, errno.errorcode[e.errno])")
        assert err is None and out.split() == ["/tmp", "ENOSPC", "/dev/shm", "ENOSPC"], (out, err)
    finally:
        z.close()
