"""Hand-written one-bug mutants of ps1's solution, for bench/mutation.py.

``MUTANTS = {name: {grade_id: [(old, new)]}}``: each ``old`` occurs exactly once in that
answer cell (as the student submits it). ``EQUIVALENT = {mutant name: reason}`` lists
mutants (hand-written or AST) that behave like the solution on every input the
assignment allows, so that no test can tell them apart.
"""

MUTANTS = {
    # part A: gradients by hand
    "mean-square-forgets-the-2": {"ps1-grad-mean-square": [("return 2 * x / x.shape[0]", "return x / x.shape[0]")]},
    "mean-square-divides-by-size": {"ps1-grad-mean-square": [("return 2 * x / x.shape[0]", "return 2 * x / x.size")]},
    "mean-square-divides-by-columns": {"ps1-grad-mean-square": [("return 2 * x / x.shape[0]",
                                                                 "return 2 * x / x.shape[1]")]},
    "mean-square-no-mean": {"ps1-grad-mean-square": [("return 2 * x / x.shape[0]", "return 2 * x")]},
    "two-inputs-grad-b-is-b": {"ps1-grad-two-inputs": [("grad_b = a", "grad_b = b")]},
    "two-inputs-square-not-doubled": {"ps1-grad-two-inputs": [("grad_a = b + 2 * a", "grad_a = b + a")]},
    "two-inputs-gradients-swapped": {"ps1-grad-two-inputs": [("grad_a = b + 2 * a\n    grad_b = a",
                                                              "grad_b = b + 2 * a\n    grad_a = a")]},
    "tanh-mean-sech-not-squared": {"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                                           "return (1 / np.cosh(x)) / x.size")]},
    "tanh-mean-tanh-of-square": {"ps1-grad-tanh-mean": [("np.tanh(x) ** 2", "np.tanh(x ** 2)")]},
    # part B: reading the graph
    "rebuild-sum-is-mean": {"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                                   "return (a.exp() * b + a * c).mean()")]},
    "rebuild-constant-first": {"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                                      "return (a.exp() * b + c * a).sum()")]},
    "rebuild-products-swapped": {"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                                        "return (a * c + a.exp() * b).sum()")]},
    "rebuild-exp-of-product": {"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                                      "return ((a * b).exp() + a * c).sum()")]},
    "rebuild-c-requires-grad": {"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                                       "return (a.exp() * b + a * c.requires_grad_()).sum()")]},
    "chain-keeps-none-inputs": {"ps1-chain-names": [
        ("inputs = [fn for fn, _ in node.next_functions if fn is not None]",
         "inputs = [fn for fn, _ in node.next_functions]")]},
    "chain-follows-last-input": {"ps1-chain-names": [("node = inputs[0] if inputs else None",
                                                      "node = inputs[-1] if inputs else None")]},
    "chain-stops-before-accumulate-grad": {"ps1-chain-names": [
        ("while node is not None:", 'while node is not None and type(node).__name__ != "AccumulateGrad":')]},
    "chain-repr-not-name": {"ps1-chain-names": [("names.append(type(node).__name__)", "names.append(str(node))")]},
    # part C: tensors made to order
    "param-not-a-leaf": {"ps1-leaves": [('made["param"] = (w.detach() * 0.01).requires_grad_()',
                                         'made["param"] = w * 0.01')]},
    "param-no-grad": {"ps1-leaves": [('made["param"] = (w.detach() * 0.01).requires_grad_()',
                                      'made["param"] = w.detach() * 0.01')]},
    "param-unscaled": {"ps1-leaves": [("(w.detach() * 0.01)", "(w.detach() * 0.1)")]},
    "target-connected": {"ps1-leaves": [('made["target"] = (w * 3).detach()', 'made["target"] = w * 3')]},
    "target-requires-grad": {"ps1-leaves": [('made["target"] = (w * 3).detach()',
                                             'made["target"] = (w * 3).detach().requires_grad_()')]},
    "kept-not-retained": {"ps1-leaves": [('made["kept"].retain_grad()', "pass")]},
    "kept-detached-leaf": {"ps1-leaves": [('made["kept"] = w.tanh()', 'made["kept"] = w.tanh().detach().requires_grad_()')]},
    "double-cut-from-w": {"ps1-leaves": [('made["double"] = w.double()', 'made["double"] = w.detach().double()')]},
    "double-stays-float32": {"ps1-leaves": [('made["double"] = w.double()', 'made["double"] = w.clone()')]},
    # part D: the training loop
    "train-grad-not-copied": {"ps1-train": [("grads.append(w.grad.detach().clone().numpy())",
                                             "grads.append(w.grad.numpy())")]},
    "train-steps-uphill": {"ps1-train": [("w -= lr * w.grad", "w += lr * w.grad")]},
    "train-sum-not-mean": {"ps1-train": [("loss = ((X @ w - y) ** 2).mean()", "loss = ((X @ w - y) ** 2).sum()")]},
    "train-update-through-data": {"ps1-train": [
        ("with torch.no_grad():   # the update itself must not be recorded in the graph\n"
         "            w -= lr * w.grad",
         "w.data -= lr * w.grad")]},
    "train-zeroes-before-recording": {"ps1-train": [
        ("grads.append(w.grad.detach().clone().numpy())", "w.grad.zero_()\n        grads.append(w.grad.detach().clone().numpy())")]},
    "train-float32-weights": {"ps1-train": [("w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)",
                                             "w = torch.tensor(w0, dtype=torch.float32, requires_grad=True)")]},
}

EQUIVALENT = {
    "hand-train-update-through-data": (
        "w.data -= lr * w.grad changes the same numbers in place without recording, as the update "
        "under torch.no_grad() does: every w and every gradient is identical (the text prefers "
        "no_grad(); no behaviour differs)"),
}
