"""ps5 runs on the student's own ps3 engine, minigrad.py (autograder/engine.py).

``autograder engine`` exports a ps3 notebook's engine; ps5's set-up cell imports it with
``import_engine`` (stand-ins that say what to do where it is missing or broken); grading
uses the minigrad.py the student submitted. The course's engine, generated from ps3's
solution by ``autograder gen-minigrad``, stays in source/ps5/ (tests/test_no_solutions.py).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from conftest import PS5_BUGGY_ENGINE as BUGGY
from conftest import PS5_NO_ENGINE as MISSING
from conftest import PS5_TANH_BACKWARD, ROOT

from autograder import engine as E
from autograder import gen_minigrad as G
from autograder.cli import main


def test_generated_files_are_what_ps3_makes_now():
    stale = G.stale(ROOT)
    assert not stale, f"{[str(p) for p in stale]} differ from ps3's cells: run autograder gen-minigrad"
    assert main(["gen-minigrad", "--check"]) == 0


def test_every_answer_cell_of_ps3_is_in_the_module():
    text = (ROOT / G.TARGETS[0]).read_text()
    sections = re.findall(r"^# ---- ps3 cell (\S+)$", text, re.M)
    nb = nbformat.read(ROOT / G.NOTEBOOK, as_version=4)
    answers = [c.id for c in nb.cells if c.cell_type == "code"
               and c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and set(answers) <= set(sections), sorted(set(answers) - set(sections))
    assert "### BEGIN SOLUTION" not in text and "YOUR CODE HERE" not in text


def test_the_module_is_an_engine_that_agrees_with_torch():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("minigrad_generated", ROOT / G.TARGETS[0])
    mg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mg)
    a0 = np.random.default_rng(0).normal(size=(3, 4))
    b0 = np.random.default_rng(1).normal(size=(4,))
    a, b = mg.Variable(a0, requires_grad=True), mg.Variable(b0, requires_grad=True)
    ((a * b).tanh() @ b).mean().backward()
    ta = torch.tensor(a0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    ((ta * tb).tanh() @ tb).mean().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-10)
    with mg.no_grad():
        assert not (a * 2.0).requires_grad


def test_excerpt_is_whole_lines_of_one_cell():
    code = dict(G.engine_cells(ROOT))["ps3-topological-order"]
    got = G.excerpt("ps3-topological-order", "def topological_order", "order, visited")
    assert code.startswith(got) and got.endswith("\n") and got.count("\n") >= 2
    with pytest.raises(ValueError, match="exactly one line"):
        G.excerpt("ps3-topological-order", "stack", "visited")  # many lines hold each: no anchor


def _import(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_learners_export_is_their_cells_in_order(tmp_path):
    """`autograder engine` on a finished ps3 notebook (here the instructor's) writes the same
    cells as the course's engine, under the learner's header; the module works."""
    out = tmp_path / "minigrad.py"
    assert main(["engine", str(ROOT / G.NOTEBOOK), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith(E.MARK) and "autograder engine" in text
    body = lambda t: t[t.index("# ---- ps3 cell"):]  # noqa: E731
    assert body(text) == body((ROOT / G.TARGETS[0]).read_text())
    mg = _import(out, "minigrad_exported")
    x = mg.Variable(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert E.unfinished(text) == []


def test_an_unfinished_notebook_is_exported_with_a_note_and_a_foreign_file_is_kept(tmp_path):
    out = tmp_path / "minigrad.py"
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "engine",
                           str(ROOT / "release" / "ps3" / "ps3.ipynb"), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "ps3-variable" in proc.stderr and "finish ps3 first" in proc.stderr
    assert "ps3-variable" in E.unfinished(out.read_text())
    mine = tmp_path / "notes.py"
    mine.write_text("my own notes\n")
    assert main(["engine", str(ROOT / G.NOTEBOOK), "-o", str(mine)]) == 2
    assert mine.read_text() == "my own notes\n"
    assert main(["engine", str(ROOT / G.NOTEBOOK), "-o", str(mine), "--force"]) == 0
    with pytest.raises(ValueError, match="is this ps3's notebook"):
        E.engine_module(ROOT / "course" / "01_tensor_vs_variable.ipynb")


def test_import_engine_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    Variable, no_grad = E.import_engine("minigrad_test_engine")
    assert "is missing" in capsys.readouterr().err
    with pytest.raises(E.EngineMissing, match="minigrad_test_engine.py is missing.*autograder engine"):
        Variable(np.ones(2))
    with pytest.raises(E.EngineMissing):
        no_grad()
    (tmp_path / "minigrad_test_engine.py").write_text("class Variable:\n    def __init__(self, data):\n"
                                                      "        self.data = data\n")
    Variable, no_grad = E.import_engine("minigrad_test_engine")
    assert Variable(3).data == 3
    with pytest.raises(E.EngineMissing, match="has no no_grad"):
        no_grad()
    (tmp_path / "minigrad_test_engine.py").write_text("def broken(:\n")
    Variable, _ = E.import_engine("minigrad_test_engine")
    with pytest.raises(E.EngineMissing, match="could not be imported: SyntaxError"):
        Variable(1.0)
    sys.modules.pop("minigrad_test_engine", None)


@pytest.mark.slow
def test_grading_uses_the_engine_the_student_submitted(graded):
    """Graded by the course's grader (the session's ps5 batch, tests/conftest.py): the solution
    with the course's engine gets full marks; the same notebook with an engine whose tanh
    backward is wrong loses the points that need tanh (so grading ran the submitted file, not
    source/'s); without minigrad.py the tests fail with the message that names the fix, and
    nothing crashes."""
    batch = graded("ps5")
    course, scores = batch.course, batch.scores
    assert not (course / "release" / "ps5" / "minigrad.py").exists()
    full = scores["solution"]["auto_score"]
    assert full == scores["solution"]["max_score"] > 0
    lost = {g for g, (sc, mx) in scores[BUGGY]["cells"].items() if sc is not None and sc < mx}
    assert "ps5-mlp-test" in lost and "ps5-linear-test" not in lost, lost  # tanh: MLP, not Linear
    assert scores[MISSING]["auto_score"] == 0
    html = batch.feedback_html(MISSING)
    assert "minigrad.py is missing" in html and "autograder engine" in html
    # the student's files are never changed; the course's copy never replaced the student's
    buggy = (course / "source" / "ps5" / "minigrad.py").read_text().replace(*PS5_TANH_BACKWARD)
    assert (course / "submitted" / BUGGY / "ps5" / "minigrad.py").read_text() == buggy
    assert (course / "autograded" / BUGGY / "ps5" / "minigrad.py").read_text() == buggy
    assert not (course / "autograded" / MISSING / "ps5" / "minigrad.py").exists()
