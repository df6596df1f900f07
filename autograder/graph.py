"""Pictures of computational graphs, drawn with matplotlib (no graphviz).

Works on both engines of the course:

* a torch tensor: its ``grad_fn`` chain, walking ``next_functions``; the leaves
  that require grad appear as ``AccumulateGrad`` nodes (``.variable`` is the leaf);
* the student's ``Variable`` (ps3), duck-typed the same way: ``.grad_fn``,
  ``.grad_fn.next_functions`` as tuples ``(node_or_None, 0)``, leaves as an
  ``AccumulateGrad``-like node with ``.variable`` (``.data``, ``.grad``). A
  ``Variable`` placed directly in ``next_functions`` is accepted as a leaf too.

Three entry points:

* :func:`graph_data` returns the graph as data (nodes, edges), for tests and
  for printing;
* :func:`draw_graph` draws it on a matplotlib ``Axes``, layered by depth:
  the output on top, the leaves at the bottom, arrows in the direction the
  forward pass ran (inputs to outputs), so the backward pass runs top-down;
* :func:`draw_side_by_side` draws torch's graph and the student's for the
  same expression next to each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .testing import type_name

__all__ = ["GraphData", "GraphNode", "assert_same_graph", "draw_graph", "draw_side_by_side",
           "graph_data", "node_artists", "order_violations"]

NODE_GID = "autograd-node"  # gid of each node's box (a matplotlib Text), see node_artists()


@dataclass
class GraphNode:
    """One node of a backward graph: a ``grad_fn`` object, or a leaf."""

    index: int
    name: str                  # class name: "MulBackward0", "AccumulateGrad", ...
    kind: str                  # "function" (a grad_fn) or "leaf" (AccumulateGrad or a bare leaf)
    depth: int = 0             # longest path from the output: 0 for the output's grad_fn
    value: np.ndarray | None = None   # the leaf's data, or the output's value for the root
    grad: np.ndarray | None = None    # the leaf's .grad, when it has one
    obj: Any = field(default=None, repr=False)


@dataclass
class GraphData:
    """A backward graph as data.

    ``edges`` are ``(i, j)`` pairs of node indices meaning "node ``i`` passes
    gradients on to node ``j``": ``j`` is in ``nodes[i]``'s ``next_functions``.
    An input used twice gives the same pair twice, exactly like
    ``next_functions``. ``nodes[0]`` is the output's node.
    """

    nodes: list[GraphNode]
    edges: list[tuple[int, int]]

    def names(self) -> list[str]:
        """Class names of the nodes, output first (in walk order)."""
        return [n.name for n in self.nodes]

    def edge_names(self) -> list[tuple[str, str]]:
        """Edges as (class name, class name) pairs."""
        return [(self.nodes[i].name, self.nodes[j].name) for i, j in self.edges]

    def layers(self) -> list[list[int]]:
        """Node indices grouped by depth, output first."""
        out: list[list[int]] = [[] for _ in range(max((n.depth for n in self.nodes), default=-1) + 1)]
        for n in self.nodes:
            out[n.depth].append(n.index)
        return out


# --------------------------------------------------------------------------- walking


def _as_array(x: Any) -> np.ndarray | None:
    """numpy view of a tensor / array / Variable's data, or None (never raises)."""
    if x is None:
        return None
    try:
        if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
            return x.detach().cpu().numpy()
        data = getattr(x, "data", None)
        if data is not None and not isinstance(x, np.ndarray):  # a Variable, or a scalar Value
            return np.asarray(data, dtype=float)
        return np.asarray(x, dtype=float)
    except Exception:
        return None


def _is_leaf_value(obj: Any) -> bool:
    """A tensor/Variable placed directly where a node was expected (not a grad_fn)."""
    return obj is not None and not hasattr(obj, "next_functions") and hasattr(obj, "data")


def _next(obj: Any) -> list[Any]:
    """The non-None nodes that ``obj`` passes gradients to, in order, duplicates kept."""
    try:
        nf = getattr(obj, "next_functions", ()) or ()
    except Exception:
        return []
    out = []
    for entry in nf:
        node = entry[0] if isinstance(entry, (tuple, list)) else entry
        if node is not None:
            out.append(node)
    return out


def _node_name(obj: Any) -> str:
    """A node's ``name()`` (torch's nodes have one), else its class name."""
    try:
        name = obj.name() if callable(getattr(obj, "name", None)) else None
    except Exception:
        name = None
    if not (isinstance(name, str) and name):
        return type_name(obj)
    return name.rsplit("::", 1)[-1]  # torch's "torch::autograd::AccumulateGrad"


