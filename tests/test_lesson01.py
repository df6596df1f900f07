"""Lesson 1 reproduces the classic Variable example: torch, run here, says what it must print.

The expected texts are not typed in: this test runs the seed example through
torch itself and looks for ``str()`` of the results in the lesson's outputs.
"""

from __future__ import annotations

import warnings

import pytest
import torch


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
    # run once per session, Try-it cells answered three ways (tests/lessons.py)
    from test_lessons import lesson

    return lesson("01")


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
def test_lesson1_draws_the_seed_graph_with_values_and_gradients(executed):
    import matplotlib

    matplotlib.use("Agg")
    from autograder.graph import draw_graph, graph_data, node_artists

    assert "draw_graph(v_out" in "".join(c.source for c in executed.cells if c.get("id") == "l01-seed-graph")
    errors = [o for c in executed.cells if c.get("id") == "l01-seed-graph" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    # the same picture, drawn here from torch's own graph of the seed example
    from torch.autograd import Variable

    variable = Variable(torch.FloatTensor([[1, 2], [3, 4]]), requires_grad=True)
    v_out = torch.mean(variable * variable)
    v_out.backward()
    data = graph_data(v_out)
    assert data.names() == ["MeanBackward0", "MulBackward0", "AccumulateGrad"]
    assert data.edges.count((1, 2)) == 2, "variable is used twice: two edges into its AccumulateGrad"
    labels = [t.get_text() for t in node_artists(draw_graph(v_out))]
    assert any(f"out {v_out.item():g}" in t for t in labels), labels
    grad_row = ", ".join(f"{v:g}" for v in variable.grad.flatten().tolist()[:2])
    assert any("grad [[" + grad_row in t for t in labels), labels


@pytest.mark.slow
def test_lesson1_volatile_sentence_is_what_torch_does(executed):
    from torch.autograd import Variable

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = Variable(torch.ones(2), volatile=True)
    assert not v.requires_grad and type(v) is torch.Tensor
    assert any("volatile was removed" in str(w.message) and "no_grad" in str(w.message) for w in caught)
    text = "".join(c.source for c in executed.cells if c.get("id") == "l01-merge-md")
    assert "volatile=True" in text and "torch.no_grad()" in text


@pytest.mark.slow
def test_lesson1_equal_values_print_equal(executed):
    out = stdout_of(executed, "l01-2xn")
    assert out.count("torch equals 2x/N: True") == 2, out
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("torch ") and "equals" not in line:
            assert line.split(None, 1)[1] == lines[i + 1].split(None, 1)[1], (line, lines[i + 1])
