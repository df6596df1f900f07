"""ps3 (Mini-backward) in-process: the solution engine, its graph pictures, the no-torch
integrity check, and each bug fixture's diagnosis, without nbgrader (test_assignments.py
grades the same fixtures with real nbgrader).

The engine is the instructor's solution, read from source/ps3/ps3.ipynb and run the way a
kernel runs the notebook: cell by cell in one namespace, with IPython's ``In`` history.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from bugs_ps3 import BUGS  # noqa: E402
from conftest import ROOT  # noqa: E402

from autograder import GradientMismatch, check_gradients, random_inputs  # noqa: E402
from autograder.course import strip_solution_markers  # noqa: E402
from autograder.graph import assert_same_graph, draw_side_by_side, graph_data, node_artists  # noqa: E402
from autograder.integrity import check_without_torch, engine_sources  # noqa: E402

NB = ROOT / "source" / "ps3" / "ps3.ipynb"

# the test cell where each fixture must fail first
FAILS_IN = {
    "assign-not-accumulate": ["ps3-backward-sweep-test"],
    "leaf-grad-assigned": ["ps3-nodes-accumulate-grad-test", "ps3-backward-accumulate-test"],
    "topological-order-not-reversed": ["ps3-topological-order-test", "ps3-backward-sweep-test"],
    "no-visited-set-double-counting": ["ps3-topological-order-test", "ps3-backward-sweep-test"],
    "recursive-topological-sort": ["ps3-topological-order-test", "ps3-backward-deep-test"],
    "missing-unbroadcast": ["ps3-broadcast-test"],
    "wrong-tanh-derivative": ["ps3-tanh-test", "ps3-compositions-test"],
    "mean-without-1-over-n": ["ps3-mean-test"],
    "sign-error-in-sub": ["ps3-sub-test"],
    "matmul-transposed": ["ps3-matmul-test"],
    "grad-kept-on-non-leaf": ["ps3-backward-non-leaf-test"],
    "no-grad-ignored": ["ps3-no-grad-test"],
    "tanh-from-exp": ["ps3-tanh-test"],
    "relu-gradient-one-at-zero": ["ps3-relu-test"],
    "sigmoid-overflows": ["ps3-sigmoid-test"],
    "no-grad-swallows-exceptions": ["ps3-no-grad-exceptions-test"],
    "backward-gradient-shape-unchecked": ["ps3-backward-errors-test"],
    "accumulate-grad-aliases-the-first-gradient": ["ps3-backward-accumulate-test"],
    "pow-derivative-through-the-output": ["ps3-pow-test"],
    "pow-variable-exponent-through-log": ["ps3-pow-test"],
    "reduction-negative-dim-in-a-tuple": ["ps3-sum-test"],
    "leaf-made-in-no-grad-does-not-require-grad": ["ps3-no-grad-test"],
    "backward-broadcasts-a-scalar-gradient": ["ps3-backward-errors-test"],
    "backward-shape-check-inverted": ["ps3-backward-errors-test"],
    "no-grad-enter-keeps-recording": ["ps3-no-grad-exceptions-test"],
    "pow-variable-exponent-through-the-output": ["ps3-pow-test"],
    "neg-in-place": ["ps3-neg-test"],
    "div-grad-through-the-quotient": ["ps3-div-test"],
    "mean-keepdim-ignored-without-dim": ["ps3-mean-test"],
    "topological-order-visited-on-push": ["ps3-topological-order-test", "ps3-backward-sweep-test"],
    "accumulate-grad-shares-the-array": ["ps3-backward-accumulate-test"],
    "no-grad-previous-mode-at-init": ["ps3-no-grad-test"],
}


def cells():
    return nbformat.read(NB, as_version=4).cells


def code_of(cell, edits=()):
    src = strip_solution_markers(cell.source)
    for old, new in edits:
        assert src.count(old) == 1, (cell.id, old)
        src = src.replace(old, new)
    return src


class Kernel:
    """Cells run in one namespace, in order, with IPython's ``In`` history, as a kernel would."""

    def __init__(self):
        self.ns = {"__name__": "__main__", "In": [""]}

    def run(self, src):
        self.ns["In"].append(src)
        exec(compile(src, f"<cell {len(self.ns['In'])}>", "exec"), self.ns)


def engine_kernel(edits=None, upto=None):
    """A kernel that has run the setup and every answer/given cell (with edits), no test cells."""
    k = Kernel()
    edits = edits or {}
    for cell in cells():
        if cell.cell_type != "code" or cell.id == "ps3-picture":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            continue
        k.run(code_of(cell, edits.get(meta.get("grade_id"), ())))
        if cell.id == upto:
            break
    return k