def reachable(start: Any) -> list[Any]:
    """The nodes reachable from ``start`` (itself included), each once: :func:`walk`'s nodes,
    without its edges and order (a check that counts torch's 10,000 nodes needs only these)."""
    seen, nodes, frontier = {id(start)}, [start], [start]
    while frontier:
        nxt = []
        for o in frontier:
            for child in _next(o):
                if id(child) not in seen:
                    seen.add(id(child))
                    nodes.append(child)
                    nxt.append(child)
        frontier = nxt
    return nodes


def walk(start: Any, next_nodes=None) -> tuple[list[Any], list[tuple[int, int]], list[int]]:
    """Every node reachable from ``start`` along ``next_nodes`` (default: the non-None entries
    of ``next_functions``), each once, without recursion (a 10,000-node chain is fine).

    Returns ``(nodes, edges, order)``: the nodes numbered in the order first reached from
    ``start`` (breadth first); one edge ``(i, j)`` per use, in ``next_functions`` order (a
    node used twice has two); and a topological order of the indices, each node before
    every node it passes gradients to (the order backward() runs them). The one graph walk
    of the package: :func:`graph_data` and :func:`autograder.plots.value_graph` use it.
    """
    next_nodes = next_nodes or _next
    index: dict[int, int] = {}
    nodes: list[Any] = []  # keeps every object alive, so ids stay unique
    edges: list[tuple[int, int]] = []

    def visit(o):
        if id(o) not in index:
            index[id(o)] = len(nodes)
            nodes.append(o)
            return True
        return False

    visit(start)
    frontier = [start]
    while frontier:
        nxt = []
        for o in frontier:
            i = index[id(o)]
            for child in next_nodes(o):
                if visit(child):
                    nxt.append(child)
                edges.append((i, index[id(child)]))
        frontier = nxt
    children: list[list[int]] = [[] for _ in nodes]
    for i, j in edges:
        children[i].append(j)
    post, seen, stack = [], set(), [(0, False)]
    while stack:  # depth first, post-order: everything below a node is listed before it
        i, expanded = stack.pop()
        if expanded:
            post.append(i)
            continue
        if i in seen:
            continue
        seen.add(i)
        stack.append((i, True))
        stack.extend((j, False) for j in children[i])
    return nodes, edges, post[::-1]


def graph_data(root: Any) -> GraphData:
    """The backward graph that ends at ``root`` (a tensor, a ``Variable`` or a ``grad_fn``).

    Walks ``next_functions`` iteratively (no recursion limit: a 10,000-node
    chain is fine), numbers the nodes in the order they are first reached
    from the output, and gives each node its depth: the length of the
    longest path from the output, so that every node sits below all the nodes
    that use it.

    In the judge, a student's graph is walked where it lives, in one request
    (:func:`autograder.testing.remote_graph_data`).
    """
    from .testing import remote_graph_data

    remote = remote_graph_data(root)
    if remote is not None:
        return remote
    if hasattr(root, "next_functions"):      # a grad_fn itself
        start, root_value = root, None
    else:
        start = getattr(root, "grad_fn", None)
        root_value = _as_array(root)
        if start is None:                   # a leaf, or a value with no graph at all
            if root is None:
                return GraphData([], [])
            name = "AccumulateGrad" if getattr(root, "requires_grad", False) else type_name(root)
            node = GraphNode(0, name, "leaf", 0, root_value, _as_array(getattr(root, "grad", None)),
                             root)
            return GraphData([node], [])

    objs, edges, order = walk(start)
    # depth = longest path from the output: relax the edges in the topological order
    position = {i: k for k, i in enumerate(order)}
    depth = [0] * len(objs)
    for i, j in sorted(edges, key=lambda e: position[e[0]]):
        depth[j] = max(depth[j], depth[i] + 1)

    nodes = []
    for i, o in enumerate(objs):
        var = getattr(o, "variable", None)
        if _is_leaf_value(o):          # a bare leaf Variable in next_functions
            var = o
        leaf = var is not None or not hasattr(o, "next_functions")
        name = "AccumulateGrad" if _is_leaf_value(o) else _node_name(o)
        value = _as_array(var) if var is not None else (root_value if i == 0 else None)
        grad = _as_array(getattr(var, "grad", None)) if var is not None else None
        nodes.append(GraphNode(i, name, "leaf" if leaf else "function", depth[i], value, grad, o))
    return GraphData(nodes, edges)


# --------------------------------------------------------------------------- drawing


def _fmt_array(a: np.ndarray | None) -> str | None:
    if a is None:
        return None
    a = np.asarray(a)
    if a.size <= 4:
        s = np.array2string(a.astype(float), separator=", ",
                            formatter={"float_kind": lambda v: f"{v:.3g}"})
        return " ".join(s.split())
    return f"shape {tuple(a.shape)}"


