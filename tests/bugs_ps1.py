"""One-bug versions of the ps1 solution: each must lose points, and its feedback must say why."""

from conftest import Bug

BUGS = [
    # the classic tutorial's formula: right for the 2x2 example (visible check), wrong for other N
    Bug("mean-square-x-over-2",
        edits={"ps1-grad-mean-square": [("return 2 * x / x.size", "return x / 2")]},
        expect=["d mean(x*x)/dx for x of shape", "off by a constant factor"]),
    # a is used twice: keeping only the a * b path
    Bug("product-one-path",
        edits={"ps1-grad-two-inputs": [("grad_a = b + 2 * a", "grad_a = b")]},
        expect=["d (a*b + a**2).sum()/da", "equal to one path only"]),
    # the mean's 1/N forgotten
    Bug("tanh-mean-no-1-over-n",
        edits={"ps1-grad-tanh-mean": [("return (1 - np.tanh(x) ** 2) / x.size",
                                       "return 1 - np.tanh(x) ** 2")]},
        expect=["d tanh(x).mean()/dx", "off by a factor of N"]),
    # the very bug part D is about
    Bug("train-not-zeroed",
        edits={"ps1-train": [("w.grad.zero_()", "pass")]},
        expect=["w.grad was not zeroed between steps"]),
    # a non-leaf taken for a leaf
    Bug("h-is-a-leaf",
        edits={"ps1-leaves": [('answers["h"] = (False, True)', 'answers["h"] = (True, True)')]},
        expect=["h.is_leaf: torch says False"]),
    # the chain follows next_functions[0] even when it is None (a constant input)
    Bug("chain-stops-at-none",
        edits={"ps1-chain-names": [("inputs = [fn for fn, _ in node.next_functions if fn is not None]",
                                    "inputs = [fn for fn, _ in node.next_functions[:1]]")]},
        expect=["chain_names for (c * a).tanh().mean()"]),
]