def run_test_cell(kernel, grade_id):
    cell = next(c for c in cells() if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    kernel.run(cell.source)


@pytest.fixture(scope="module")
def engine():
    return engine_kernel()


def test_solution_does_not_use_torch():
    import io
    import tokenize

    for cell in cells():
        meta = cell.metadata.get("nbgrader", {})
        role = (cell.metadata.get("autograder") or {}).get("role")
        if meta.get("solution") or (cell.cell_type == "code" and not meta.get("grade")
                                    and role != "judge"):
            names = {t.string for t in tokenize.generate_tokens(io.StringIO(code_of(cell)).readline)
                     if t.type == tokenize.NAME}
            assert "torch" not in names, f"{cell.id} uses torch"


def test_solution_notebook_runs_in_order():
    """Answer and test cells interleaved, as a kernel runs the notebook top to bottom: a test cell
    that uses an op before the part that writes it fails here (the fixtures run every answer cell
    first)."""
    import matplotlib.pyplot as plt

    k = Kernel()
    for cell in cells():
        if cell.cell_type == "code":
            k.run(code_of(cell))
    plt.close("all")


def test_seed_example_on_the_solution_engine(engine):
    V = engine.ns["Variable"]
    x = V([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x * x).mean()
    y.backward()
    xt = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    (xt * xt).mean().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    assert float(y.data) == pytest.approx(7.5)


def expressions(V):
    """(label, fn, inputs) that run on both engines."""
    a, b = random_inputs((2, 2), (2, 2), seed=5, positive=True)
    return [("seed", lambda x, y: (x * x).mean(), [a, b]),
            ("diamond", lambda x, y: (lambda h: h.exp() + h.tanh() * h)(x @ y).sum(), [a, b]),
            ("broadcast", lambda x, y: ((x + y.sum(dim=0)) / y).relu().mean(), [a, b]),
            ("shapes", lambda x, y: (x.reshape(4).reshape(2, 2).T * 2.0 - 1.0).sigmoid().log().sum(), [a, b])]


def test_graph_of_the_student_engine_matches_torch(engine):
    V = engine.ns["Variable"]
    for label, f, inputs in expressions(V):
        mine = [V(a, requires_grad=True) for a in inputs]
        ref = [torch.tensor(a, requires_grad=True) for a in inputs]
        ys, yt = f(*mine), f(*ref)
        assert_same_graph(yt, ys, label)
        gs, gt = graph_data(ys), graph_data(yt)
        strip = lambda names: sorted(n.rstrip("0123456789") for n in names)  # noqa: E731
        assert strip(gs.names()) == strip(gt.names()), label
        assert len(gs.edges) == len(gt.edges), label
        assert [n.depth for n in gs.nodes] == [n.depth for n in gt.nodes], label
        # the leaves' AccumulateGrad nodes hold the same inputs in both graphs
        index_s = sorted(next(i for i, v in enumerate(mine) if v is n.obj.variable)
                         for n in gs.nodes if n.kind == "leaf")
        index_t = sorted(next(i for i, v in enumerate(ref) if v is n.obj.variable)
                         for n in gt.nodes if n.kind == "leaf")
        assert index_s == index_t, label


def test_side_by_side_drawing_of_both_engines(engine):
    import matplotlib.pyplot as plt

    V = engine.ns["Variable"]
    x = V([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    xt = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y, yt = (x * x).mean(), (xt * xt).mean()
    y.backward()
    yt.backward()
    fig = draw_side_by_side(yt, y)
    try:
        left, right = fig.axes
        assert [t.get_text() for t in node_artists(left)] == [t.get_text() for t in node_artists(right)]
        texts = [t.get_text() for t in node_artists(right)]
        assert texts[0].startswith("MeanBackward0") and "out 7.5" in texts[0]
        assert texts[2].startswith("AccumulateGrad") and "grad [[0.5, 1], [1.5, 2]]" in texts[2]
        fig.canvas.draw()
    finally:
        plt.close(fig)


def test_assert_same_graph_names_the_difference(engine):
    V = engine.ns["Variable"]
    (a,) = random_inputs((3,), seed=6)
    x, xt = V(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    with pytest.raises(AssertionError, match="torch has a TanhBackward0 node, yours is a ExpBackward0"):
        assert_same_graph(xt.tanh(), x.exp())
    with pytest.raises(AssertionError, match="next_functions has 2 entries, torch's has 1"):
        assert_same_graph(xt**2, x ** V(2.0))  # PowBackward0 ~ PowBackward1 by name, not by inputs
    with pytest.raises(AssertionError, match=r"next_functions\[1\] is None, torch has AccumulateGrad"):
        assert_same_graph(xt * xt, x * 2.0)

    # a leaf whose every use makes a new AccumulateGrad: torch shares one
    class Fresh(V):
        @property
        def _accumulator(self):
            return engine.ns["AccumulateGrad"](self)  # a new node at every use

        @_accumulator.setter
        def _accumulator(self, value):
            pass

    f = Fresh(a, requires_grad=True)
    with pytest.raises(AssertionError, match="same AccumulateGrad node again"):
        assert_same_graph(xt * xt, f * f)


def test_integrity_passes_the_solution(engine):
    check_without_torch(engine.ns["In"], [
        ("every op", "lambda a, b: ((a @ b.T).tanh().sum() + a / (b * b + 1.0) - a ** 2).sigmoid().mean()",
         random_inputs((2, 3), (2, 3), seed=7))])


def test_integrity_fails_an_engine_that_delegates_to_torch(engine):
    """A cheat: the same class names, but backward() hands the work to torch.autograd."""
    cheat = Kernel()
    cheat.run('''import numpy as np
import torch


class Variable:
    def __init__(self, data, requires_grad=False, _t=None):
        self._t = _t if _t is not None else torch.tensor(np.array(data, dtype=float), requires_grad=requires_grad)
        self.requires_grad = self._t.requires_grad
    @property
    def grad(self):
        return None if self._t.grad is None else self._t.grad.numpy()

    @property
    def data(self):
        return self._t.detach().numpy()

    def __add__(self, other):
        return Variable(None, _t=self._t + getattr(other, "_t", other))

    def __mul__(self, other):
        return Variable(None, _t=self._t * getattr(other, "_t", other))

    def sum(self):
        return Variable(None, _t=self._t.sum())

    def backward(self, gradient=None):
        self._t.backward(None if gradient is None else torch.tensor(gradient))
''')
    # in this process (torch importable) the cheat gives torch's numbers ...
    V = cheat.ns["Variable"]
    check_gradients(lambda u: (u * u).sum(), [np.ones(3)], V, name="the cheat, with torch importable")
    # ... but rebuilt without torch it cannot even be defined
    with pytest.raises(GradientMismatch, match="must not use torch") as e:
        check_without_torch(cheat.ns["In"], [("x * x", "lambda x: (x * x).sum()", random_inputs((3,), seed=8))])
    assert "No module named 'torch'" in str(e.value)


def test_integrity_skips_test_and_judge_cells_by_their_metadata(tmp_path, monkeypatch):
    """The replay leaves out the notebook's test and judge cells, known by metadata (never by
    a comment); without the notebook, only the cells that call check_without_torch."""
    test = nbformat.v4.new_code_cell("import torch\nassert x == 1")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    picture = nbformat.v4.new_code_cell("import torch  # a picture")
    picture.metadata["autograder"] = {"role": "judge"}
    check = nbformat.v4.new_code_cell("check_without_torch(In, [])")
    check.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "c", "points": 1}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), test, picture,
                nbformat.v4.new_code_cell("y = x + 1"), check]
    nbformat.write(nb, tmp_path / "ps3.ipynb")
    history = ["", "x = 1", test.source, picture.source, "y = x + 1", check.source]
    monkeypatch.chdir(tmp_path)
    assert engine_sources(history) == ["x = 1", "y = x + 1"]
    monkeypatch.chdir(tmp_path.parent)  # no notebook here
    assert engine_sources(history) == ["x = 1", test.source, picture.source, "y = x + 1"]


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_bug_fixture_fails_its_check_with_the_expected_hint(bug):
    """The fixture's failing cell raises, and the message holds every expected text."""
    kernel = engine_kernel(bug.edits)
    messages = []
    for grade_id in FAILS_IN[bug.name]:
        with pytest.raises(AssertionError) as e:
            run_test_cell(kernel, grade_id)
        messages.append(str(e.value))
    msg = "\n".join(messages)
    missing = [t for t in bug.expect if t not in msg]
    assert not missing, f"{bug.name}: message lacks {missing}:\n{msg}"


def test_every_bug_has_a_failing_cell():
    assert sorted(FAILS_IN) == sorted(b.name for b in BUGS)
    assert len(BUGS) >= 8


BFS_ORDER = '''    from collections import deque

    order, queue = [root], deque([root])  # breadth-first: not a topological order
    while queue:
        for child, _ in queue.popleft().next_functions:
            if child is not None and child not in order:
                order.append(child)
                queue.append(child)
    return order
'''


def test_trace_names_nodes_run_out_of_topological_order():
    """A breadth-first order reaches every node (no None) but runs some too early."""
    sol = code_of(next(c for c in cells() if c.id == "ps3-topological-order"))
    start = sol.index("    order, visited = [], set()")
    end = sol.index("    return order[::-1]")
    end = sol.index("\n", end) + 1
    kernel = engine_kernel({"ps3-topological-order": [(sol[start:end], BFS_ORDER)]})
    V = kernel.ns["Variable"]
    with pytest.raises(GradientMismatch) as e:
        # x reaches the final sum directly and through a longer path: BFS meets it too early
        check_gradients(lambda x: ((x * 2.0).tanh() * 3.0 + x).sum(), random_inputs((3,), seed=9), V,
                        name="two paths of different lengths", input_names=["x"])
    assert "topological order not reversed" in str(e.value)


def test_localisation_names_the_one_wrong_op_in_a_composition():
    kernel = engine_kernel({"ps3-unary": [("return (grad * s * (1 - s),)", "return (grad * s,)")]})
    V = kernel.ns["Variable"]
    with pytest.raises(GradientMismatch) as e:
        check_gradients(lambda a, b: ((a @ b).sigmoid() * a - b).mean(), random_inputs((3, 3), (3, 3), seed=10),
                        V, name="composition", input_names=["a", "b"])
    msg = str(e.value)
    assert "a wrong derivative in sigmoid" in msg
    assert "matmul" not in msg.split("a wrong derivative in sigmoid")[1].split("\n")[0].split("also wrong")[0]


def test_integrity_reports_the_cell_that_failed_without_torch(engine):
    # torch imported at call time: the call fails
    history = list(engine.ns["In"]) + ["Variable.exp = lambda self: __import__('torch').exp(self)"]
    with pytest.raises(GradientMismatch) as e:
        check_without_torch(history, [("exp", "lambda a: a.exp()", random_inputs((2,), seed=11))])
    msg = str(e.value)
    assert "exp (your engine rebuilt in a Python without torch)" in msg
    assert "ModuleNotFoundError" in msg and "must work without torch" in msg
    # torch imported at the top of a cell: the cell fails, and the message says which
    history = list(engine.ns["In"]) + ["import torch\n\nVariable.double = lambda self: self * 1.0"]
    with pytest.raises(GradientMismatch) as e:
        check_without_torch(history, [("double", "lambda a: a.double()", random_inputs((2,), seed=12))])
    msg = str(e.value)
    assert "AttributeError" in msg and "the cell starting 'import torch' raised ModuleNotFoundError" in msg


def test_the_torchless_worker_leaves_no_directory_behind_its_kernel(tmp_path):
    """check_without_torch in a student's own kernel (Validate, stock nbgrader) starts a worker
    in a temporary directory; the kernel shuts down without closing it, and the directory must
    go all the same (stock autograde of 40 notebooks left 40 in /tmp)."""
    import os
    import time

    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, tempfile\n"
        "from autograder.integrity import run_without_torch\n"
        "run_without_torch(['x = 1'], [])\n"
        "print(sorted(d for d in os.listdir(tempfile.gettempdir()) if d.startswith('no-torch-')))")])
    env = dict(os.environ, TMPDIR=str(tmp_path))
    # the kernel's temporary files go to tmp_path; execute shuts the kernel down at the end
    NotebookClient(nb, kernel_name="python3", timeout=60).execute(env=env)
    printed = nb.cells[0].outputs[0]["text"]
    assert "no-torch-" in printed, printed  # the worker was there while the kernel ran
    deadline = time.monotonic() + 10
    while any(p.name.startswith("no-torch-") for p in tmp_path.iterdir()) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("no-torch-")]


def test_no_hidden_line_appears_outside_hidden_blocks():
    """Feedback shows everything but the hidden blocks: a hidden line repeated elsewhere would leak."""
    import re

    from autograder.nbgrader_plugins import strip_hidden

    hidden = {ln.strip() for c in cells()
              for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", c.source, re.S)
              for ln in block.splitlines() if len(ln.strip()) > 12}
    shown = "\n".join(strip_hidden(c.source) for c in cells())
    assert not [ln for ln in hidden if ln in shown]
