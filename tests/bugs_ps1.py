"""One-bug versions of the ps1 solution: each must lose points, and its feedback must say why."""

from conftest import Bug

BUGS = [
    # the classic tutorial's formula x/2 (2x/N with N = 4), here for a batch of 3 rows
    Bug("mean-square-x-over-2",
        edits={"ps1-grad-mean-square": [("return 2 * x / x.shape[0]", "return x / 2")]},
        expect=["d (x*x).sum(dim=1).mean()/dx for x of shape (3, 2)", "the N of the 2x2 example"]),
    # lesson 1's 2x/N with N = x.size: but only the mean over the rows divides
    Bug("batch-mean-divides-by-size",
        edits={"ps1-grad-mean-square": [("return 2 * x / x.shape[0]", "return 2 * x / x.size")]},
        expect=["d (x*x).sum(dim=1).mean()/dx for x of shape (3, 2)", "divided by x.size = 3 x 2"]),
    # a is used twice: keeping only the a * b path
    Bug("product-one-path",
        edits={"ps1-grad-two-inputs": [("grad_a = b + 2 * a", "grad_a = b")]},
        expect=["d (a*b + a**2).sum()/da", "equal to one path only"]),
    # the mean's 1/N forgotten
    Bug("tanh-mean-no-1-over-n",
        edits={"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                       "return 1 - np.tanh(x) ** 2")]},
        expect=["d tanh(x).mean()/dx", "off by a factor of N"]),
    # the operands of a product in the other order: the same nodes, next_functions reversed
    Bug("rebuild-operands-swapped",
        edits={"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                      "return (b * a.exp() + a * c).sum()")]},
        expect=["rebuild(a, b, c) for a, b, c of shape (3,): your graph differs from the drawing",
                "in another order"]),
    # the very bug part D is about
    Bug("train-not-zeroed",
        edits={"ps1-train": [("w.grad.zero_()", "pass")]},
        expect=["w.grad was not zeroed between steps"]),
    # a non-leaf taken for a leaf: the scaled parameter is the result of an operation (lesson 2's
    # "why is my .grad None?"); the name is the one tests/test_cluster.py grades
    Bug("h-is-a-leaf",
        edits={"ps1-leaves": [('made["param"] = (w.detach() * 0.01).requires_grad_()',
                               'made["param"] = w * 0.01')]},
        expect=["made['param'].is_leaf: torch says True", "not a leaf"]),
    # a non-leaf's .grad without retain_grad()
    Bug("kept-without-retain-grad",
        edits={"ps1-leaves": [('made["kept"].retain_grad()', "pass")]},
        expect=["made['kept'].grad after (kept * kept).sum().backward()", "retain_grad()"]),
    # a constant that still carries gradient into w
    Bug("target-not-detached",
        edits={"ps1-leaves": [('made["target"] = (w * 3).detach()', 'made["target"] = w * 3')]},
        expect=["made['target'].requires_grad: torch says False", ".detach()"]),
    # the chain follows next_functions[0] even when it is None (a constant input)
    Bug("chain-stops-at-none",
        edits={"ps1-chain-names": [("inputs = [fn for fn, _ in node.next_functions if fn is not None]",
                                    "inputs = [fn for fn, _ in node.next_functions[:1]]")]},
        expect=["chain_names for (c * a).tanh().mean()"]),
    # independent solutions' survivors (session 11): the caller's array changed in place. Part A's
    # gradient computed in x itself and returned (right numbers, the caller's x scaled) ...
    Bug("mean-square-scales-x-in-place",
        edits={"ps1-grad-mean-square": [("return 2 * x / x.shape[0]",
                                         "x *= 2 / x.shape[0]\n    return x")]},
        expect=["d (x*x).sum(dim=1).mean()/dx for x of shape (3, 2)",
                "grad_batch_mean_square changed its argument x in place"]),
    # ... A3 the same way (the part A text asks every function to leave its input as it is) ...
    Bug("tanh-mean-in-place",
        edits={"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                       "np.tanh(x, out=x)\n    x **= 2\n    np.subtract(1.0, x, out=x)\n"
                                       "    x /= x.size\n    return x")]},
        expect=["d tanh(x).mean()/dx", "grad_tanh_mean changed its argument x in place"]),
    # ... grad_a = b names b itself, and += then adds into the caller's b ...
    Bug("product-grad-a-adds-into-b",
        edits={"ps1-grad-two-inputs": [("grad_a = b + 2 * a", "grad_a = b\n    grad_a += 2 * a")]},
        expect=["grad_product_plus_square(a, b)",
                "grad_product_plus_square changed its argument b in place"]),
    # ... and a training loop whose w shares w0's memory: each update overwrites the caller's w0
    Bug("train-w-shares-w0",
        edits={"ps1-train": [("w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)",
                              "w = torch.as_tensor(w0, dtype=torch.float64).requires_grad_()")]},
        expect=["6 samples, 3 steps: train changed its argument w0 in place",
                "torch.as_tensor(w0) and torch.from_numpy(w0) share the memory"]),
    # independent solutions' survivors (session 12): a walk capped at ten nodes (right on every
    # short chain) ...
    Bug("chain-names-stops-at-ten",
        edits={"ps1-chain-names": [("while node is not None:",
                                    "while node is not None and len(names) < 10:")]},
        expect=["chain_names for a * 1.1, 100 times over, then .sum()  (a long chain)"]),
    # ... and train returning tensors, not the numpy arrays the text asks for (right numbers)
    Bug("train-returns-tensors",
        edits={"ps1-train": [("return w.detach().numpy(), grads", "return w.detach(), grads")]},
        expect=["6 samples, 3 steps: train's final w must be a float64 numpy array, got Tensor"]),
    # red team (session 15): part A handed to torch where torch exists, and an empty answer
    # where it does not, hoping the by-hand check compares nothing (an empty zip)
    Bug("mean-square-by-torch-empty-without",
        edits={"ps1-grad-mean-square": [(
            "return 2 * x / x.shape[0]",
            "try:\n        import torch\n    except ImportError:\n        return []\n"
            "    t = torch.tensor(x, requires_grad=True)\n"
            "    (t * t).sum(dim=1).mean().backward()\n    return t.grad.numpy()")]},
        expect=["(your code run in a Python without torch)", "shape: expected (3, 2), got (0,)"]),
    # session 17's survivors: the second use of a made a new leaf (a detach slip), so backward()
    # gives the caller's a only the exp path ...
    Bug("rebuild-second-a-detached",
        edits={"ps1-rebuild-graph": [("return (a.exp() * b + a * c).sum()",
                                      "return (a.exp() * b + a.detach().requires_grad_() * c).sum()")]},
        expect=["rebuild(a, b, c) for a, b, c of shape (3,)"]),
    # ... and a walk that only ever looks at a node's first two inputs
    Bug("chain-names-first-two-inputs-only",
        edits={"ps1-chain-names": [("inputs = [fn for fn, _ in node.next_functions if fn is not None]",
                                    "inputs = [fn for fn, _ in node.next_functions[:2] if fn is not None]")]},
        expect=["chain_names for c.addcmul(c, a).sum()"]),
    # one-bug answers that kept full marks (session 18's probe): chain_names taking the last
    # input when the first is None ...
    Bug("chain-names-first-or-last",
        edits={"ps1-chain-names": [("inputs = [fn for fn, _ in node.next_functions if fn is not None]\n"
                                    "        node = inputs[0] if inputs else None",
                                    "nf = node.next_functions\n"
                                    "        node = (nf[0][0] if nf[0][0] is not None else nf[-1][0]) if nf else None")]},
        expect=["chain_names for c.addcmul(a.exp(), b).sum()"]),
    # ... kept made from a detached copy of w (its own .grad right, w's None) ...
    Bug("kept-from-a-detached-copy",
        edits={"ps1-leaves": [('made["kept"] = w.tanh()', 'made["kept"] = w.detach().requires_grad_().tanh()')]},
        expect=["w.grad after (kept * kept).sum().backward() (kept is made from w)"]),
    # ... param scaled in place on w.detach(), which writes into the caller's w ...
    Bug("param-scales-the-callers-w",
        edits={"ps1-leaves": [('made["param"] = (w.detach() * 0.01).requires_grad_()', 'pass'),
                              ('made["double"] = w.double()',
                               'made["double"] = w.double()\n    made["param"] = w.detach().mul_(0.01).requires_grad_()')]},
        expect=["make_tensors changed its argument w in place"]),
    # ... and tanh written with exp (nan for large |x|, where torch's derivative is 0)
    Bug("tanh-through-exp",
        edits={"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                       "t = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))\n"
                                       "    return (1 - t ** 2) / x.size")]},
        expect=["d tanh(x).mean()/dx for x = [0.5, 400, -800, 20] (large |x|)"]),
]
