"""One-bug fixtures for ps2: the solution with one typical mistake each (the signatures of autograder/checks.py)."""

from conftest import Bug

BUGS = [
    Bug("sigmoid-derivative-missing-factor",
        edits={"ps2-local-derivatives": [("return s * (1.0 - s)", "return s")]},
        expect=["d_sigmoid(x) for x of shape (5,)", "does not match torch.autograd"]),
    Bug("relu-derivative-one-at-zero",
        edits={"ps2-local-derivatives": [("return (x > 0).astype", "return (x >= 0).astype")]},
        expect=["d_relu(x) for x of shape (3, 4) with some exact zeros"]),
    Bug("mean-forgets-1-over-N",
        edits={"ps2-network": [("dO = 2.0 * diff / diff.size", "dO = 2.0 * diff")]},
        expect=["dL/dW2 (visible", "off by a factor of N = 8"]),
    # the mean over the N rows only: the 1/C of the (N, C) mean is missing, named by its dimension
    Bug("mean-forgets-1-over-C",
        edits={"ps2-network": [("dO = 2.0 * diff / diff.size", "dO = 2.0 * diff / len(diff)")]},
        expect=["dL/dW2 (visible", "the 1/2 of dimension 1"]),
    Bug("tanh-derivative-wrong",
        edits={"ps2-network": [("dZ1 = dA * (1.0 - A**2)", "dZ1 = dA * (1.0 - A)")]},
        expect=["dL/dW1 (visible"]),
    Bug("bias-gradient-not-summed",
        edits={"ps2-network": [("db2 = dO.sum(axis=0)", "db2 = dO")]},
        expect=["dL/db2 (visible", "missing unbroadcast"]),
    Bug("unbroadcast-keeps-added-dimensions",
        edits={"ps2-unbroadcast": [("grad = grad.sum(axis=tuple(range(added)))", "pass")]},
        expect=["a dimension added in front", "missing unbroadcast"]),
    Bug("unbroadcast-without-keepdims",
        edits={"ps2-unbroadcast": [("grad = grad.sum(axis=stretched, keepdims=True)",
                                    "grad = grad.sum(axis=stretched)")]},
        expect=["a size-1 dimension stretched", "missing keepdims"]),
    Bug("matmul-gradient-transposed",
        edits={"ps2-matmul": [("grad_A = np.outer(g, v)", "grad_A = np.outer(v, g)")]},
        expect=["grad_A for A (2, 3) @ v (3,) (visible)", "transposed"]),
    # the shared matrix of a batched product gets one gradient per matrix of the batch, not summed
    Bug("batched-matmul-grad-B-not-summed",
        edits={"ps2-matmul": [("grad_B = (A.transpose(0, 2, 1) @ G).sum(axis=0)",
                               "grad_B = A.transpose(0, 2, 1) @ G")]},
        expect=["grad_B for A (2, 3, 4) @ B (4, 2) (visible)", "missing unbroadcast"]),
    Bug("vjp-forgets-the-coupling-term",
        edits={"ps2-vjp": [("return s * (v - v @ s)", "return s * v")]},
        expect=["softmax_vjp(x, v), x and v of shape (4,) (visible)"]),
    # independent solutions' survivors (session 10): sigmoid's derivative from exp(-x) alone,
    # inf / inf = nan far below 0 ...
    Bug("sigmoid-derivative-overflows",
        edits={"ps2-local-derivatives": [("s = 1.0 / (1.0 + np.exp(-x))\n    return s * (1.0 - s)",
                                          "e = np.exp(-x)\n    return e / (1.0 + e) ** 2")]},
        expect=["d_sigmoid(x) for x = [-800, -40, 0, 40, 800] (hidden)"]),
    # ... and x**0 special-cased as if it were its own derivative
    Bug("power-derivative-p0-special-cased",
        edits={"ps2-local-derivatives": [("return p * x ** (p - 1)",
                                          "return p * x ** (p - 1) if p != 0 else np.ones_like(x)")]},
        expect=["d_power(x, 0) (hidden, seed 156)"]),
    # session 11's survivors: dO computed in place in the cache's diff (the first backward is
    # right, a second one on the same cache is not) ...
    Bug("network-dO-in-place-in-cache",
        edits={"ps2-network": [("dO = 2.0 * diff / diff.size", "dO = diff\n    dO *= 2.0 / diff.size")]},
        expect=["dL/dW2 (visible", "called a second time on the same cache"]),
    # ... the VJP subtracting v . s from the caller's v ...
    Bug("vjp-changes-v-in-place",
        edits={"ps2-vjp": [("return s * (v - v @ s)", "v -= v @ s\n    return s * v")]},
        expect=["softmax_vjp(x, v), x and v of shape (4,) (visible)",
                "softmax_vjp changed its argument v in place"]),
    # ... and the Jacobian from an unshifted softmax of its own: exp(1000) = inf, inf / inf = nan
    Bug("jacobian-naive-softmax",
        edits={"ps2-vjp": [("s = softmax(x)\n    return np.diag(s)",
                            "s = np.exp(x) / np.exp(x).sum()\n    return np.diag(s)")]},
        expect=["softmax_jacobian(x), x of shape (3,) (hidden, x = [1000, 0, -1])",
                "exp(x) overflows"]),
    # independent solutions' survivors (session 12): relu's derivative written into x itself
    # (right numbers, the caller's x changed) ...
    Bug("relu-derivative-into-x",
        edits={"ps2-local-derivatives": [("return (x > 0).astype(np.float64)",
                                          "x[...] = x > 0\n    return x")]},
        expect=["d_relu changed its argument x in place"]),
    # ... tanh through exp(2x), nan once exp overflows ...
    Bug("tanh-derivative-through-exp",
        edits={"ps2-local-derivatives": [("t = np.tanh(x)",
                                          "t = (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)")]},
        expect=["d_tanh(x) for x = [-400, -40, 0, 40, 400] (hidden)"]),
    # ... and a vjp with a softmax of its own, not shifted by the maximum
    Bug("vjp-unshifted-softmax",
        edits={"ps2-vjp": [("s = softmax(x)\n    # (v^T J)_j",
                            "s = np.exp(x) / np.exp(x).sum()\n    # (v^T J)_j")]},
        expect=["softmax_vjp(x, v), x and v of shape (8,) (hidden, seed 514, entries up to 1000 in size)"]),
    # session 17's survivors: the stretched dimensions looked up before the added ones are
    # summed away (right only where the dimension lined up with it is not 1) ...
    Bug("unbroadcast-stretched-found-before-leading-sum",
        edits={"ps2-unbroadcast": [
            ("    grad = grad.sum(axis=tuple(range(added)))\n", ""),
            ("    if stretched:\n", "    grad = grad.sum(axis=tuple(range(added)))\n    if stretched:\n")]},
        expect=["unbroadcast(grad of shape (3, 1, 5), (1, 1))"]),
    # ... a gradient written into the caller's A ...
    Bug("matvec-grad-a-written-into-a",
        edits={"ps2-matmul": [("    grad_A = np.outer(g, v)\n", "    A[...] = np.outer(g, v)\n    grad_A = A\n")]},
        expect=["matvec_backward changed its argument A in place"]),
    # ... and e^x computed in float32 (inf past 88.7)
    Bug("d-exp-float32",
        edits={"ps2-local-derivatives": [("return np.exp(x)  # exp", "return np.exp(x.astype(np.float32))  # exp")]},
        expect=["d_exp(x) for x = [-100, 0, 100] (hidden)"]),
    # a one-bug answer that kept full marks (session 18's probe): relu's derivative switching at a
    # small threshold instead of at 0
    Bug("d-relu-threshold-above-0",
        edits={"ps2-local-derivatives": [("return (x > 0).astype(np.float64)",
                                          "return (x > 1e-6).astype(np.float64)")]},
        expect=["d_relu(x) for x next to 0"]),
]
