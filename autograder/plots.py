"""Figures and numerics shared by the lessons (2-5): finite differences and matrices with numbers.

* :func:`finite_difference` estimates the gradient of a scalar function
  elementwise, by central (or forward) differences, in the dtype of its input.
* :func:`step_size_errors` measures how far such estimates are from an exact
  gradient (torch's) for a range of step sizes; :func:`plot_step_size_errors`
  draws the classic V-shaped log-log curve (truncation error on the right,
  rounding error on the left).
* :func:`show_matrix` draws a small matrix (a Jacobian, a gradient) as a heat
  map with its numbers written in the cells.
* :func:`value_graph` / :func:`draw_value_graph`: a small graph of *named*
  torch tensors with numbers: each value in its box, and on each edge the value
  that flows forward and the gradient that flows back along that edge (one
  edge per use, so a value used twice shows both contributions). The numbers
  come from torch: values from the tensors, ``dL/dv`` from
  ``torch.autograd.grad``, each edge's share by running the graph's own
  ``grad_fn`` nodes.

Graphs of tensors and Variables are drawn by :mod:`autograder.graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "ValueEdge",
    "ValueGraph",
    "draw_value_graph",
    "finite_difference",
    "plot_step_size_errors",
    "relative_error",
    "show_matrix",
    "step_size_errors",
    "value_graph",
]


def finite_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float,
                      scheme: str = "central") -> np.ndarray:
    """Estimate the gradient of the scalar function ``f`` at ``x``, one element at a time.

    ``scheme="central"``: (f(x + h e_i) - f(x - h e_i)) / 2h, error O(h^2);
    ``scheme="forward"``: (f(x + h e_i) - f(x)) / h, error O(h).
    The arithmetic happens in ``x``'s dtype (float32 inputs give float32 rounding);
    the result is float64.
    """
    if scheme not in ("central", "forward"):
        raise ValueError(f"scheme must be 'central' or 'forward', not {scheme!r}")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"finite differences need a floating-point x, got dtype {x.dtype}")
    step = x.dtype.type(h)
    grad = np.zeros(x.shape, dtype=np.float64)
    f0 = float(f(x)) if scheme == "forward" else None
    for i in np.ndindex(x.shape):
        plus = x.copy()
        plus[i] = plus[i] + step
        if scheme == "central":
            minus = x.copy()
            minus[i] = minus[i] - step
            grad[i] = (float(f(plus)) - float(f(minus))) / (2 * h)
        else:
            grad[i] = (float(f(plus)) - f0) / h
    return grad


def relative_error(approx: np.ndarray, exact: np.ndarray, eps: float = 1e-12) -> float:
    """max |approx - exact| / max(|exact|, eps): the scale-free error gradcheck-style checks use."""
    approx = np.asarray(approx, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    return float(np.max(np.abs(approx - exact)) / max(float(np.max(np.abs(exact))), eps))


def step_size_errors(f: Callable[[np.ndarray], float], x: np.ndarray, exact: np.ndarray,
                     steps: Sequence[float], scheme: str = "central") -> np.ndarray:
    """The relative error of :func:`finite_difference` against ``exact`` for each step size."""
    return np.array([relative_error(finite_difference(f, x, h, scheme), exact) for h in steps])


def plot_step_size_errors(steps: Sequence[float], curves: Mapping[str, Sequence[float]],
                          ax=None, *, title: str | None = None, mark_best: bool = True):
    """Log-log plot of error against step size, one line per entry of ``curves``.

    ``curves``: ``{label: errors}`` with one error per step. Marks each curve's
    best step with a dot (``mark_best``). Returns the axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    steps = np.asarray(steps, dtype=np.float64)
    for label, errors in curves.items():
        errors = np.maximum(np.asarray(errors, dtype=np.float64), 1e-18)  # log scale: no zeros
        (line,) = ax.loglog(steps, errors, marker=".", label=label)
        if mark_best:
            best = int(np.argmin(errors))
            ax.plot(steps[best], errors[best], "o", color=line.get_color(), markersize=9,
                    markerfacecolor="none")
            ax.annotate(f"h={steps[best]:.0e}", (steps[best], errors[best]),
                        textcoords="offset points", xytext=(4, -14), fontsize=8,
                        color=line.get_color())
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative error vs torch.autograd")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def show_matrix(matrix, ax=None, *, title: str | None = None, fmt: str = "{:.2f}",
                row_label: str | None = None, col_label: str | None = None, cmap: str = "RdBu_r"):
    """Draw a small 1-D or 2-D array as a heat map with each number written in its cell.

    Colours are symmetric around 0 (blue negative, red positive). Returns the axes.
    """
    import matplotlib.pyplot as plt

    m = np.asarray(getattr(matrix, "detach", lambda: matrix)(), dtype=np.float64)
    if m.ndim == 0:
        m = m.reshape(1, 1)
    elif m.ndim == 1:
        m = m.reshape(1, -1)
    elif m.ndim > 2:
        raise ValueError(f"show_matrix draws 1-D or 2-D arrays, not shape {m.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * m.shape[1] + 1.2, 0.5 * m.shape[0] + 0.9))
    vmax = max(float(np.max(np.abs(m))), 1e-12)
    ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * vmax else "black")
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    if row_label:
        ax.set_ylabel(row_label)
    if col_label:
        ax.set_xlabel(col_label)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# --------------------------------------------------------------------------- graphs with numbers


