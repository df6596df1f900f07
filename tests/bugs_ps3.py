"""Typical student bugs in ps3's engine, each one edit of the solution (see docs/authoring.md).

tests/test_assignments.py grades each as a submission with real nbgrader: it must score below
full marks, and its feedback must contain every ``expect`` text (the failing check's name and
the hint that names the cause). tests/test_ps3.py runs the same edits in-process, faster.
"""

from conftest import ROOT, Bug

from autograder.gen_minigrad import excerpt

# the anchor is cut from ps3's solution (one copy of the engine: autograder/gen_minigrad.py)
ITERATIVE_TOPO = excerpt("ps3-topological-order", "stack = [(root, False)]", "stack.append((child, False))",
                         root=ROOT)

RECURSIVE_TOPO = '''
    def visit(node):  # recursion: Python stops at about 1,000 levels
        if node in visited:
            return
        visited.add(node)
        for child, _ in node.next_functions:
            if child is not None:
                visit(child)
        order.append(node)

    visit(root)
'''

BUGS = [
    Bug("assign-not-accumulate",
        edits={"ps3-backward": [("grads[child] = grads[child] + g", "grads[child] = g")]},
        expect=["x + x (x used twice)", "equal to one path only", "assigned"]),
    Bug("leaf-grad-assigned",
        edits={"ps3-nodes": [("leaf.grad = leaf.grad + grad", "leaf.grad = grad")]},
        expect=["after (x + x).backward(g1), then (x + 1).backward(g2)",
                "equal to the last backward() call", "accumulated"]),
    Bug("topological-order-not-reversed",
        edits={"ps3-topological-order": [("return order[::-1]", "return order")]},
        expect=["starts with AccumulateGrad", "post-order was not reversed", "got None",
                "reversed topological order"]),
    Bug("no-visited-set-double-counting",
        edits={"ps3-topological-order": [("        if node in visited:\n"
                                           "            continue  # reached before along another path: list it once\n",
                                           "")]},
        expect=["more than once", "no visited set", "x + x (x used twice)", "exactly 2x", "double counting"]),
    Bug("recursive-topological-sort",
        edits={"ps3-topological-order": [(ITERATIVE_TOPO, RECURSIVE_TOPO)]},
        expect=["a chain of 10,000 additions", "RecursionError", "explicit stack"]),
    Bug("missing-unbroadcast",
        edits={"ps3-backward": [("g = unbroadcast(np.asarray(g, dtype=np.float64), shape)",
                                 "g = np.asarray(g, dtype=np.float64)")]},
        expect=["broadcasting a * b, (3, 4) with (4,)", "missing unbroadcast"]),
    Bug("wrong-tanh-derivative",
        edits={"ps3-unary": [("return (grad * (1 - t**2),)", "return (grad * (1 - t),)")]},
        expect=["tanh: gradient of a", "a wrong derivative in tanh"]),
    Bug("mean-without-1-over-n",
        edits={"ps3-reductions": [("np.broadcast_to(grad.reshape(kept), shape) / count,)",
                                   "np.broadcast_to(grad.reshape(kept), shape),)")]},
        expect=["mean a.mean()", "the 1/N of the mean is missing"]),
    Bug("sign-error-in-sub",
        edits={"ps3-sub": [("return grad, -grad", "return grad, grad")]},
        expect=["sub a - b: gradient of b", "sign flip"]),
    Bug("matmul-transposed",
        edits={"ps3-matmul": [("db = a2.T @ g2", "db = g2.T @ a2")]},
        expect=["matmul (2, 3) @ (3, 4): gradient of b", "transposed"]),
    Bug("grad-kept-on-non-leaf",
        edits={"ps3-backward": [("    root = gradient_node(self)\n",
                                 "    self.grad = gradient  # the seed, as in micrograd\n"
                                 "    root = gradient_node(self)\n")]},
        expect=["z.grad for the output z itself", "not a leaf"]),
    Bug("no-grad-ignored",
        edits={"ps3-nodes": [("if GradMode.enabled and any(", "if any(")]},
        expect=["inside no_grad(): (x * 2.0 + x).requires_grad", "no_grad() ignored"]),
    # edge values, errors that must propagate, input validation (the mutation harness's survivors)
    Bug("relu-gradient-one-at-zero",
        edits={"ps3-unary": [("return (grad * (x > 0),)", "return (grad * (x >= 0),)")]},
        expect=["relu with some inputs exactly 0", "the gradient of relu at exactly 0"]),
    Bug("tanh-from-exp",
        edits={"ps3-unary": [("    out = np.tanh(self.data)\n    return make_result(out, TanhBackward0",
                              "    out = (np.exp(self.data) - np.exp(-self.data)) / (np.exp(self.data) + np.exp(-self.data))\n"
                              "    return make_result(out, TanhBackward0")]},
        expect=["tanh of large inputs, -800 to 800", "inf / inf is nan"]),
    Bug("sigmoid-overflows",
        edits={"ps3-unary": [("out = 1.0 / (1.0 + np.exp(-self.data))",
                              "out = np.exp(self.data) / (1.0 + np.exp(self.data))")]},
        expect=["sigmoid of large inputs, -800 to 800", "inf / inf is nan"]),
    Bug("no-grad-swallows-exceptions",
        edits={"ps3-no-grad": [("return False  # do not swallow exceptions", "return True")]},
        expect=["reaches the code around the block", "swallow the exception"]),
    Bug("backward-gradient-shape-unchecked",
        edits={"ps3-backward": [("        if gradient.shape != self.shape:\n", "        if False:\n")]},
        expect=["with a gradient of shape (3, 2), for y of shape (2, 3)", "Mismatch in shape"]),
    # independent engines' survivors (session 10): the first gradient kept without a copy, then
    # added in place (two leaves that got the same array from + change together) ...
    Bug("accumulate-grad-aliases-the-first-gradient",
        edits={"ps3-nodes": [("leaf.grad = np.array(grad, dtype=np.float64)  # a copy: the caller may reuse `grad`",
                              "leaf.grad = grad"),
                             ("leaf.grad = leaf.grad + grad  # accumulate across backward() calls, like torch",
                              "leaf.grad += grad")]},
        expect=["a.grad after (a + b).backward(g1), then (a + b).backward(g2)", "without a copy"]),
    # ... and the power rule through the output, p * x**p / x: 0 / 0 at x = 0
    Bug("pow-derivative-through-the-output",
        edits={"ps3-pow": [("return (grad * p * x ** (p - 1),)", "return (grad * p * x**p / x,)")]},
        expect=["pow a ** 2 + a ** 3, a with zeros and negative numbers"]),
    # independent solutions' survivors (session 12): d(a ** b)/da through exp and log (nan for
    # a negative base) ...
    Bug("pow-variable-exponent-through-log",
        edits={"ps3-pow": [("return grad * b * a ** (b - 1), db",
                            "return grad * b * np.exp((b - 1) * np.log(a)), db")]},
        expect=["pow a ** b, a with zeros and negative numbers, b a constant"]),
    # ... a negative dim normalised only when it comes alone, not in a tuple ...
    Bug("reduction-negative-dim-in-a-tuple",
        edits={"ps3-reductions": [("dims = {d % len(shape) for d in ((dim,) if isinstance(dim, int) else dim)}",
                                   "dims = {d % len(shape) if isinstance(dim, int) else d\n"
                                   "            for d in ((dim,) if isinstance(dim, int) else dim)}")]},
        expect=["sum a.sum(dim=(0, -1), keepdim=False), a of shape (2, 3, 4)"]),
    # ... a leaf made inside no_grad() that does not require grad ...
    Bug("leaf-made-in-no-grad-does-not-require-grad",
        edits={"ps3-variable": [("self.requires_grad = bool(requires_grad)",
                                 "self.requires_grad = bool(requires_grad) and GradMode.enabled")]},
        expect=["Variable(data, requires_grad=True) made inside no_grad(): requires_grad"]),
    # ... and a 0-d gradient broadcast to the output's shape (torch refuses it)
    Bug("backward-broadcasts-a-scalar-gradient",
        edits={"ps3-backward": [("gradient = np.array(getattr(gradient, \"data\", gradient), dtype=np.float64)",
                                 "gradient = np.array(getattr(gradient, \"data\", gradient), dtype=np.float64)\n"
                                 "        if gradient.ndim == 0:\n"
                                 "            gradient = np.broadcast_to(gradient, self.shape)")]},
        expect=["y.backward(gradient) with a gradient of shape (), for y of shape (2, 3)"]),
    # red team (session 15): tests of errors alone passed a backward() that always raises and a
    # no_grad() that does nothing. The shape check inverted: right shapes refused ...
    Bug("backward-shape-check-inverted",
        edits={"ps3-backward": [("        if gradient.shape != self.shape:\n",
                                 "        if gradient.shape == self.shape:\n")]},
        expect=["y.backward(gradient) with a gradient of y's own shape (2, 3)"]),
    # ... and a no_grad() whose __enter__ forgets to turn recording off
    Bug("no-grad-enter-keeps-recording",
        edits={"ps3-no-grad": [("        GradMode.enabled = False\n", "")]},
        expect=["(x * 2.0).requires_grad inside no_grad(), before the exception"]),
    # one-bug engines that kept full marks (session 18's probe): d(a ** b)/da through the
    # output, out / a (nan at a zero base) ...
    Bug("pow-variable-exponent-through-the-output",
        edits={"ps3-pow": [("return grad * b * a ** (b - 1), db", "return grad * b * out / a, db")]},
        expect=["pow a ** b, a with zeros and negative numbers, b a constant"]),
    # ... neg negating the gradient array in place (+ hands the same array to its other input)
    Bug("neg-in-place",
        edits={"ps3-sub": [("return (-grad,)", "np.negative(grad, out=grad)\n        return (grad,)")]},
        expect=["neg beside another input, -a + b", "sign flip"]),
    # ... d(a/b)/db as (a/b)**2 / a (nan at a zero numerator)
    Bug("div-grad-through-the-quotient",
        edits={"ps3-div": [("return grad / b, -grad * a / b**2", "return grad / b, -grad * (a / b) ** 2 / a")]},
        expect=["div a / b, a with zeros and negative numbers, b with negative numbers"]),
    # ... and mean(keepdim=True) over all elements dropping the kept dimensions
    Bug("mean-keepdim-ignored-without-dim",
        edits={"ps3-reductions": [("out = self.data.mean(axis=axis, keepdims=keepdim)",
                                   "out = self.data.mean() if dim is None else "
                                   "self.data.mean(axis=axis, keepdims=keepdim)")]},
        expect=["mean a.mean(dim=None, keepdim=True)"]),
    # the engine core's survivors (session 18's probe): a node marked visited when it is
    # pushed, not when it is expanded (wrong on a + (a + b): a is listed before a + b) ...
    Bug("topological-order-visited-on-push",
        edits={"ps3-topological-order": [
            ("        if node in visited:\n            continue  # reached before along another path: list it once\n"
             "        visited.add(node)\n", ""),
            ("            if child is not None:\n                stack.append((child, False))",
             "            if child is not None and child not in visited:\n"
             "                visited.add(child)\n                stack.append((child, False))"),
            ("stack = [(root, False)]", "stack = [(root, False)]\n    visited.add(root)")]},
        expect=["a + (a + b)"]),
    # ... AccumulateGrad keeping the gradient array it was handed (+ hands both leaves one array)
    Bug("accumulate-grad-shares-the-array",
        edits={"ps3-nodes": [("leaf.grad = np.array(grad, dtype=np.float64)", "leaf.grad = grad")]},
        expect=["changed when a.grad[...] = 0.0 zeroed a's", "AccumulateGrad must keep a copy"]),
    # ... and no_grad() taking the mode to restore when it is made, not when it is entered
    Bug("no-grad-previous-mode-at-init",
        edits={"ps3-no-grad": [
            ("    def __enter__(self):\n",
             "    def __init__(self):\n        self.previous = GradMode.enabled\n\n    def __enter__(self):\n"),
            ("        self.previous = GradMode.enabled  # restore it afterwards: no_grad blocks may nest\n", "")]},
        expect=["a no_grad() made while recording, entered inside another no_grad() block"]),
]

