"""A second, independently written ps2: what a careful student could hand in.

Written from the release notebook alone, in a deliberately different style from
``source/ps2``: local derivatives in other forms (``np.power(np.e, x)``, ``x ** -1``,
tanh' as (1 - t)(1 + t), sigmoid through tanh, ``np.heaviside`` for relu, x**p's
derivative through exp/log), the network with ``einsum`` and a dict cache,
a loop-based ``unbroadcast``, matrix-product gradients with ``einsum``, ``np.outer``
and a reshape of the batch, and softmax's Jacobian through broadcasting; the network's
gradients as an OrderedDict keyed by numpy strings and matvec's as a namedtuple
(subclasses of what is asked).
``FILLS[grade_id]`` lists, in order, the code that replaces each ``# YOUR CODE HERE`` /
``raise NotImplementedError()`` of that answer cell (tests/test_alt_solutions.py).
"""

FILLS = {
    "ps2-local-derivatives": [
        "return np.power(np.e, x)\n",
        "return x ** -1.0\n",
        """\
t = np.tanh(x)
return (1 - t) * (1 + t)
""",
        """\
s = 0.5 * (1.0 + np.tanh(0.5 * x))   # sigmoid(x), written through tanh
return s - s * s
""",
        "return np.heaviside(x, 0.0)\n",
        "return p * np.exp((p - 1) * np.log(x))\n",
    ],
    "ps2-network": [
        """\
Z1 = np.einsum("nd,dh->nh", X, W1) + b1
A = np.tanh(Z1)
O = np.einsum("nh,hc->nc", A, W2) + b2
diff = O - y
loss = float(np.sum(diff * diff) / diff.size)
cache = {"X": X, "A": A, "W2": W2, "diff": diff}
""",
        """\
X, A, W2, diff = cache["X"], cache["A"], cache["W2"], cache["diff"]
dO = diff * (2.0 / diff.size)
dW2 = np.einsum("nh,nc->hc", A, dO)
db2 = np.einsum("nc->c", dO)
dZ1 = np.einsum("nc,hc->nh", dO, W2) * (1.0 - A ** 2)
dW1 = np.einsum("nd,nh->dh", X, dZ1)
db1 = np.einsum("nh->h", dZ1)
# an OrderedDict is a dict (the judge receives it as a handle: testing.plain), and its
# keys, taken from an array of names, are numpy's str_ (equal to "W1" ...; handles too)
from collections import OrderedDict
names = np.array(["W1", "b1", "W2", "b2"])
return OrderedDict(zip(names, (dW1, db1, dW2, db2)))
""",
    ],
    "ps2-unbroadcast": [
        """\
while np.ndim(grad) > len(shape):
    grad = np.sum(grad, axis=0)
for axis, size in enumerate(shape):
    if size == 1 and grad.shape[axis] != 1:
        grad = np.sum(grad, axis=axis, keepdims=True)
""",
    ],
    "ps2-matmul": [
        """\
grad_A = np.outer(g, v)
grad_v = np.einsum("i,ij->j", g, A)
# a namedtuple is a pair too
from collections import namedtuple
return namedtuple("Grads", "grad_A grad_v")(grad_A, grad_v)
""",
        """\
b, n, k = A.shape
m = B.shape[1]
grad_A = np.einsum("bnm,km->bnk", G, B)
# B is used by every matrix of the batch: stack the batch's rows and sum over them at once
grad_B = A.reshape(b * n, k).T @ G.reshape(b * n, m)
""",
    ],
    "ps2-vjp": [
        """\
s = softmax(x)
return s[:, None] * (np.eye(len(s)) - s[None, :])
""",
        """\
s = softmax(x)
return s * v - s * np.dot(s, v)
""",
    ],
}
