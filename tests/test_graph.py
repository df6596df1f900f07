"""autograder.graph: the graph as data matches torch's own grad_fn chain, and drawings show it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from autograder.graph import draw_graph, draw_side_by_side, graph_data, node_artists  # noqa: E402


def walk_torch(root: torch.Tensor):
    """Our own walk of torch's graph: unique grad_fn objects and (name, name) edges, with multiplicity."""
    seen, order, edges, stack = set(), [], [], [root.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        order.append(fn)
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append((type(fn).__name__, type(nxt).__name__))
                stack.append(nxt)
    return order, edges


def expressions():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([2.0, 3.0], dtype=torch.float64)  # no grad: (None, 0) in next_functions
    return {
        "seed example mean(x*x)": (x * x).mean(),
        "broadcast add, tanh, sum": ((x * x) + w).tanh().sum(),
        "diamond": (lambda h: (h.exp() + h.sin()).sum())(x @ w),
        "constant operand": (x * c).sum(),
        "matmul, transpose, reshape": (x.T @ x).reshape(4).mean(),
    }


@pytest.mark.parametrize("label", list(expressions()))
def test_graph_data_matches_torch_walk(label):
    y = expressions()[label]
    g = graph_data(y)
    order, edges = walk_torch(y)
    assert len(g.nodes) == len(order), (g.names(), [type(f).__name__ for f in order])
    assert sorted(g.names()) == sorted(type(f).__name__ for f in order)
    assert sorted(g.edge_names()) == sorted(edges)
    assert g.nodes[0].obj is y.grad_fn and g.nodes[0].depth == 0
    # every node sits strictly below each node that passes gradients to it
    for i, j in g.edges:
        assert g.nodes[j].depth > g.nodes[i].depth, (g.nodes[i].name, g.nodes[j].name)


def test_seed_example_structure_and_leaf_annotations():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = torch.mean(x * x)
    y.backward()
    g = graph_data(y)
    assert g.names() == ["MeanBackward0", "MulBackward0", "AccumulateGrad"]
    # x is used twice by the product: next_functions holds it twice, so do the edges
    assert g.edge_names() == [("MeanBackward0", "MulBackward0"),
                              ("MulBackward0", "AccumulateGrad"),
                              ("MulBackward0", "AccumulateGrad")]
    leaf = g.nodes[2]
    assert leaf.kind == "leaf" and leaf.obj.variable is x
    np.testing.assert_array_equal(leaf.value, x.detach().numpy())
    np.testing.assert_array_equal(leaf.grad, x.grad.numpy())
    np.testing.assert_array_equal(g.nodes[0].value, y.detach().numpy())
    assert g.layers() == [[0], [1], [2]]


def test_leaf_without_graph_and_constant_inputs():
    x = torch.ones(3, requires_grad=True)
    g = graph_data(x)
    assert g.names() == ["AccumulateGrad"] and g.edges == []
    y = (x * torch.ones(3)).sum()   # the constant contributes (None, 0): no node
    assert graph_data(y).names() == ["SumBackward0", "MulBackward0", "AccumulateGrad"]


def test_deep_chain_has_no_recursion_limit():
    x = torch.ones(2, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0
    g = graph_data(y)
    assert len(g.nodes) == 10_001
    assert g.nodes[-1].name == "AccumulateGrad" and g.nodes[-1].depth == 10_000


@pytest.mark.parametrize("label", list(expressions()))
def test_drawing_has_one_box_per_node(label):
    y = expressions()[label]
    n = len(walk_torch(y)[0])
    ax = draw_graph(y, title=label)
    try:
        boxes = node_artists(ax)
        assert len(boxes) == n
        assert all(t.get_bbox_patch() is not None for t in boxes)
        names = sorted(t.get_text().splitlines()[0] for t in boxes)
        assert names == sorted(type(f).__name__ for f in walk_torch(y)[0])
        assert ax.get_title() == label
        ax.figure.canvas.draw()  # the arrows anchor on the boxes: rendering must work
    finally:
        plt.close(ax.figure)


def test_values_and_grads_annotations_can_be_hidden():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    ax = draw_graph(y)
    texts = "\n".join(t.get_text() for t in node_artists(ax))
    assert "grad [2, 4]" in texts and "data [1, 2]" in texts and "out 5" in texts
    plain = draw_graph(y, show_values=False, show_grads=False)
    assert [t.get_text() for t in node_artists(plain)] == ["SumBackward0", "MulBackward0",
                                                           "AccumulateGrad"]
    plt.close("all")


def test_side_by_side_returns_a_figure_with_two_graphs():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = torch.mean(x * x)
    z = torch.tanh(x).sum()
    fig = draw_side_by_side(y, z, titles=("left", "right"))
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        left, right = fig.axes
        assert [t.get_text().splitlines()[0] for t in node_artists(left)] == \
            ["MeanBackward0", "MulBackward0", "AccumulateGrad"]
        assert [t.get_text().splitlines()[0] for t in node_artists(right)] == \
            ["SumBackward0", "TanhBackward0", "AccumulateGrad"]
        assert (left.get_title(), right.get_title()) == ("left", "right")
        fig.canvas.draw()
    finally:
        plt.close(fig)
