"""Lesson 1 reproduces the classic Variable example: torch, run here, says what it must print.

The expected texts are not typed in: this test runs the seed example through
torch itself and looks for ``str()`` of the results in the lesson's outputs.
"""

from __future__ import annotations

import time

import nbformat
import pytest
import torch
from conftest import ROOT

LESSON = ROOT / "course" / "01_tensor_vs_variable.ipynb"


def seed_example():
    """The classic example, computed by torch in this process."""
    from torch.autograd import Variable

    x = torch.FloatTensor([[1, 2], [3, 4]])
    variable = Variable(x, requires_grad=True)
    t_out = torch.mean(x * x)
    v_out = torch.mean(variable * variable)
    v_out.backward()
    return {"tensor mean": str(t_out), "variable mean": str(v_out),
            "gradient": str(variable.grad), "grad values": variable.grad.tolist(),
            "type": x.type()}


@pytest.fixture(scope="module")
def executed():
    from nbclient import NotebookClient

    nb = nbformat.read(LESSON, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(LESSON.parent)}})
    start = time.perf_counter()
    client.execute()
    print(f"{LESSON.name} executed in {time.perf_counter() - start:.1f} s")
    return nb


def stdout_of(nb, cell_id: str) -> str:
    cells = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(cells) == 1, f"lesson 1 has no single cell {cell_id!r}"
    return "".join(o.get("text", "") for o in cells[0].outputs
                   if o.output_type == "stream" and o.name == "stdout")


@pytest.mark.slow
def test_lesson1_prints_the_seed_gradient_as_torch_computes_it(executed):
    seed = seed_example()
    out = stdout_of(executed, "l01-seed-backward")
    assert seed["gradient"] in out, (
        f"the backward() cell should print torch's gradient\n{seed['gradient']}\nbut printed\n{out}")
    # the LaTeX derivation ends in the matrix torch computed: 0.5 & 1.0 \\ 1.5 & 2.0
    rows = [" & ".join(f"{v:.1f}" for v in row) for row in seed["grad values"]]
    matrix = "\\\\ ".join(rows)
    derivation = "".join(c.source for c in executed.cells if c.get("id") == "l01-seed-derivation")
    assert matrix in derivation, f"the derivation should show {matrix!r}"


@pytest.mark.slow
def test_lesson1_prints_the_mean_for_tensor_and_variable(executed):
    seed = seed_example()
    out = stdout_of(executed, "l01-seed-mean")
    assert seed["tensor mean"] in out, f"expected {seed['tensor mean']!r} in {out!r}"
    assert seed["variable mean"] in out, f"expected {seed['variable mean']!r} in {out!r}"
    types = stdout_of(executed, "l01-seed-type")
    assert types.split() == [seed["type"], seed["type"]], types


@pytest.mark.slow
def test_lesson1_shows_the_tensor_cannot_backward(executed):
    x = torch.FloatTensor([[1, 2], [3, 4]])
    with pytest.raises(RuntimeError) as err:
        torch.mean(x * x).backward()
    out = stdout_of(executed, "l01-seed-tensor-backward")
    assert f"RuntimeError: {err.value}" in out, out


@pytest.mark.slow
def test_lesson1_data_gives_a_silently_wrong_gradient_and_detach_an_error(executed):
    # the lesson's example, run here: clamping a saved output in place through .data
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.sigmoid()
    y.data.clamp_(max=0.8)
    y.sum().backward()
    x_true = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x_true.sigmoid().sum().backward()
    assert not torch.allclose(x.grad, x_true.grad), "the .data example must change the gradient"
    out = stdout_of(executed, "l01-data-wrong")
    assert f"gradient through .data {x.grad}" in out, out
    assert "silently wrong: True" in out, out

    # the same through .detach(): autograd raises, and the lesson prints its message
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.sigmoid()
    y.detach().clamp_(max=0.8)
    with pytest.raises(RuntimeError) as err:
        y.sum().backward()
    first_sentence = str(err.value).split(". Hint")[0]
    assert f"RuntimeError: {first_sentence}" in stdout_of(executed, "l01-detach")


@pytest.mark.slow
def test_lesson1_try_it_cells_pass(executed):
    tries = [c.id for c in executed.cells if c.cell_type == "code" and c.id.startswith("l01-try-")]
    assert len(tries) >= 3, tries
    for cid in tries:
        assert "✓" in stdout_of(executed, cid), f"try-it cell {cid} did not print its success line"