@dataclass
class ValueEdge:
    """One use of ``parent`` in computing ``child``: what flows along it, both ways."""

    parent: str
    child: str
    use: int                      # 0 for the first use of parent by child, 1 for the second ...
    value: np.ndarray             # the parent's value: what flows forward
    grad: np.ndarray | None       # dL/d(parent) through this edge only: what flows back
    local: float | None           # d child / d parent through this edge (scalars only)


@dataclass
class ValueGraph:
    """Named values, their gradients ``dL/dv`` (None: not on a path to L), and edges."""

    names: list[str]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray | None]
    edges: list[ValueEdge]
    output: str

    def depth(self) -> dict[str, int]:
        """Rows for drawing: longest path from an input; an input sits just below its first user."""
        d = {n: 0 for n in self.names}
        for _ in self.names:  # at most len(names) relaxations in a DAG
            for e in self.edges:
                d[e.child] = max(d[e.child], d[e.parent] + 1)
        has_parent = {e.child for e in self.edges}
        for n in self.names:
            users = [d[e.child] for e in self.edges if e.parent == n]
            if n not in has_parent and users:
                d[n] = min(users) - 1
        return d


def _np(t) -> np.ndarray:
    return t.detach().to("cpu").double().numpy().copy()


def value_graph(named: Mapping[str, Any], output: str | None = None) -> ValueGraph:
    """The graph between named torch tensors, with values and gradients (see :class:`ValueGraph`).

    ``named``: ``{name: tensor}`` holding the inputs (leaves), any intermediate
    values you want to see, and the output (the last entry unless ``output``
    says otherwise). An unnamed intermediate is folded into the edge that
    passes through it. The graph must not have been freed (draw it before
    ``backward()``, or use ``retain_graph=True``); it is not modified and no
    ``.grad`` is touched.
    """
    import torch

    names = list(named)
    if not names:
        raise ValueError("value_graph needs at least one named tensor")
    output = output or names[-1]
    out = named[output]
    leaf_of = {id(t): n for n, t in named.items() if t.grad_fn is None}
    fn_of = {id(t.grad_fn): n for n, t in named.items() if t.grad_fn is not None}
    values = {n: _np(t) for n, t in named.items()}
    wanted = [n for n in names if named[n].requires_grad]
    grads: dict[str, np.ndarray | None] = {n: None for n in names}
    if out.requires_grad and out.numel() == 1:
        gs = torch.autograd.grad(out, [named[n] for n in wanted], retain_graph=True,
                                 allow_unused=True)
        for n, g in zip(wanted, gs):
            grads[n] = None if g is None else _np(g)

    def parent_name(fn):
        if fn is None:
            return None
        if type(fn).__name__ == "AccumulateGrad":
            return leaf_of.get(id(fn.variable), "")  # "" : an unnamed leaf, a dead end
        return fn_of.get(id(fn))

    def flows_into(child: str, seed):
        """Run child's grad_fn chain down to the named parents: one gradient per use."""
        from .graph import walk

        root = named[child].grad_fn
        nodes, _, order = walk(root, lambda node: [  # stopping at named nodes
            nf for nf, _ in node.next_functions if nf is not None and parent_name(nf) is None])
        pending = {id(root): seed}
        found: list[tuple[str, Any]] = []
        for node in (nodes[i] for i in order):  # every node after all its users
            g = pending.pop(id(node), None)
            if g is None:
                continue
            try:
                with torch.no_grad():
                    outs = node(g)
            except Exception as e:  # e.g. a node with several outputs
                raise ValueError(f"cannot split the gradient through {type(node).__name__}; "
                                 f"give the value it computes a name") from e
            outs = outs if isinstance(outs, tuple) else (outs,)
            for (nf, _), go in zip(node.next_functions, outs):
                if nf is None or go is None:
                    continue
                p = parent_name(nf)
                if p is None:
                    pending[id(nf)] = go if id(nf) not in pending else pending[id(nf)] + go
                elif p:
                    found.append((p, go))
        return found

    edges: list[ValueEdge] = []
    for child in names:
        t = named[child]
        if t.grad_fn is None:
            continue
        upstream = grads[child]
        scalar = t.numel() == 1
        locals_ = flows_into(child, torch.ones_like(t)) if scalar else None
        flows = (flows_into(child, torch.as_tensor(upstream, dtype=t.dtype).reshape(t.shape))
                 if upstream is not None else None)
        base = locals_ if locals_ is not None else flows
        if base is None:  # a non-scalar child off the path to the output: edges without numbers
            base = [(p, None) for p, _ in flows_into(child, torch.ones_like(t))]
        uses: dict[str, int] = {}
        for k, (p, _) in enumerate(base):
            u = uses[p] = uses.get(p, -1) + 1
            local = None
            if locals_ is not None and named[p].numel() == 1:
                local = float(locals_[k][1].reshape(-1)[0])
            g = None if flows is None else _np(flows[k][1])
            edges.append(ValueEdge(p, child, u, values[p], g, local))
    return ValueGraph(names, values, grads, edges, output)


