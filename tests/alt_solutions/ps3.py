"""A second, independently written ps3 engine: what a careful student could hand in.

Written from the release notebook alone, in a deliberately different style from
``source/ps3``: Kahn's algorithm (in-degree counting) instead of a depth-first
post-order, one-shot ``unbroadcast``, derivatives in other algebraic forms (tanh'
as 1/cosh^2 of the input, a stable sigmoid through ``logaddexp``, exp recomputed from
its input, division's gradient through the output, explicit 1-D matmul cases,
``heaviside`` for relu). ``FILLS[grade_id]`` lists, in order, the code that replaces
each ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` of that answer cell, as a
student types it (tests/test_alt_solutions.py).
"""

FILLS = {
    "ps3-variable": [
        """\
raw = data.data if isinstance(data, Variable) else data
self.data = np.asarray(raw).astype(np.float64)  # astype copies
self.requires_grad = requires_grad is True or bool(requires_grad)
self.grad = None
self.grad_fn = None
self._accumulator = None
""",
        "return self.grad_fn is None\n",
        "return np.shape(self.data)\n",
    ],
    "ps3-unbroadcast": [
        """\
lead = grad.ndim - len(shape)
axes = list(range(lead))
axes += [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
if axes:
    grad = np.sum(grad, axis=tuple(axes), keepdims=True)
return np.reshape(grad, shape)
""",
    ],
    "ps3-nodes": [
        """\
pairs = []
for v in inputs:
    pairs.append((gradient_node(v), 0))
self.next_functions = tuple(pairs)
self.input_shapes = tuple(np.shape(v.data) for v in inputs)
self.saved = saved
""",
        """\
self.variable = variable
self.next_functions, self.input_shapes, self.saved = (), (), ()
""",
        """\
v = self.variable
v.grad = np.copy(grad).astype(np.float64) if v.grad is None else np.add(v.grad, grad)
return ()
""",
        """\
if v.grad_fn is not None:
    return v.grad_fn
if not v.requires_grad:
    return None
if v._accumulator is None:
    v._accumulator = AccumulateGrad(v)
return v._accumulator
""",
        """\
record = GradMode.enabled and any(v.requires_grad for v in inputs)
result = Variable(data, requires_grad=record)
if record:
    result.grad_fn = node_class(*inputs, saved=saved)
return result
""",
    ],
    "ps3-topological-order": [
        """\
# Kahn's algorithm: count how many edges lead into each node, then release a node
# once every node that sends it a gradient has been listed
found, todo, indegree = {root}, [root], {root: 0}
while todo:
    node = todo.pop()
    for child, _ in node.next_functions:
        if child is None:
            continue
        indegree[child] = indegree.get(child, 0) + 1
        if child not in found:
            found.add(child)
            todo.append(child)
ready, order = [root], []
while ready:
    node = ready.pop()
    order.append(node)
    for child, _ in node.next_functions:
        if child is None:
            continue
        indegree[child] -= 1
        if indegree[child] == 0:
            ready.append(child)
return order
""",
    ],
    "ps3-backward": [
        """\
if self.grad_fn is None and not self.requires_grad:
    raise RuntimeError("this Variable does not require grad and has no grad_fn")
if gradient is None:
    if np.size(self.data) > 1:
        raise RuntimeError("grad can be implicitly created only for scalar outputs")
    gradient = np.ones(self.shape)
gradient = np.array(gradient.data if isinstance(gradient, Variable) else gradient, dtype=np.float64)
if np.shape(gradient) != self.shape:
    raise RuntimeError(f"gradient of shape {np.shape(gradient)} for an output of shape {self.shape}")
start = gradient_node(self)
pending = {start: gradient}
for node in topological_order(start):
    if node not in pending:
        continue
    outs = node.backward(pending.pop(node))
    for (nxt, _), shape, g in zip(node.next_functions, node.input_shapes, outs):
        if nxt is not None:
            g = unbroadcast(np.asarray(g, dtype=np.float64), shape)
            pending[nxt] = pending[nxt] + g if nxt in pending else g
""",
    ],
    "ps3-mul": [
        """\
a, b = self.saved
return np.multiply(grad, b), np.multiply(a, grad)
""",
        """\
a, b = as_variable(a), as_variable(b)
return make_result(np.multiply(a.data, b.data), MulBackward0, a, b, saved=(a.data, b.data))
""",
    ],
    "ps3-sub": [
        "return (np.negative(grad),)\n",
        "return make_result(np.negative(a.data), NegBackward0, a)\n",
        "return grad, np.negative(grad)\n",
        """\
a, b = as_variable(a), as_variable(b)
return make_result(np.subtract(a.data, b.data), SubBackward0, a, b)
""",
    ],
    "ps3-div": [
        """\
b, out = self.saved
# d(a/b)/da = 1/b and d(a/b)/db = -a/b^2 = -(a/b)/b
return grad / b, -grad * out / b
""",
        """\
a, b = as_variable(a), as_variable(b)
out = np.divide(a.data, b.data)
return make_result(out, DivBackward0, a, b, saved=(b.data, out))
""",
    ],
    "ps3-pow": [
        """\
base, exponent = self.saved
return (grad * exponent * np.power(base, exponent - 1.0),)
""",
        """\
base, exponent = self.saved
with np.errstate(divide="ignore", invalid="ignore"):
    d_exponent = grad * np.power(base, exponent) * np.log(base)
return grad * exponent * np.power(base, exponent - 1.0), d_exponent
""",
        """\
if isinstance(b, Variable):
    a = as_variable(a)
    return make_result(np.power(a.data, b.data), PowBackward1, a, b, saved=(a.data, b.data))
exponent = float(b)
return make_result(np.power(a.data, exponent), PowBackward0, a, saved=(a.data, exponent))
""",
    ],
    "ps3-unary": [
        "(x,) = self.saved\nreturn (grad * np.exp(x),)\n",
        "(x,) = self.saved\nreturn (grad * np.reciprocal(x),)\n",
        """\
(x,) = self.saved
with np.errstate(over="ignore"):
    return (grad / np.cosh(x) ** 2,)  # tanh' = sech^2
""",
        """\
(x,) = self.saved
# sigma'(x) = sigma(x) sigma(-x), in logs: no overflow for any x
return (grad * np.exp(-np.logaddexp(0.0, -x) - np.logaddexp(0.0, x)),)
""",
        "(x,) = self.saved\nreturn (grad * np.heaviside(x, 0.0),)  # 0 at x == 0\n",
        "return make_result(np.exp(self.data), ExpBackward0, self, saved=(self.data,))\n",
        "return make_result(np.log(self.data), LogBackward0, self, saved=(self.data,))\n",
        "return make_result(np.tanh(self.data), TanhBackward0, self, saved=(self.data,))\n",
        """\
out = np.exp(-np.logaddexp(0.0, -self.data))  # 1 / (1 + e^-x), stable
return make_result(out, SigmoidBackward0, self, saved=(self.data,))
""",
        "return make_result(np.where(self.data > 0, self.data, 0.0), ReluBackward0, self, saved=(self.data,))\n",
    ],
    "ps3-reductions": [
        "shape, kept = self.saved\nreturn (np.ones(shape) * np.reshape(grad, kept),)\n",
        """\
shape, kept, factor = self.saved
return (np.ones(shape) * np.reshape(grad, kept) * factor,)
""",
        """\
axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
out = np.sum(self.data, axis=axis, keepdims=keepdim)
return make_result(out, SumBackward0, self, saved=(self.shape, _keepdim_shape(self.shape, dim)))
""",
        """\
axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
out = np.mean(self.data, axis=axis, keepdims=keepdim)
factor = np.size(out) / max(np.size(self.data), 1)  # 1/N for each element
return make_result(out, MeanBackward0, self, saved=(self.shape, _keepdim_shape(self.shape, dim), factor))
""",
    ],
    "ps3-matmul": [
        """\
a, b = self.saved
if a.ndim == 1 and b.ndim == 1:          # a dot product: grad is a number
    return grad * b, grad * a
if a.ndim == 1:                          # (n,) @ (n, m) -> (m,)
    return b @ grad, np.outer(a, grad)
if b.ndim == 1:                          # (n, k) @ (k,) -> (n,)
    return np.outer(grad, b), a.T @ grad
return np.einsum("ij,kj->ik", grad, b), np.einsum("ki,kj->ij", a, grad)
""",
        """\
a, b = as_variable(a), as_variable(b)
return make_result(np.matmul(a.data, b.data), MmBackward0, a, b, saved=(a.data, b.data))
""",
    ],
    "ps3-shape-ops": [
        "return (np.transpose(grad),)\n",
        "(shape,) = self.saved\nreturn (np.reshape(grad, shape),)\n",
        "return make_result(np.transpose(self.data), PermuteBackward0, self)\n",
        """\
if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
    (shape,) = shape
return make_result(np.reshape(self.data, tuple(shape)), ViewBackward0, self, saved=(self.shape,))
""",
    ],
    "ps3-no-grad": [
        "self.was_enabled, GradMode.enabled = GradMode.enabled, False\n",
        "GradMode.enabled = self.was_enabled\nreturn None  # a false value: exceptions propagate\n",
    ],
}
