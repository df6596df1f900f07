"""Hand-written one-bug mutants of ps5's solution, for bench/mutation.py (format: mutants/ps1.py)."""

MUTANTS = {
    # Linear
    "linear-bound-from-fan-out": {"ps5-linear": [("bound = 1.0 / np.sqrt(in_features)",
                                                  "bound = 1.0 / np.sqrt(out_features)")]},
    "linear-weight-transposed-shape": {"ps5-linear": [("(out_features, in_features)", "(in_features, out_features)")]},
    "linear-bias-not-trained": {"ps5-linear": [("self.bias = Variable(rng.uniform(-bound, bound, out_features), requires_grad=True)",
                                                "self.bias = Variable(rng.uniform(-bound, bound, out_features))")]},
    "linear-normal-init": {"ps5-linear": [("Variable(rng.uniform(-bound, bound, (out_features, in_features))",
                                           "Variable(bound * rng.standard_normal((out_features, in_features))")]},
    "linear-parameters-reversed": {"ps5-linear": [("return [self.weight, self.bias]", "return [self.bias, self.weight]")]},
    "linear-no-transpose": {"ps5-linear": [("return x @ self.weight.T + self.bias", "return (self.weight @ x.T).T + self.bias.reshape(1, -1).reshape(-1)")]},
    # MLP
    "mlp-tanh-on-output": {"ps5-mlp": [("if i < last:", "if i <= last:")]},
    "mlp-relu": {"ps5-mlp": [("x = x.tanh()", "x = x.relu()")]},
    "mlp-last-layer-parameters": {"ps5-mlp": [("return [p for layer in self.layers for p in layer.parameters()]",
                                               "return self.layers[-1].parameters()")]},
    "mlp-sizes-reversed": {"ps5-mlp": [("zip(sizes[:-1], sizes[1:])", "zip(sizes[1:], sizes[:-1])")]},
    "mlp-no-activation": {"ps5-mlp": [("                x = x.tanh()\n", "                pass\n")]},
    # the loss
    "loss-sum": {"ps5-loss": [("- logits * targets).mean()", "- logits * targets).sum()")]},
    "loss-sign": {"ps5-loss": [("- logits * targets)", "+ logits * targets)")]},
    "loss-log-sigmoid-naive": {"ps5-loss": [("return ((logits.exp() + 1).log() - logits * targets).mean()",
                                             "return -(targets * logits.sigmoid().log() + (1 - targets) * (1 - logits.sigmoid()).log()).mean()")]},
    # SGD
    "sgd-keeps-the-generator": {"ps5-sgd": [("self.params = list(params)", "self.params = params")]},
    "sgd-no-none-check": {"ps5-sgd": [("            if p.grad is not None:\n                # in place on the numpy array: no graph, and p stays the model's leaf\n                p.data -= self.lr * p.grad",
                                       "            p.data -= self.lr * (p.grad if p.grad is not None else 1.0)")]},
    "sgd-rebinds-a-local": {"ps5-sgd": [("p.data -= self.lr * p.grad", "p = p - self.lr * p.grad")]},
    "sgd-new-array": {"ps5-sgd": [("p.data -= self.lr * p.grad", "p.data = p.data - self.lr * p.grad")]},
    "sgd-zero-grad-zeros": {"ps5-sgd": [("p.grad = None", "p.grad = np.zeros_like(p.data)")]},
    "sgd-lr-squared": {"ps5-sgd": [("p.data -= self.lr * p.grad", "p.data -= self.lr ** 2 * p.grad")]},
    # train and predict
    "train-labels-not-reshaped": {"ps5-train": [("targets = np.asarray(y, dtype=np.float64).reshape(-1, 1)",
                                                 "targets = np.asarray(y, dtype=np.float64)")]},
    "train-no-zero-grad": {"ps5-train": [("        optimizer.zero_grad()\n", "")]},
    "train-loss-after-step": {"ps5-train": [("losses.append(float(loss.data))", "losses.append(float(bce_with_logits(model(x), targets).data))")]},
    "train-arrays-in-losses": {"ps5-train": [("losses.append(float(loss.data))", "losses.append(loss.data)")]},
    "predict-zero-logit-is-one": {"ps5-train": [("return (logits > 0).astype(np.int64)", "return (logits >= 0).astype(np.int64)")]},
    "predict-probability-threshold": {"ps5-train": [("return (logits > 0).astype(np.int64)", "return (logits > 0.5).astype(np.int64)")]},
    "predict-without-no-grad": {"ps5-train": [("    with no_grad():\n        logits = model(Variable(X)).data[:, 0]",
                                               "    logits = model(Variable(X)).data[:, 0]")]},
    # the plot
    "plot-losses-from-step-1": {"ps5-plot": [("ax_loss.plot(np.arange(len(losses)), losses)",
                                              "ax_loss.plot(np.arange(1, len(losses)), losses[1:])")]},
    "plot-no-boundary": {"ps5-plot": [("    plot_decision_boundary(logits, X, y, ax=ax_boundary,\n",
                                       "    (lambda *a, **k: None)(logits, X, y, ax=ax_boundary,\n")]},
}

EQUIVALENT = {
    "hand-linear-no-transpose": (
        "(W @ x.T).T + b is x @ W.T + b written another way: the same output and the same gradients "
        "for every x, weight and bias (only the recorded graph differs, which ps5 does not specify)"),
    "hand-sgd-new-array": (
        "p.data = p.data - lr * p.grad gives p a new array with the same numbers; p stays the same leaf "
        "Variable, so the model, its gradients and every later step are identical"),
    "hand-sgd-zero-grad-zeros": (
        "zero_grad() setting arrays of zeros instead of None: the next backward() adds into zeros, so every "
        "gradient is the same; torch's zero_grad(set_to_none=False) does this, and the text allows both"),
    "hand-predict-without-no-grad": (
        "predict without no_grad(): the same logits and classes; the graph it records is dropped when "
        "predict returns and no gradient changes, so nothing observable differs (no_grad only saves "
        "memory and time here)"),
    "ast-plot-arguments-1-and-2-swapped-3d8cc1": (
        "plt.subplots(2, 1) instead of (1, 2): the two axes are stacked instead of side by side; the "
        "figure shows the same loss curve and decision boundary (layout only)"),
    "ast-plot-constant-10-11-920874": "figsize=(11, 4) instead of (10, 4): the figure's size only",
}
