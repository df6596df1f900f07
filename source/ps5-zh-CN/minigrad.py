"""minigrad: a small reverse-mode autograd engine on numpy (the reference solution of ps3).

The course's engine, for instructors only: it runs ps5's solution in source/ps5/ and
stands for a student's engine in the tests. It is never released (nbgrader_config.py).
Students run ps5 on their own ps3 engine, exported with `autograder engine`.

Contract (docs/design.md, "The engine contract"): Variable(data, requires_grad=False)
with .data (float64 numpy), .grad, .grad_fn, .requires_grad, .is_leaf, .shape,
.backward(gradient=None); + - * / ** @ and unary -, with numpy broadcasting;
.sum/.mean(dim=None, keepdim=False), .exp .log .tanh .sigmoid .relu
.reshape .T; no_grad().

Generated from source/ps3/ps3.ipynb by `autograder gen-minigrad`: do not edit.
"""

import numpy as np


# ---- ps3 cell ps3-setup
class GradMode:
    """Is the engine recording graphs? `no_grad()` (part 10) switches it off for a while."""

    enabled = True


# ---- ps3 cell ps3-variable
class Variable:
    """A float64 numpy array that remembers how it was computed (torch.Tensor's autograd part)."""

    # numpy: for `array * variable`, let Variable's __rmul__ answer instead of numpy
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Variable):
            data = data.data
        self.data = np.array(data, dtype=np.float64)  # a copy, like torch.tensor(...)
        self.requires_grad = bool(requires_grad)
        self.grad = None            # filled in by backward(), for leaves only
        self.grad_fn = None         # the node that made this value; None for a leaf
        self._accumulator = None    # this leaf's AccumulateGrad node, made once (part 3)

    @property
    def is_leaf(self):
        """True when no op made this Variable (it has no grad_fn)."""
        return self.grad_fn is None

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        extra = f", grad_fn=<{type(self.grad_fn).__name__}>" if self.grad_fn is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"Variable({np.array2string(self.data, separator=', ')}{extra})"


def as_variable(x):
    """Variables pass through; numbers and arrays become constants (requires_grad=False)."""
    return x if isinstance(x, Variable) else Variable(x)


# ---- ps3 cell ps3-unbroadcast
def unbroadcast(grad, shape):
    """Sum `grad` back to `shape`, undoing numpy broadcasting (see lesson 4)."""
    # broadcasting added leading dimensions: sum them away
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    # and stretched dimensions of size 1: sum them, keeping the 1
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