def _label(node: GraphNode, show_values: bool, show_grads: bool, number: int | None = None) -> str:
    lines = [node.name if number is None else f"{number}. {node.name}"]
    if show_values and node.value is not None:
        lines.append(("data " if node.kind == "leaf" else "out ") + _fmt_array(node.value))
    if show_grads and node.kind == "leaf" and node.grad is not None:
        lines.append("grad " + _fmt_array(node.grad))
    return "\n".join(lines)


def _positions(data: GraphData) -> dict[int, tuple[float, float]]:
    """x, y for each node: one row per depth (output on top); rows ordered to limit crossings."""
    layers = data.layers()
    parents: list[list[int]] = [[] for _ in data.nodes]
    for i, j in data.edges:
        parents[j].append(i)
    pos: dict[int, tuple[float, float]] = {}
    width = max((len(layer) for layer in layers), default=1)
    for d, layer in enumerate(layers):
        if d > 0:  # barycentre of the nodes above, so edges cross less; walk order breaks ties
            layer.sort(key=lambda k: (np.mean([pos[p][0] for p in parents[k] if p in pos] or [0]), k))
        for r, k in enumerate(layer):
            x = (r + 0.5) * width / len(layer)
            pos[k] = (x, -float(d))
    return pos


def order_violations(data: GraphData, order) -> list[tuple[int, int]]:
    """The edges ``(i, j)`` that an order of backward visits gets wrong.

    ``order``: node indices of ``data`` in the order a backward pass visits
    them. Node ``i`` passes gradients to node ``j``, so ``j`` must come after
    ``i``; each edge where ``j`` comes first (it ran *too early*, before all of
    its gradient had arrived) is returned once. Nodes missing from ``order``
    are not judged.
    """
    at = {k: pos for pos, k in enumerate(order)}
    bad = []
    for i, j in data.edges:
        if i in at and j in at and at[j] < at[i] and (i, j) not in bad:
            bad.append((i, j))
    return bad


def draw_graph(root: Any, ax=None, *, title: str | None = None, show_values: bool = True,
               show_grads: bool = True, order=None):
    """Draw the backward graph ending at ``root`` (torch tensor or student ``Variable``).

    One box per node (its class name; a leaf's data and grad, the output's
    value, when ``show_values``/``show_grads``), one arrow per entry of
    ``next_functions``, pointing the way the forward pass ran. Returns the
    ``Axes`` (a new figure is made when ``ax`` is None). Each box is a
    ``Text`` artist with gid ``"autograd-node"`` (see :func:`node_artists`).

    ``order``: node indices (of :func:`graph_data`'s nodes) in the order a
    backward pass visits them: each box gets its number, and every edge the
    order gets wrong (see :func:`order_violations`) is drawn red, marked
    "too early".
    """
    import matplotlib.pyplot as plt

    data = graph_data(root)
    number = {k: pos + 1 for pos, k in enumerate(order)} if order is not None else {}
    bad = set(order_violations(data, order)) if order is not None else set()
    layers = data.layers()
    if ax is None:
        width = max((len(layer) for layer in layers), default=1)
        _, ax = plt.subplots(figsize=(max(3.0, 2.4 * width), max(2.0, 1.3 * len(layers) + 0.6)))
    pos = _positions(data)
    texts = {}
    for node in data.nodes:
        x, y = pos[node.index]
        face = "#dbe9f6" if node.kind == "function" else "#e3f1dc"
        edge = "#3b6ea5" if node.kind == "function" else "#4d8a3a"
        t = ax.text(x, y, _label(node, show_values, show_grads, number.get(node.index)),
                    ha="center", va="center",
                    fontsize=8, family="monospace", zorder=3,
                    bbox=dict(boxstyle="round,pad=0.4", facecolor=face, edgecolor=edge))
        t.set_gid(NODE_GID)
        texts[node.index] = t
    seen: dict[tuple[int, int], int] = {}
    for i, j in data.edges:
        k = seen[(i, j)] = seen.get((i, j), -1) + 1  # an input used twice: two bent arrows
        rad = 0.0 if k == 0 else 0.25 * (1 if k % 2 else -1) * ((k + 1) // 2)
        wrong = (i, j) in bad
        ax.annotate("", xy=(0.5, 0.0), xycoords=texts[i], xytext=(0.5, 1.0), textcoords=texts[j],
                    arrowprops=dict(arrowstyle="-|>", color="#c0392b" if wrong else "#555555",
                                    linewidth=2.2 if wrong else 1.0, shrinkA=6, shrinkB=6,
                                    connectionstyle=f"arc3,rad={rad}"), zorder=2)
        if wrong and k == 0:
            (xi, yi), (xj, yj) = pos[i], pos[j]
            ax.text((xi + xj) / 2, (yi + yj) / 2, f"too early: {number[j]} ran before {number[i]}",
                    color="#c0392b", fontsize=8, ha="center", va="center", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none"))
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    if title:
        # y given: matplotlib then skips placing the title above the axis' tick labels, a
        # measurement of every tick that costs a quarter of the picture (there are none: axis off)
        ax.set_title(title, y=1.0)
    return ax


def node_artists(ax) -> list:
    """The node boxes :func:`draw_graph` drew on ``ax`` (one ``Text`` per node)."""
    return [t for t in ax.texts if t.get_gid() == NODE_GID]


def draw_side_by_side(torch_root: Any, student_root: Any,
                      titles: tuple[str, str] = ("torch.autograd", "your engine"), *,
                      show_values: bool = True, show_grads: bool = True):
    """torch's graph and the student's for the same expression, side by side; returns the Figure."""
    import matplotlib.pyplot as plt

    a, b = graph_data(torch_root), graph_data(student_root)
    width = max([len(layer) for g in (a, b) for layer in g.layers()] or [1])
    depth = max(len(a.layers()), len(b.layers()), 1)
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 4.4 * width), max(2.4, 1.3 * depth + 0.8)))
    for ax, root, t in zip(axes, (torch_root, student_root), titles, strict=True):
        draw_graph(root, ax, title=t, show_values=show_values, show_grads=show_grads)
    # fixed margins, not tight_layout(): the axes are off and their limits already hold every
    # box, and measuring each annotated box for a tight layout costs ~0.1 s per picture
    top = 1.0 - 0.45 / fig.get_figheight()  # room for the titles
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=top, wspace=0.04)
    fig._autograder_fixed_margins = True  # the judge saves it without a tight crop (one draw)
    return fig


