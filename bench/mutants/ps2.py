"""Hand-written one-bug mutants of ps2's solution, for bench/mutation.py (format: mutants/ps1.py)."""

MUTANTS = {
    # part 1: local derivatives
    "d-log-negative": {"ps2-local-derivatives": [("return 1.0 / x", "return -1.0 / x")]},
    "d-log-squared": {"ps2-local-derivatives": [("return 1.0 / x", "return 1.0 / x**2")]},
    "d-tanh-sech-not-squared": {"ps2-local-derivatives": [("return 1.0 - t**2  #", "return 1.0 / np.cosh(x)  #")]},
    "d-tanh-one-minus-t": {"ps2-local-derivatives": [("return 1.0 - t**2  #", "return 1.0 - t  #")]},
    "d-sigmoid-with-exp-x": {"ps2-local-derivatives": [("return s * (1.0 - s)", "return np.exp(x) * s**2")]},
    "d-relu-sign": {"ps2-local-derivatives": [("return (x > 0).astype(np.float64)", "return np.sign(x)")]},
    "d-relu-returns-relu": {"ps2-local-derivatives": [("return (x > 0).astype(np.float64)",
                                                       "return np.maximum(x, 0.0)")]},
    "d-power-exponent-kept": {"ps2-local-derivatives": [("return p * x ** (p - 1)", "return p * x ** p")]},
    "d-power-forgets-p": {"ps2-local-derivatives": [("return p * x ** (p - 1)", "return x ** (p - 1)")]},
    "d-exp-of-x-minus-1": {"ps2-local-derivatives": [("return np.exp(x)  #", "return x * np.exp(x - 1)  #")]},
    # part 2: the network
    "loss-mean-over-rows-only": {"ps2-network": [("loss = float(np.mean(diff**2))",
                                                  "loss = float(np.sum(diff**2) / len(diff))")]},
    "dO-over-rows-only": {"ps2-network": [("dO = 2.0 * diff / diff.size", "dO = 2.0 * diff / len(diff)")]},
    "dO-forgets-the-2": {"ps2-network": [("dO = 2.0 * diff / diff.size", "dO = diff / diff.size")]},
    "dW2-transposed": {"ps2-network": [("dW2 = A.T @ dO", "dW2 = (dO.T @ A).T.T")]},
    "db1-mean-not-sum": {"ps2-network": [("db1 = dZ1.sum(axis=0)", "db1 = dZ1.mean(axis=0)")]},
    "tanh-applied-twice": {"ps2-network": [("dZ1 = dA * (1.0 - A**2)", "dZ1 = dA * (1.0 - np.tanh(A) ** 2)")]},
    "dW1-skips-tanh": {"ps2-network": [("dW1 = X.T @ dZ1", "dW1 = X.T @ dA")]},
    "b2-gradient-over-columns": {"ps2-network": [("db2 = dO.sum(axis=0)", "db2 = dO.sum(axis=1)")]},
    # part 3: unbroadcast
    "unbroadcast-drops-kept-ones": {"ps2-unbroadcast": [("grad = grad.sum(axis=stretched, keepdims=True)",
                                                         "grad = grad.sum(axis=stretched)")]},
    "unbroadcast-one-leading-dim-only": {"ps2-unbroadcast": [("grad = grad.sum(axis=tuple(range(added)))",
                                                              "grad = grad.sum(axis=0) if added else grad")]},
    "unbroadcast-sums-trailing-dims": {"ps2-unbroadcast": [("grad = grad.sum(axis=tuple(range(added)))",
                                                            "grad = grad.sum(axis=tuple(range(grad.ndim - added, grad.ndim)))")]},
    "unbroadcast-mean-not-sum": {"ps2-unbroadcast": [("grad = grad.sum(axis=stretched, keepdims=True)",
                                                      "grad = grad.mean(axis=stretched, keepdims=True)")]},
    # part 4: matrix products (a vector operand, a batch sharing one matrix)
    "matvec-grad-A-outer-swapped": {"ps2-matmul": [("grad_A = np.outer(g, v)", "grad_A = np.outer(v, g).T.T")]},
    "matvec-grad-v-without-transpose": {"ps2-matmul": [("grad_v = A.T @ g", "grad_v = A @ g")]},
    "matvec-grad-A-elementwise": {"ps2-matmul": [("grad_A = np.outer(g, v)", "grad_A = g[:, None] * A")]},
    "batched-grad-B-first-matrix-only": {"ps2-matmul": [("@ G).sum(axis=0)", "@ G)[0]")]},
    "batched-grad-B-mean-not-sum": {"ps2-matmul": [("@ G).sum(axis=0)", "@ G).mean(axis=0)")]},
    "batched-grad-A-without-transpose": {"ps2-matmul": [("grad_A = G @ B.T", "grad_A = G @ B")]},
    "batched-grad-B-wrong-axes": {"ps2-matmul": [("A.transpose(0, 2, 1) @ G", "A.transpose(2, 1, 0) @ G.transpose(1, 0, 2)")]},
    # part 5: softmax
    "jacobian-outer-diagonal-only": {"ps2-vjp": [("np.diag(s) - np.outer(s, s)", "np.diag(s) - np.diag(s * s)")]},
    "jacobian-no-diagonal": {"ps2-vjp": [("np.diag(s) - np.outer(s, s)", "np.eye(len(s)) - np.outer(s, s)")]},
    "vjp-sum-of-s": {"ps2-vjp": [("return s * (v - v @ s)", "return s * (v - s.sum())")]},
    "vjp-coupling-sign": {"ps2-vjp": [("return s * (v - v @ s)", "return s * (v + v @ s)")]},
}

EQUIVALENT = {
    "ast-unbroadcast-assign-statement-dropped-8a9c90": (
        "`shape = tuple(shape)` dropped: shape is only read through len() and enumerate(), which a "
        "tuple and a list answer alike, so the result is the same for every shape argument"),
}