def _short(a: np.ndarray | None, fmt: str) -> str:
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size == 1:
        return fmt.format(float(a.reshape(-1)[0]))
    if a.size <= 4:
        return "[" + ", ".join(fmt.format(float(v)) for v in a.reshape(-1)) + "]"
    return f"shape {tuple(a.shape)}"


def draw_value_graph(named: Mapping[str, Any], ax=None, *, output: str | None = None,
                     exprs: Mapping[str, str] | None = None, title: str | None = None,
                     show_grads: bool = True, fmt: str = "{:.3g}"):
    """Draw :func:`value_graph` with its numbers; returns the axes.

    Inputs at the bottom, the output on top, arrows the way the forward pass
    ran. Each box: ``name = expr`` (from ``exprs``), its value and ``dL/d name``.
    Each edge: the value flowing forward (blue) and, with ``show_grads``, the
    gradient flowing back along that edge (red), as ``upstream x local`` when
    both are scalars. A value used twice by one node gets two bent edges.
    """
    import matplotlib.pyplot as plt

    g = value_graph(named, output)
    depth = g.depth()
    layers: dict[int, list[str]] = {}
    for n in g.names:
        layers.setdefault(depth[n], []).append(n)
    width = max(len(v) for v in layers.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 2.6 * width + 1.0), 1.9 * len(layers) + 0.4))
    pos = {}
    for d, layer in layers.items():
        for r, n in enumerate(layer):
            pos[n] = (2.2 * (r + 0.5) * width / len(layer), 1.6 * d)
    exprs = dict(exprs or {})
    children = {e.child for e in g.edges}  # the rest are inputs: drawn green
    for n in g.names:
        head = f"{n} = {exprs[n]}" if n in exprs else n
        lines = [head, f"value {_short(g.values[n], fmt)}"]
        if show_grads and g.grads[n] is not None:
            lines.append(f"dL/d{n} {_short(g.grads[n], fmt)}")
        out_node = n == g.output
        ax.text(*pos[n], "\n".join(lines), ha="center", va="center", fontsize=8,
                family="monospace", zorder=3,
                bbox=dict(boxstyle="round,pad=0.4", edgecolor="#444444",
                          facecolor="#fde9d9" if out_node else
                          ("#e3f1dc" if n not in children else "#dbe9f6")))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    count: dict[tuple[str, str], int] = {}
    for e in g.edges:
        count[(e.parent, e.child)] = count.get((e.parent, e.child), 0) + 1
    to_screen, to_data = ax.transData.transform, ax.transData.inverted().transform
    for e in g.edges:
        (x1, y1), (x2, y2) = pos[e.parent], pos[e.child]
        start, end = (x1, y1 + 0.32), (x2, y2 - 0.32)
        k = count[(e.parent, e.child)]
        rad = 0.0 if k == 1 else (0.35 if e.use % 2 == 0 else -0.35) * (1 + e.use // 2)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color="#777777", shrinkA=2, shrinkB=2,
                                    connectionstyle=f"arc3,rad={rad}"), zorder=2)
        # the label sits at the middle of the (possibly bent) arrow: matplotlib's arc3 is a
        # quadratic Bezier whose control point is offset by rad * (dy, -dx) in screen space
        a, b = to_screen(start), to_screen(end)
        ctrl = (a + b) / 2 + rad * np.array([b[1] - a[1], a[0] - b[0]])
        mx, my = to_data(0.25 * a + 0.5 * ctrl + 0.25 * b)
        label = f"{_short(e.value, fmt)} \u2191"
        ax.text(mx, my + 0.05, label, color="#1f5fa8", fontsize=7.5, ha="center", va="bottom",
                zorder=4, bbox=dict(boxstyle="square,pad=0.1", facecolor="white",
                                    edgecolor="none", alpha=0.8))
        if show_grads and e.grad is not None:
            up = g.grads[e.child]
            if e.local is not None and up is not None and np.asarray(up).size == 1:
                local = fmt.format(e.local)
                local = f"({local})" if e.local < 0 else local  # 4x(-0.5), not 4x-0.5
                back = f"{_short(e.grad, fmt)} \u2193 = {_short(up, fmt)}\u00d7{local}"
            else:
                back = f"{_short(e.grad, fmt)} \u2193"
            ax.text(mx, my - 0.02, back, color="#b22222", fontsize=7.5, ha="center", va="top",
                    zorder=4, bbox=dict(boxstyle="square,pad=0.1", facecolor="white",
                                        edgecolor="none", alpha=0.8))
    ax.set_axis_off()
    if title:
        ax.set_title(title, y=1.0)  # axis off: no tick labels to place it above (as in graph.py)
    return ax
