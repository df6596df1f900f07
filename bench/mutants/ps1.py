"""Hand-written one-bug mutants of ps1's solution, for bench/mutation.py.

``MUTANTS = {name: {grade_id: [(old, new)]}}``: each ``old`` occurs exactly once in that
answer cell (as the student submits it). ``EQUIVALENT = {mutant name: reason}`` lists
mutants (hand-written or AST) that behave like the solution on every input the
assignment allows, so that no test can tell them apart.
"""

MUTANTS = {
    # part A: gradients by hand
    "mean-square-forgets-the-2": {"ps1-grad-mean-square": [("return 2 * x / x.size", "return x / x.size")]},
    "mean-square-divides-by-len": {"ps1-grad-mean-square": [("return 2 * x / x.size", "return 2 * x / len(x)")]},
    "mean-square-no-mean": {"ps1-grad-mean-square": [("return 2 * x / x.size", "return 2 * x")]},
    "two-inputs-grad-b-is-b": {"ps1-grad-two-inputs": [("grad_b = a", "grad_b = b")]},
    "two-inputs-square-not-doubled": {"ps1-grad-two-inputs": [("grad_a = b + 2 * a", "grad_a = b + a")]},
    "two-inputs-gradients-swapped": {"ps1-grad-two-inputs": [("grad_a = b + 2 * a\n    grad_b = a",
                                                              "grad_b = b + 2 * a\n    grad_a = a")]},
    "tanh-mean-sech-not-squared": {"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                                           "return (1 / np.cosh(x)) / x.size")]},
    "tanh-mean-tanh-of-square": {"ps1-grad-tanh-mean": [("np.tanh(x) ** 2", "np.tanh(x ** 2)")]},
    # part B: reading the graph
    "fn-names-read-forwards": {"ps1-grad-fn-names": [
        ('out_node_name = "SumBackward0"\nnext_node_name = "ExpBackward0"\nthird_node_name = "MulBackward0"',
         'out_node_name = "MulBackward0"\nnext_node_name = "ExpBackward0"\nthird_node_name = "SumBackward0"')]},
    "fn-names-without-suffix": {"ps1-grad-fn-names": [('"ExpBackward0"', '"ExpBackward"')]},
    "chain-keeps-none-inputs": {"ps1-chain-names": [
        ("inputs = [fn for fn, _ in node.next_functions if fn is not None]",
         "inputs = [fn for fn, _ in node.next_functions]")]},
    "chain-follows-last-input": {"ps1-chain-names": [("node = inputs[0] if inputs else None",
                                                      "node = inputs[-1] if inputs else None")]},
    "chain-stops-before-accumulate-grad": {"ps1-chain-names": [
        ("while node is not None:", 'while node is not None and type(node).__name__ != "AccumulateGrad":')]},
    "chain-repr-not-name": {"ps1-chain-names": [("names.append(type(node).__name__)", "names.append(str(node))")]},
    # part C: leaves
    "leaves-detach-keeps-history": {"ps1-leaves": [('answers["z"] = (True, False)', 'answers["z"] = (False, True)')]},
    "leaves-x-not-a-leaf": {"ps1-leaves": [('answers["x"] = (True, False)', 'answers["x"] = (False, False)')]},
    "leaves-constant-product-recorded": {"ps1-leaves": [('answers["c"] = (True, False)',
                                                         'answers["c"] = (False, False)')]},
    "leaves-h-keeps-grad": {"ps1-leaves": [("h_grad_is_none = True", "h_grad_is_none = False")]},
    "leaves-loss-is-a-leaf": {"ps1-leaves": [('answers["loss"] = (False, True)', 'answers["loss"] = (True, True)')]},
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