# ---- ps3 cell ps3-nodes
class Node:
    """A grad_fn: the backward of one op, one node of the graph."""

    def __init__(self, *inputs, saved=()):
        # like torch: one (node, 0) pair per input, the node that receives that input's gradient
        self.next_functions = tuple((gradient_node(v), 0) for v in inputs)
        self.input_shapes = tuple(v.shape for v in inputs)  # for unbroadcast in backward()
        self.saved = saved  # what backward() needs from the forward pass

    def backward(self, grad):
        """Given dL/d(output), return dL/d(input) for each input, in order."""
        raise NotImplementedError(f"{type(self).__name__} has no backward()")

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__}>"


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: it adds the gradient it receives into `.grad`."""

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()  # the end of the graph
        self.input_shapes = ()
        self.saved = ()

    def backward(self, grad):
        leaf = self.variable
        if leaf.grad is None:
            leaf.grad = np.array(grad, dtype=np.float64)  # a copy: the caller may reuse `grad`
        else:
            leaf.grad = leaf.grad + grad  # accumulate across backward() calls, like torch
        return ()


def gradient_node(v):
    """Where the gradient of `v` goes: its grad_fn, its AccumulateGrad, or None (a constant)."""
    if v.grad_fn is not None:
        return v.grad_fn
    if v.requires_grad:
        if v._accumulator is None:
            v._accumulator = AccumulateGrad(v)  # one per leaf: every use shares it, like torch
        return v._accumulator
    return None


def make_result(data, node_class, *inputs, saved=()):
    """The Variable an op returns; it gets a grad_fn when the graph must be recorded."""
    out = Variable(data)
    if GradMode.enabled and any(v.requires_grad for v in inputs):
        out.grad_fn = node_class(*inputs, saved=saved)
        out.requires_grad = True
    return out


# ---- ps3 cell ps3-add
class AddBackward0(Node):
    def backward(self, grad):
        # d(a + b)/da = 1 and d(a + b)/db = 1: both inputs get the incoming gradient unchanged
        # (backward() sums it back to each input's shape afterwards: unbroadcast)
        return grad, grad


def add(a, b):
    a, b = as_variable(a), as_variable(b)
    return make_result(a.data + b.data, AddBackward0, a, b)


Variable.__add__ = add
Variable.__radd__ = lambda self, other: add(self, other)  # 2 + x: x comes first, as in torch


# ---- ps3 cell ps3-topological-order
def topological_order(root):
    """Every node reachable from `root`, each one before all the nodes it passes gradients to."""
    order, visited = [], set()
    stack = [(root, False)]  # an explicit stack, not recursion: 10,000-node graphs must work
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)  # post-order: everything below it is already in `order`
            continue
        if node in visited:
            continue  # reached before along another path: list it once
        visited.add(node)
        stack.append((node, True))
        for child, _ in node.next_functions:
            if child is not None:
                stack.append((child, False))
    return order[::-1]  # reversed post-order: the output first, the leaves last


# ---- ps3 cell ps3-backward
def backward(self, gradient=None):
    """Compute the gradient of this Variable with respect to every leaf that requires grad."""
    if not self.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if self.data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = np.ones_like(self.data)  # dL/dL = 1
    else:
        gradient = np.array(getattr(gradient, "data", gradient), dtype=np.float64)
        if gradient.shape != self.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {gradient.shape} "
                               f"and output has a shape of {self.shape}")
    root = gradient_node(self)
    grads = {root: gradient}  # node -> dL/d(its output), summed over every path so far
    for node in topological_order(root):
        grad = grads.get(node)
        if grad is None:
            continue  # no gradient reached this node
        input_grads = node.backward(grad)
        for (child, _), shape, g in zip(node.next_functions, node.input_shapes, input_grads):
            if child is None:
                continue  # a constant: nobody needs its gradient
            g = unbroadcast(np.asarray(g, dtype=np.float64), shape)
            if child in grads:
                grads[child] = grads[child] + g  # a value used twice: the paths add up
            else:
                grads[child] = g


Variable.backward = backward


# ---- ps3 cell ps3-mul
class MulBackward0(Node):
    def backward(self, grad):
        a, b = self.saved
        return grad * b, grad * a


def mul(a, b):
    a, b = as_variable(a), as_variable(b)
    return make_result(a.data * b.data, MulBackward0, a, b, saved=(a.data, b.data))


Variable.__mul__ = mul
Variable.__rmul__ = lambda self, other: mul(self, other)


# ---- ps3 cell ps3-sub
class NegBackward0(Node):
    def backward(self, grad):
        return (-grad,)


def neg(a):
    return make_result(-a.data, NegBackward0, a)


class SubBackward0(Node):
    def backward(self, grad):
        return grad, -grad


def sub(a, b):
    a, b = as_variable(a), as_variable(b)
    return make_result(a.data - b.data, SubBackward0, a, b)


Variable.__neg__ = neg
Variable.__sub__ = sub
Variable.__rsub__ = lambda self, other: sub(other, self)  # 2 - x


# ---- ps3 cell ps3-div
class DivBackward0(Node):
    def backward(self, grad):
        a, b = self.saved
        return grad / b, -grad * a / b**2


def div(a, b):
    a, b = as_variable(a), as_variable(b)
    return make_result(a.data / b.data, DivBackward0, a, b, saved=(a.data, b.data))


Variable.__truediv__ = div
Variable.__rtruediv__ = lambda self, other: div(other, self)  # 1 / x


# ---- ps3 cell ps3-pow
class PowBackward0(Node):
    """x ** p for a number p: one input, like torch."""

    def backward(self, grad):
        x, p = self.saved
        return (grad * p * x ** (p - 1),)


class PowBackward1(Node):
    """a ** b for two Variables."""

    def backward(self, grad):
        a, b, out = self.saved
        # d(a^b)/da = b a^(b-1);  d(a^b)/db = a^b ln a  (the tests keep a > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            db = grad * out * np.log(a)
        return grad * b * a ** (b - 1), db


def power(a, b):
    if not isinstance(b, Variable):  # a number as exponent: not an input of the graph
        p = float(b)
        return make_result(a.data**p, PowBackward0, a, saved=(a.data, p))
    a = as_variable(a)
    out = a.data**b.data
    return make_result(out, PowBackward1, a, b, saved=(a.data, b.data, out))


Variable.__pow__ = power
Variable.__rpow__ = lambda self, other: power(as_variable(other), self)  # 2 ** x


# ---- ps3 cell ps3-unary
class ExpBackward0(Node):
    def backward(self, grad):
        (out,) = self.saved
        return (grad * out,)  # e^x is its own derivative: reuse the forward's result


class LogBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved
        return (grad / x,)


class TanhBackward0(Node):
    def backward(self, grad):
        (t,) = self.saved
        return (grad * (1 - t**2),)


class SigmoidBackward0(Node):
    def backward(self, grad):
        (s,) = self.saved
        return (grad * s * (1 - s),)


class ReluBackward0(Node):
    def backward(self, grad):
        (x,) = self.saved
        return (grad * (x > 0),)  # torch's convention: the derivative at 0 is 0


def exp(self):
    out = np.exp(self.data)
    return make_result(out, ExpBackward0, self, saved=(out,))


def log(self):
    return make_result(np.log(self.data), LogBackward0, self, saved=(self.data,))


def tanh(self):
    out = np.tanh(self.data)
    return make_result(out, TanhBackward0, self, saved=(out,))


def sigmoid(self):
    out = 1.0 / (1.0 + np.exp(-self.data))
    return make_result(out, SigmoidBackward0, self, saved=(out,))


def relu(self):
    return make_result(np.maximum(self.data, 0.0), ReluBackward0, self, saved=(self.data,))


Variable.exp, Variable.log, Variable.tanh = exp, log, tanh
Variable.sigmoid, Variable.relu = sigmoid, relu


# ---- ps3 cell ps3-reductions
def _keepdim_shape(shape, dim):
    """The shape of a reduction over `dim` with keepdim=True (dim None: every dimension)."""
    if dim is None:
        return (1,) * len(shape)
    dims = {d % len(shape) for d in ((dim,) if isinstance(dim, int) else dim)}
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class SumBackward0(Node):
    def backward(self, grad):
        shape, kept = self.saved
        # every element of the input contributed with weight 1: spread grad back over them
        return (np.broadcast_to(grad.reshape(kept), shape),)


class MeanBackward0(Node):
    def backward(self, grad):
        shape, kept, count = self.saved
        return (np.broadcast_to(grad.reshape(kept), shape) / count,)  # weight 1/N each


def sum_(self, dim=None, keepdim=False):
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    out = self.data.sum(axis=axis, keepdims=keepdim)
    kept = _keepdim_shape(self.shape, dim)
    return make_result(out, SumBackward0, self, saved=(self.shape, kept))


def mean(self, dim=None, keepdim=False):
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    out = self.data.mean(axis=axis, keepdims=keepdim)
    kept = _keepdim_shape(self.shape, dim)
    count = self.data.size // max(1, int(np.prod(kept)))  # elements averaged into each output
    return make_result(out, MeanBackward0, self, saved=(self.shape, kept, count))


Variable.sum, Variable.mean = sum_, mean


# ---- ps3 cell ps3-matmul
class MmBackward0(Node):
    def backward(self, grad):
        a, b = self.saved
        # work in 2-D: a vector a is a row (1, n), a vector b a column (n, 1)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = np.reshape(grad, (a2.shape[0], b2.shape[1]))
        da = g2 @ b2.T  # dL/da = g b^T
        db = a2.T @ g2  # dL/db = a^T g
        # back to the operands' shapes: a vector's gradient is a vector again
        return (da if a.ndim == 2 else da.ravel()), (db if b.ndim == 2 else db.ravel())


def matmul(a, b):
    a, b = as_variable(a), as_variable(b)
    return make_result(a.data @ b.data, MmBackward0, a, b, saved=(a.data, b.data))


Variable.__matmul__ = matmul
Variable.__rmatmul__ = lambda self, other: matmul(other, self)


# ---- ps3 cell ps3-shape-ops
class PermuteBackward0(Node):
    def backward(self, grad):
        return (grad.T,)  # transposing is its own inverse


class ViewBackward0(Node):
    def backward(self, grad):
        (shape,) = self.saved
        return (grad.reshape(shape),)  # same numbers, the input's shape


def transpose(self):
    return make_result(self.data.T, PermuteBackward0, self)


def reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])  # x.reshape((2, 3)) as well as x.reshape(2, 3)
    return make_result(self.data.reshape(shape), ViewBackward0, self, saved=(self.shape,))


Variable.T = property(transpose)
Variable.reshape = reshape


# ---- ps3 cell ps3-no-grad
class no_grad:
    """`with no_grad(): ...` computes values without recording a graph, like torch.no_grad()."""

    def __enter__(self):
        self.previous = GradMode.enabled  # restore it afterwards: no_grad blocks may nest
        GradMode.enabled = False
        return self

    def __exit__(self, *exc_info):
        GradMode.enabled = self.previous
        return False  # do not swallow exceptions
