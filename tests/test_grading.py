"""``autograder grade`` and ``autograder selfgrade`` against stock nbgrader, on a small mixed batch.

One batch (bench/synthetic.py's assignment, so these tests do not depend on
the course's assignments): the solution, three one-bug variants and a corrupt
notebook (invalid JSON). The comparison of scores with stock ``nbgrader
autograde`` is tests/test_bench.py (a real assignment, through the grading benchmark).
"""

from __future__ import annotations

import hashlib
import html as H
import io
import json
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, default_signal_actions

from autograder import course as C

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

A = synthetic.NAME
GOOD = ["ok", "bug-mul-sign", "bug-no-accumulate", "bug-crash"]
CORRUPT = "corrupt"


def _hashes(d):
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _auto_cells(scores):
    """{student: {grade_id: (score, max)}} for the autograded cells only."""
    return {s: {k: v for k, v in d["cells"].items() if k != "synth-written"}
            for s, d in scores.items()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from autograder.grading import grade

    tmp = tmp_path_factory.mktemp("grading")
    course = C.copy_course(tmp / "course", root=ROOT)
    synthetic.write_course(course, GOOD)
    C.write_submission(course, A, CORRUPT, {f"{A}.ipynb": b'{"cells": [ this is not JSON'})
    before = _hashes(course / "submitted")
    out = io.StringIO()
    run = grade(course, A, jobs=2, stream=out)
    return {"course": course, "run": run, "progress": out.getvalue(),
            "before": before, "scores": C.gradebook_scores(course, A)}


@pytest.mark.slow
def test_scores_of_the_solution_and_the_bugs(batch):
    ours = _auto_cells(batch["scores"])
    assert ours["ok"] == {"synth-test-add": (2.0, 2.0), "synth-test-mul": (3.0, 3.0),
                          "synth-test-accum": (2.0, 2.0)}
    for s in GOOD[1:]:
        assert batch["scores"][s]["auto_score"] < batch["scores"]["ok"]["auto_score"], s


@pytest.mark.slow
def test_corrupt_notebook_is_reported_and_does_not_stop_the_batch(batch):
    run = batch["run"]
    assert [r.student for r in run.failures] == [CORRUPT]
    assert "JSON" in run.failures[0].reason, run.failures[0].reason
    graded = {r.student for r in run.results if r.ok}
    assert graded == set(GOOD)
    for s in GOOD:
        # a valid notebook (nbconvert checks the schema once, after the last step)
        nbformat.validate(nbformat.read(batch["course"] / "autograded" / s / A / f"{A}.ipynb",
                                        as_version=4))
    assert not (batch["course"] / "autograded" / CORRUPT / A / f"{A}.ipynb").exists()
    # the report names it, with its reason
    report = (batch["course"] / "reports" / A / "report.md").read_text()
    assert CORRUPT in report and "JSON" in report


@pytest.mark.slow
def test_progress_bar_shows_count_and_failures(batch):
    text = batch["progress"]
    assert f"grading {A}" in text
    assert "5/5" in text and "failed=1" in text
    assert f"FAILED {CORRUPT}" in text


@pytest.mark.slow
def test_feedback_grades_csv_and_report(batch):
    course = batch["course"]
    for s in GOOD:
        assert (course / "feedback" / s / A / f"{A}.html").is_file(), s
    csv = (course / "reports" / A / "grades.csv").read_text().splitlines()
    assert csv[0].startswith("assignment,duedate,timestamp,student_id")
    rows = {line.split(",")[3]: line for line in csv[1:]}
    assert set(GOOD) <= set(rows)
    assert rows["ok"].split(",")[-2] == "7.0"  # score: 7 autograded points, written answer pending
    report = (course / "reports" / A / "report.md").read_text()
    assert (course / "reports" / A / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for gid in ("synth-test-add", "synth-test-mul", "synth-test-accum"):
        assert gid in report
    # the hints the course's checks gave, counted: mul-sign's sign flip among them
    assert "sign flip" in report


@pytest.mark.slow
def test_feedback_has_no_hidden_test_code(batch):
    src = (batch["course"] / "source" / A / f"{A}.ipynb").read_text()
    import nbformat

    hidden = set()
    for cell in nbformat.reads(src, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            hidden.update(ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12)
    assert hidden
    for s in GOOD:
        page = (batch["course"] / "feedback" / s / A / f"{A}.html").read_text()
        text = H.unescape(re.sub(r"<[^>]+>", "", page))
        leaked = [ln for ln in hidden if ln in text]
        assert not leaked, f"feedback of {s} shows hidden test code: {leaked[:2]}"
    # ... but it does show the failing check's message and hint
    page = (batch["course"] / "feedback" / "bug-mul-sign" / A / f"{A}.html").read_text()
    assert "sign flip" in H.unescape(page)


@pytest.mark.slow
def test_rerun_changes_nothing_and_keeps_manual_grades(batch):
    from nbgrader.api import Gradebook

    from autograder.course import db_url
    from autograder.grading import grade

    course = batch["course"]
    with Gradebook(db_url(course)) as gb:
        g = gb.find_grade("synth-written", A, A, "ok")
        g.manual_score = 1.0
        gb.db.commit()
    run = grade(course, A, jobs=2, stream=io.StringIO())
    assert [r.student for r in run.failures] == [CORRUPT]
    after = C.gradebook_scores(course, A)
    assert _auto_cells(after) == _auto_cells(batch["scores"])
    assert after["ok"]["score"] == 8.0  # 7 autograded + the manual point, still there
    with Gradebook(db_url(course)) as gb:
        assert gb.find_grade("synth-written", A, A, "ok").manual_score == 1.0
    assert _hashes(course / "submitted") == batch["before"], "submitted/ changed"


@pytest.mark.slow
def test_selfgrade_agrees_with_the_instructor(batch, capsys):
    from autograder.selfgrade import format_result, selfgrade

    course = batch["course"]
    student = "bug-no-accumulate"
    r = selfgrade(course / "submitted" / student / A / f"{A}.ipynb", root=course)
    assert r.ok, r.reason
    mine = {c.grade_id: (c.score, c.max_score) for c in r.cells if not c.manual}
    assert mine == _auto_cells(batch["scores"])[student]
    text = format_result(r, "synth.ipynb")
    assert "5 / 7 autograded points" in text
    assert "x.grad after two backward() calls" in text  # the failing check's message
    src = (course / "source" / A / f"{A}.ipynb").read_text()
    assert "ref = torch_gradients(lambda t: (t * t).sum()" in src
    assert "ref = torch_gradients" not in text  # never the hidden test code


def test_the_judge_cells_are_compiled_before_the_workers_fork(batch):
    """warm_assignment compiles exactly what the judge will run: every test cell of a graded
    notebook (as OverwriteCells restored it, hidden tests included) is found compiled."""
    from autograder.grading import warm_assignment
    from autograder.judge import runner

    runner._COMPILED.clear()
    warm_assignment(batch["course"], A)
    graded = nbformat.read(batch["course"] / "autograded" / "ok" / A / f"{A}.ipynb",
                           as_version=4)
    tests = [c.source for c in graded.cells
             if c.cell_type == "code" and (c.metadata.get("nbgrader") or {}).get("grade")]
    assert tests and any("### BEGIN HIDDEN TESTS" in t for t in tests)
    assert all(t in runner._COMPILED for t in tests)


def _outputs(course, student):
    """Each code cell's outputs in ``student``'s autograded notebook (the seconds a check took,
    where a message gives them, left out)."""
    nb = nbformat.read(course / "autograded" / student / A / f"{A}.ipynb", as_version=4)
    return [[{k: re.sub(r"\d+\.\d+ s\b", "_ s", str(v)) for k, v in o.items()}
             for o in c.get("outputs", [])] for c in nb.cells if c.cell_type == "code"]


def test_judges_in_processes_of_their_own_grade_as_the_workers_did(batch, tmp_path):
    """A cold run (the module's batch: grade(), two workers) runs the test cells in judge
    processes of their own, which import torch while the workers import nbgrader
    (autograder.judge.apart): the same scores and the same outputs, cell for cell, as the
    workers judging themselves (AUTOGRADER_JUDGE_APART=0), for a correct answer, two wrong
    ones and one that crashes; the grading log names each judge."""
    import os

    course = C.copy_course(tmp_path / "course", root=ROOT)
    synthetic.write_course(course, GOOD)
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.cli", "grade", A, "--jobs", "2", "--no-daemon",
         "--no-report", "--course", str(course)],
        cwd=course, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, AUTOGRADER_JUDGE_APART="0"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (batch["course"] / "reports" / A / "grading.log").read_text()
    log0 = (course / "reports" / A / "grading.log").read_text()
    assert sorted(re.findall(r"INFO judge (\d) ready", log)) == ["0", "1"], log[-3000:]
    assert "judge 0 ready" not in log0
    scores, scores0 = batch["scores"], C.gradebook_scores(course, A)
    assert {s: scores[s] for s in GOOD} == scores0
    assert scores["ok"]["auto_score"] > max(scores[s]["auto_score"] for s in GOOD[1:])
    outputs = {s: _outputs(batch["course"], s) for s in GOOD}
    assert outputs == {s: _outputs(course, s) for s in GOOD}
    assert any("Error" in str(o) for o in outputs["bug-crash"]), outputs["bug-crash"]


def test_a_judge_that_dies_leaves_its_worker_to_judge_in_its_own_process(tmp_path):
    """The judge process of a cold run is killed while it runs a notebook (the kernel's
    out-of-memory killer might choose it): its worker runs that notebook again itself, and
    the next one; both are graded as they should be, and the log says what happened."""
    import os
    import signal
    import time

    course = C.copy_course(tmp_path / "course", root=ROOT)
    synthetic.write_course(course, ("a-slow", "b-ok"))
    C.write_solution_submissions(course, A, {"a-slow": {"synth-engine": [
        ("import numpy as np\n", "import numpy as np\nimport time\ntime.sleep(3)\n")]}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "grade", A, "--jobs", "1", "--no-daemon",
         "--no-report", "--no-feedback", "--course", str(course)],
        cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, AUTOGRADER_JUDGE_APART="1"))
    log_path = course / "reports" / A / "grading.log"
    try:
        judge = None
        deadline = time.monotonic() + 120
        while judge is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            found = re.search(r"\[pid (\d+)\] INFO judge 0 ready",
                              log_path.read_text() if log_path.exists() else "")
            judge = found and int(found.group(1))
        assert judge, proc.communicate()[0][-3000:]
        time.sleep(1)  # a-slow's engine cell sleeps 3 s: its notebook is running
        os.kill(judge, signal.SIGKILL)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    log = log_path.read_text()
    assert "the judge (the grading process that runs the test cells) ended; this worker " \
           "judges in its own process from now on" in log, log[-3000:]
    scores = C.gradebook_scores(course, A)
    assert scores["a-slow"]["auto_score"] == scores["b-ok"]["auto_score"] > 0, scores
    assert scores["a-slow"]["auto_score"] == sum(
        v[1] for k, v in scores["b-ok"]["cells"].items() if k != "synth-written")


def test_summary_names_where_each_note_belongs(tmp_path):
    from autograder.grading import GradingRun, SubmissionResult, summary

    results = [
        SubmissionResult("ann", ok=True, notebooks=1, incidents=[
            {"kind": "processes", "cell": None, "grade_id": None, "notebook": "ps3",
             "detail": "2 processes left running were killed"},
            {"kind": "timeout", "cell": 7, "grade_id": "ps3-backward-deep-test", "notebook": "ps3",
             "detail": "the cell ran past 60 s"}]),
        SubmissionResult("bob", ok=False, reason="not a notebook", incidents=[
            {"kind": "bad-file", "detail": "ps3.ipynb is not JSON"}]),
    ]
    text = summary(GradingRun(tmp_path, "ps3", results, jobs=2, autograde_seconds=3.0))
    assert "ann (ps3): 2 processes left running were killed" in text
    assert "ann (ps3, cell ps3-backward-deep-test): the cell ran past 60 s" in text
    assert "bob: ps3.ipynb is not JSON" in text
    assert "bob: not a notebook" in text
    assert "None" not in text
    # the report's incidents say the same (the cell's name in backticks), None nowhere either
    from autograder.grading import incident_where

    where = [incident_where(i, code=lambda c: f"`{c}`") for r in results for i in r.incidents]
    assert where == ["ps3", "ps3, cell `ps3-backward-deep-test`", ""]


def _adopted_zygote(slot_root, queue):
    from autograder import executor

    z = executor.shared_zygote(slot_root)
    pid = z.proc.pid  # (a zygote whose notebook could not be wiped clean is replaced after it)
    # a torch zygote without the optimizers' warm-up (that is the "optim" kind's): a student
    # who makes an optimizer anyway gets a working one, importing what it needs in the child
    result = z.run(None, [(0, "import sys\nprint(6 * 7, 'torch._dynamo' in sys.modules)"),
                          (1, "import torch\np = torch.nn.Parameter(torch.ones(2))\n"
                              "opt = torch.optim.SGD([p], lr=0.5)\np.sum().backward()\n"
                              "opt.step()\nprint(p.tolist())")])
    queue.put((pid, "".join(result["cells"][i]["outputs"][0]["text"] for i in (0, 1))))
    executor._close_zygotes()


def test_nothing_a_notebook_writes_reaches_the_next_one_and_its_zygote_stays(tmp_path):
    """A notebook writes in its sandbox's /tmp, in /dev/shm, in the directories bwrap made on
    the way to what it mounted there (the slot's), and leaves a link: the next notebook of the
    same zygote finds none of it, and the zygote is kept (it was replaced after every notebook
    when the course's environment lived under /tmp)."""
    from autograder import executor
    from autograder.sandbox import sandbox_status

    if not sandbox_status().ok:
        pytest.skip("no OS sandbox here: /tmp is everyone's, only the slot is wiped")
    z = executor.shared_zygote(str(tmp_path), torch=False)
    pid = z.proc.pid
    places = "[os.path.dirname(os.path.dirname(os.getcwd())), '/tmp', '/dev/shm']"
    write = (f"import os\nfor d in {places}:\n"
             "    open(os.path.join(d, 'left-by-ann'), 'w').write('x')\n"
             "os.makedirs('/tmp/ann/deeper')\n"
             "os.symlink(os.path.dirname(os.getcwd()), '/tmp/ann-link')\n"
             "print('written')")
    look = (f"import os\nfound = [p for d in {places} for p in os.listdir(d) "
            "if p.startswith('ann') or p == 'left-by-ann']\nprint(sorted(found))")
    first = z.run(None, [(0, write)])
    assert first["cells"][0]["outputs"][0]["text"] == "written\n", first
    assert first["clean"] and z.alive() and z.proc.pid == pid
    second = z.run(None, [(0, look)])
    assert second["cells"][0]["outputs"][0]["text"] == "[]\n", second
    executor._close_zygotes()


def test_warm_ups_run_without_the_collector_and_leave_it_as_they_found_it(tmp_path):
    """The import-heavy warm-ups (a zygote's, the grading command's, the daemon's) switch the
    cyclic garbage collector off and freeze what they made; a notebook's process and the
    process that warmed up have it on again afterwards, or a student's cycles would pile up."""
    import gc

    from autograder import executor

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with executor.imports_without_gc():
        assert not gc.isenabled()
        made = [[] for _ in range(1000)]
        for a in made:  # cycles that only the collector frees
            a.append(a)
    assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(made)
    gc.disable()
    try:  # off before: off after, and nothing frozen without being asked
        frozen = gc.get_freeze_count()
        with executor.imports_without_gc(freeze=False):
            pass
        # (<=: an object frozen earlier may be freed meanwhile, by another thread of this
        # process too; the fresh-clone run once saw 2 fewer)
        assert not gc.isenabled() and gc.get_freeze_count() <= frozen
    finally:
        gc.enable()
    z = executor.shared_zygote(str(tmp_path), torch=False)
    cell = ("import gc\nclass Ring: pass\nr = Ring(); r.me = r; del r\n"
            "print(gc.isenabled(), gc.get_freeze_count() > 10000, gc.collect() >= 1)")
    out = z.run(None, [(0, cell)])
    assert out["cells"][0]["outputs"][0]["text"] == "True True True\n", out
    executor._close_zygotes()


def test_each_assignment_gets_the_zygote_kind_its_source_asks_for(tmp_path):
    """No torch where the source says students may not use it (ps2, ps3, ps5), with pyplot
    warmed where a cell of the student's process draws (ps5's set-up imports it; ps3's
    pictures are drawn by the judge); torch and its optimizers' warm-up where the instructor's
    notebook uses torch.optim, torch without pyplot or backward(gradient) warmed where no cell
    of the student's process uses them (ps1; ps4's hand backward a gradient); the judge sets up pyplot where a cell
    draws (ps3's pictures, ps5's plot)."""
    from autograder import executor

    kinds = {a: executor.assignment_zygote_kind(ROOT, a) for a in ("ps1", "ps2", "ps3", "ps4", "ps5")}
    assert kinds == {"ps1": executor.TORCH_LEAN, "ps2": False, "ps3": False, "ps4": True,
                     "ps5": executor.NO_TORCH_PLOTS}
    assert not any(executor.has_torch(kinds[a]) for a in ("ps2", "ps3", "ps5"))
    draws = {a: executor.assignment_draws(ROOT, a) for a in ("ps1", "ps2", "ps3", "ps4", "ps5")}
    assert draws == {"ps1": False, "ps2": False, "ps3": True, "ps4": False, "ps5": True}
    # the judge runs torch's backward(gradient) (and imports sympy) before forking only where
    # a judge cell calls it: ps3's tests of backward's errors and of non-leaf gradients
    seeds = {a: executor.assignment_seeds(ROOT, a) for a in ("ps1", "ps2", "ps3", "ps4", "ps5")}
    assert seeds == {"ps1": False, "ps2": False, "ps3": True, "ps4": False, "ps5": False}
    # the same rule for a course of one's own: one notebook that draws, or needs optimizers,
    # is enough; one that may not use torch wins over all
    src = tmp_path / "source" / "a"
    src.mkdir(parents=True)
    nbformat.write(C.new_notebook([C.nbgrader_cell("code", "x = 1", "x")]), src / "one.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") == executor.TORCH_LEAN
    assert executor.has_torch(executor.TORCH_LEAN)
    assert not executor.assignment_draws(tmp_path, "a")
    # a student's cell that seeds a backward is not the judge's (its zygote warms it: True);
    # a test cell that does is
    nbformat.write(C.new_notebook([C.nbgrader_cell("code", "y.backward(g)", "b")]), src / "b.ipynb")
    assert not executor.assignment_seeds(tmp_path, "a")
    assert executor.assignment_zygote_kind(tmp_path, "a") is True
    nbformat.write(C.new_notebook([C.nbgrader_cell("code", "yt.backward(torch.ones(2))", "t",
                                                   grade=True, points=1)]), src / "b.ipynb")
    assert executor.assignment_seeds(tmp_path, "a")
    assert executor.assignment_zygote_kind(tmp_path, "a") == executor.TORCH_LEAN
    (src / "b.ipynb").unlink()
    nbformat.write(C.new_notebook([C.nbgrader_cell(
        "code", "from autograder.graph import draw_graph\ndraw_graph(y)", "pic")]), src / "pic.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") is True
    assert executor.assignment_draws(tmp_path, "a")
    nbformat.write(C.new_notebook([C.nbgrader_cell("code", "from torch.optim import SGD", "opt")]),
                   src / "two.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") == executor.OPTIM
    three = C.new_notebook([C.nbgrader_cell("code", "y = 2", "y")])
    three.metadata["autograder"] = {"student_torch": False}
    nbformat.write(three, src / "three.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") is False
    # ... with pyplot warmed if a cell that runs in the student's process draws; a test cell
    # that draws is the judge's
    four = C.new_notebook([C.nbgrader_cell("code", "plt.plot(x)", "t", grade=True, points=1)])
    four.metadata["autograder"] = {"student_torch": False}
    nbformat.write(four, src / "four.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") is False
    four.cells.insert(0, C.nbgrader_cell("code", "import matplotlib.pyplot as plt", "setup"))
    nbformat.write(four, src / "four.ipynb")
    assert executor.assignment_zygote_kind(tmp_path, "a") == executor.NO_TORCH_PLOTS


def test_a_judge_without_pyplot_warmed_draws_on_agg():
    """An assignment that draws nothing (ps1) forks its workers without pyplot; a judge cell
    that draws all the same imports it there, on Agg even where the instructor's MPLBACKEND is
    a notebook's inline backend (which the zygotes still get), and its figure becomes a PNG
    output."""
    code = ("import os, sys\n"
            "inline = 'module://matplotlib_inline.backend_inline'\n"
            "os.environ['MPLBACKEND'] = inline\n"
            "from autograder import grading\n"
            "from autograder.judge.runner import _figures\n"
            "grading.warm_judge(draws=False)\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            "assert os.environ['MPLBACKEND'] == inline  # the zygotes' environment, untouched\n"
            "outputs = []\n"
            "with _figures(outputs):\n"
            "    import matplotlib.pyplot as plt\n"
            "    plt.plot([1, 2, 3])\n"
            "import matplotlib\n"
            "print(matplotlib.get_backend(), [o['output_type'] for o in outputs],\n"
            "      outputs[0]['data']['image/png'][:8])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    backend, kinds, png = proc.stdout.split(" ", 1)[0], proc.stdout.split("[", 1)[1], proc.stdout
    assert backend.lower() == "agg", proc.stdout
    assert kinds.startswith("'display_data']"), proc.stdout
    assert png.rstrip().endswith("iVBORw0K"), proc.stdout  # base64 of a PNG's first bytes


def test_pool_workers_adopt_the_zygotes_started_before_them(tmp_path):
    """grade() starts the zygotes before forking its pool; each worker drives one of them."""
    import multiprocessing

    from autograder import executor

    slot_root = str(tmp_path)
    started = executor.prestart(2, slot_root)
    pids = {z.proc.pid for z in started}
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_adopted_zygote, args=(slot_root, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    executor.release_prestarted()
    try:
        got = [queue.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=60)
        executor.reap_prestarted(timeout=30)
    assert {pid for pid, _ in got} == pids  # one each, none started anew
    assert [text for _, text in got] == ["42 False\n[0.5, 0.5]\n"] * 2
    assert all(z.proc.poll() is not None for z in started)  # reaped: none left running


def test_a_students_figures_are_the_same_in_a_zygote_without_matplotlib_warmed(tmp_path,
                                                                               monkeypatch):
    """A zygote without torch (ps3's) or with lean torch (ps1's) leaves matplotlib to the
    notebook that imports it, one with torch sets it up first: a student's figures come out the
    same from all three, byte for byte (pyplot's figures flushed after the cell, a figure as the cell's value, the inline
    backend that a zygote chooses when MPLBACKEND is not set, as for an instructor)."""
    from autograder import executor

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the suite's Agg (conftest.py)

    plot = [(0, "import sys\nprint('matplotlib' in sys.modules)"),
            (1, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('plotted')"),
            (2, "fig, ax = plt.subplots()\nax.set_title('two')\nfig"),
            (3, "import matplotlib\nprint(matplotlib.get_backend())")]
    outputs, preloaded = {}, {}
    try:
        for kind in (False, True, executor.TORCH_LEAN):
            (tmp_path / str(kind)).mkdir()
            z = executor.shared_zygote(str(tmp_path / str(kind)), torch=kind)
            cells = z.run(None, plot)["cells"]
            preloaded[kind] = cells[0]["outputs"][0]["text"]
            outputs[kind] = [cells[i]["outputs"] for i in (1, 2, 3)]
    finally:
        executor._close_zygotes()
    assert preloaded == {False: "False\n", True: "True\n", executor.TORCH_LEAN: "False\n"}
    assert outputs[False] == outputs[True] == outputs[executor.TORCH_LEAN]
    drawn, value, backend = outputs[False]
    assert [o["output_type"] for o in drawn] == ["stream", "display_data"]
    assert [o["output_type"] for o in value] == ["execute_result", "display_data"]
    assert all(o["data"]["image/png"] for o in drawn[1:] + value)
    assert backend[0]["text"] == "module://matplotlib_inline.backend_inline\n"


def test_a_notebook_that_leaves_processes_ends_with_its_whole_sandbox(tmp_path):
    """Processes a notebook leaves behind are reaped, but a chain of them, each in a session of
    its own, can outlast the reaping and then kill the next students' notebooks (a red team's
    did, in the same zygote): such a notebook ends its zygote, sandbox and pid namespace with
    it, and the next notebook runs in a new one where none of them is."""
    from autograder import executor
    from autograder.sandbox import sandbox_status

    if not sandbox_status().ok:
        pytest.skip("no OS sandbox here: no pid namespace to end")
    z = executor.shared_zygote(str(tmp_path), torch=False)
    pid = z.proc.pid
    leave = ("import os, time\n"
             "for _ in range(3):\n"
             "    if os.fork() == 0:\n"
             "        os.setsid()\n"
             "        if os.fork() == 0:\n"
             "            time.sleep(300)\n"
             "        os._exit(0)\n"
             "time.sleep(0.2)\nprint('left')")
    first = z.run(None, [(0, leave)])
    assert first["cells"][0]["outputs"][0]["text"] == "left\n", first
    assert first["leftover"] >= 3 and z.proc is None, first  # ended
    look = ("import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    second = z.run(None, [(0, look)])
    assert z.proc.pid != pid
    # the sandbox's init, the zygote and this notebook: nothing the first one left
    assert int(second["cells"][0]["outputs"][0]["text"]) <= 3, second
    executor._close_zygotes()


def test_what_a_notebook_leaves_cannot_reach_the_zygote_that_replaces_its_own(tmp_path):
    """A notebook plants numpy.py in its working directory, makes its slot unreadable and kills
    its zygote (a red team's did, and every later notebook of that worker imported the planted
    numpy, or failed): the replacement starts in a fresh slot, from the installation's numpy."""
    from autograder import executor

    z = executor.shared_zygote(str(tmp_path), torch=False)
    plant = ("import os\n"
             "open('numpy.py', 'w').write('PLANTED = True\\n')\n"
             "os.chmod(os.path.dirname(os.getcwd()), 0o311)\n"
             "os.kill(os.getppid(), 9)\n")
    with pytest.raises(executor.ExecutorError, match="died|closed|exited"):  # as it raced
        z.run(None, [(0, plant)])
    look = "import os, numpy\nprint(hasattr(numpy, 'PLANTED'), os.listdir('.'), numpy.ones(2).sum())"
    second = z.run(None, [(0, look)])
    assert second["cells"][0]["outputs"][0]["text"] == "False [] 2.0\n", second
    executor._close_zygotes()


def test_one_list_of_what_a_process_without_torch_lacks():
    """The torch-free zygote (judge.sandboxed) and the torch-free replay of a kernel
    (integrity) block the same modules: torch and the libraries that differentiate for the
    student (sympy and mpmath come with torch), and the OS sandbox hides those installed."""
    from autograder import integrity, sandbox
    from autograder.judge import sandboxed

    assert set(integrity.BLOCKED) == set(sandboxed.WITHOUT_TORCH)
    assert {"torch", "sympy", "mpmath", "jax", "autograd"} <= set(sandboxed.WITHOUT_TORCH)
    hidden = {p.rstrip("/").rsplit("/", 1)[-1] for p in sandbox.torch_paths()}
    assert {"torch", "sympy", "mpmath"} <= hidden, hidden


@pytest.mark.slow
def test_a_grading_worker_that_dies_costs_its_submission_only(tmp_path):
    """A pool worker killed while it grades (here: os._exit in the worker, as the kernel's
    out-of-memory killer would end it) loses that submission, with a reason; the batch does
    not wait for it forever, and the other submissions are graded."""
    course = C.copy_course(tmp_path / "course", root=ROOT)
    synthetic.write_course(course, ("a-ok", "b-dies", "c-ok"))
    code = ("import os, sys\n"
            "from pathlib import Path\n"
            "from autograder import grading\n"
            "real = grading._grade_submission\n"
            "def dying(student, t0):\n"
            "    if student == 'b-dies':\n"
            "        os._exit(9)\n"
            "    return real(student, t0)\n"
            "grading._grade_submission = dying\n"
            "run = grading.grade(Path(sys.argv[1]), sys.argv[2], jobs=2, feedback=False,\n"
            "                    report=False, progress=False)\n"
            "for r in run.results:\n"
            "    print(r.student, r.ok, r.reason)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(course), A], capture_output=True,
                          text=True, timeout=300, cwd=course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert set(lines) == {"a-ok", "b-dies", "c-ok"}, proc.stdout
    assert lines["a-ok"].startswith("True") and lines["c-ok"].startswith("True"), proc.stdout
    assert lines["b-dies"].startswith("False the grading worker died"), proc.stdout
    scores = C.gradebook_scores(course, A)
    assert scores["a-ok"]["auto_score"] == scores["c-ok"]["auto_score"] > 0


@pytest.mark.parametrize("where,jobs", [("here", 1), ("here", 2), ("daemon", 1)])
def test_ctrl_c_stops_the_batch_says_what_was_kept_and_leaves_nothing(tmp_path, where, jobs):
    """An instructor's Ctrl-C (SIGINT to the command's whole process group, as a terminal sends
    it) in the middle of a batch, graded in the command's process or by the course's grading
    daemon: the command stops at once with the shell's status 130 and says what was kept
    (grades stay in the gradebook) without a traceback; nothing is left behind (no process of
    the command, no temporary directory), and a daemon's log shows no traceback either."""
    import os
    import signal
    import time

    course = C.copy_course(tmp_path / "course", root=ROOT)
    synthetic.write_course(course, ("a-ok", "b-slow"))
    # b-slow's engine cell takes two minutes: the batch is certainly running when Ctrl-C comes
    C.write_solution_submissions(course, A, {"b-slow": {"synth-engine": [
        ("import numpy as np\n", "import numpy as np\nimport time\ntime.sleep(120)\n")]}})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    cli = [sys.executable, "-m", "autograder.cli"]
    if where == "daemon":
        subprocess.run(cli + ["daemon", "start", "--course", str(course)], env=env, check=True,
                       capture_output=True, timeout=120)
    # here with two workers: a judge (autograder.judge.apart) has started a zygote of its own
    # (the command pre-starts only the first worker's on two cores), which must end too
    proc = subprocess.Popen(
        cli + ["grade", A, "--jobs", str(jobs), "--no-feedback", "--no-report", "--course", str(course)]
        + (["--daemon"] if where == "daemon" else ["--no-daemon"]),
        cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # its own process group with the default signal actions, like a terminal's foreground job
        start_new_session=True, preexec_fn=default_signal_actions)
    try:
        first = course / "autograded" / "a-ok" / A / f"{A}.ipynb"

        def graded():  # nbgrader writes the notebook twice: before its cells run, and run
            # (execution counts) once its grades are saved
            try:
                return any(c.get("execution_count")
                           for c in json.loads(first.read_text())["cells"])
            except (OSError, ValueError, KeyError):
                return False

        deadline = time.monotonic() + 120
        while not graded() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert graded() and proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(1)  # b-slow has started
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out[-3000:]
        said = (f"interrupted: 1 of 2 submissions of {A} were graded" if where == "here" else
                f"interrupted: the grading daemon's run of {A} stops with this command")
        if jobs == 2:  # a-ok's result may still be on its way from its worker
            said = re.escape(said).replace("1", "[01]", 1)
        assert re.search(said if jobs == 2 else re.escape(said), out), out[-3000:]
        assert "Traceback" not in out, out[-3000:]
        assert C.gradebook_scores(course, A)["a-ok"]["auto_score"] > 0
        time.sleep(1)
        with pytest.raises(ProcessLookupError):  # nothing of the group is left
            os.killpg(proc.pid, 0)
        if where == "daemon":  # its run stopped with the command: the daemon (which answers
            # nothing while a run lasts) answers now, not once b-slow's cell is cut at its limit
            status = subprocess.run(cli + ["daemon", "status", "--course", str(course)], env=env,
                                    capture_output=True, text=True, timeout=60)
            assert status.returncode == 0 and "grading daemon running" in status.stdout, \
                status.stdout + status.stderr
            again = subprocess.run(cli + ["grade", A, "--student", "a-ok", "--no-feedback",
                                          "--no-report", "--daemon", "--course", str(course)],
                                   env=env, capture_output=True, text=True, timeout=120)
            assert again.returncode == 0 and "1/1 submissions graded" in again.stdout + \
                again.stderr, again.stdout[-2000:] + again.stderr[-2000:]
            log = (course / ".autograder" / "daemon.log").read_text()
            assert "Traceback" not in log and "Exception ignored" not in log, log[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if where == "daemon":
            subprocess.run(cli + ["daemon", "stop", "--course", str(course)], env=env,
                           capture_output=True, timeout=60)
    assert not [p.name for p in tmp.iterdir()]
