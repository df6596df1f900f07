"""A second, independently written ps1: what a careful student could hand in.

Written from the release notebook alone, in a deliberately different style from
``source/ps1``: gradients in other algebraic forms (the 1/N of A1 as ``len(x)``, A2's
``grad_b`` handed back as the very array ``a``, tanh' as 1/cosh^2), ``rebuild`` through
the ``torch.*`` functions with an in-place ``+=`` (it records the same ``AddBackward0``),
a recursive ``chain_names``, ``make_tensors`` through ``nn.Parameter``, ``torch.no_grad()``,
``retain_grad()`` and ``.to(float64)``, and a training loop that asks
``torch.autograd.grad`` for each step's gradient instead of zeroing ``.grad``.
``FILLS[grade_id]`` lists, in order, the code that replaces each ``# YOUR CODE HERE`` /
``raise NotImplementedError()`` of that answer cell (tests/test_alt_solutions.py).
"""

FILLS = {
    "ps1-grad-mean-square": [
        """\
# the mean runs over the N rows, not over all N*D entries
return x * (2.0 / len(x))
""",
    ],
    "ps1-grad-two-inputs": [
        """\
grad_a = a + a + b   # a is used twice: b from a*b, 2a from a**2
grad_b = a
""",
    ],
    "ps1-grad-tanh-mean": [
        "return np.cosh(x) ** -2.0 / np.size(x)\n",
    ],
    "ps1-rebuild-graph": [
        """\
t = torch.mul(torch.exp(a), b)
t += torch.mul(a, c)   # in place: still one AddBackward0 with both products as inputs
return torch.sum(t)
""",
    ],
    "ps1-chain-names": [
        """\
def walk(node):
    if node is None:
        return []
    nxt = [n for n, _ in node.next_functions if n is not None]
    return [type(node).__name__] + walk(nxt[0] if nxt else None)

return walk(t.grad_fn)
""",
    ],
    "ps1-leaves": [
        """\
made["param"] = torch.nn.Parameter(w.detach() * 0.01)
with torch.no_grad():
    made["target"] = w * 3
kept = torch.tanh(w)
kept.retain_grad()
made["kept"] = kept
made["double"] = w.to(dtype=torch.float64)
""",
    ],
    "ps1-train": [
        """\
w = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
X = torch.tensor(np.asarray(X, dtype=np.float64))
y = torch.tensor(np.asarray(y, dtype=np.float64))
grads = []
for step in range(steps):
    loss = torch.mean(torch.square(torch.mv(X, w) - y))
    (g,) = torch.autograd.grad(loss, [w])   # a fresh gradient, nothing accumulates
    grads.append(g.numpy().copy())
    w = (w - lr * g).detach().requires_grad_(True)
return w.detach().numpy(), grads
""",
    ],
}