# --------------------------------------------------------------------------- comparing graphs


def op_name(name: str) -> str:
    """The operation a grad_fn class stands for: ``MulBackward0`` -> ``Mul`` (any other name as is)."""
    import re

    return re.sub(r"Backward\d*$", "", name)


def assert_same_graph(torch_root: Any, student_root: Any, what: str = "graph") -> None:
    """Raise ``AssertionError`` unless the student's graph has torch's structure.

    Walks both graphs from the output along ``next_functions``, entry by entry:
    the same number of entries, ``None`` where torch has ``None``, node names
    equal up to the trailing version digit (``MulBackward0`` ~ ``MulBackward``),
    and one node wherever torch has one node (a leaf used twice reaches one
    ``AccumulateGrad``). The message names the first difference.
    """
    t0 = getattr(torch_root, "grad_fn", torch_root)
    s0 = getattr(student_root, "grad_fn", student_root)
    if (t0 is None) != (s0 is None):
        raise AssertionError(f"{what}: torch's output has grad_fn {type_name(t0) if t0 is not None else None}, "
                             f"yours has {type_name(s0) if s0 is not None else None}")
    if t0 is None:
        return
    pairs: dict[int, Any] = {}   # id(torch node) -> student node
    keep = []                    # keep torch nodes alive so ids stay unique
    stack = [(t0, s0, type_name(t0))]
    while stack:
        t, s, path = stack.pop()
        tn, sn = type_name(t), type_name(s)
        if op_name(tn) != op_name(sn) or not (sn.rstrip("0123456789").endswith("Backward")
                                              or sn == "AccumulateGrad"):
            raise AssertionError(f"{what}: at {path}, torch has a {tn} node, yours is a {sn} "
                                 f"(expected a class named like torch's: {tn.rstrip('0123456789')}...)")
        if id(t) in pairs:
            if pairs[id(t)] is not s:
                raise AssertionError(f"{what}: at {path}, torch reaches the same {tn} node again, "
                                     f"your graph has a different {sn} object here (make one node "
                                     f"per value: one AccumulateGrad per leaf, shared by every use)")
            continue
        pairs[id(t)] = s
        keep.append(t)
        tnext = list(getattr(t, "next_functions", ()) or ())
        snext = list(getattr(s, "next_functions", ()) or ())
        if len(tnext) != len(snext):
            raise AssertionError(
                f"{what}: {path}.next_functions has {len(snext)} entries, torch's has {len(tnext)}: "
                f"{[None if e[0] is None else type_name(e[0]) for e in tnext]}")
        for k, (te, se) in enumerate(zip(tnext, snext)):
            if not (isinstance(se, tuple) and len(se) == 2):
                raise AssertionError(f"{what}: {path}.next_functions[{k}] should be a pair "
                                     f"(node, 0) like torch's, got {se!r}")
            if (te[0] is None) != (se[0] is None):
                exp = "None (a constant: no gradient)" if te[0] is None else type_name(te[0])
                got = "None" if se[0] is None else type_name(se[0])
                raise AssertionError(f"{what}: {path}.next_functions[{k}] is {got}, torch has {exp}")
            if te[0] is not None:
                stack.append((te[0], se[0], f"{path}.next_functions[{k}][0]"))
    keep.clear()
