"""One-bug fixtures for ps5 (see docs/authoring.md): each must lose points and be named in feedback."""

from conftest import Bug

BUGS = [
    # zero_grad() forgets to clear: the next backward() adds to the old gradient
    Bug("zero-grad-keeps-gradients",
        edits={"ps5-sgd": [("p.grad = None", "pass")]},
        expect=["SGD.zero_grad(), then one more backward(): weight.grad", "exactly 2x"]),
    # gradient ascent: the update goes uphill
    Bug("sgd-steps-uphill",
        edits={"ps5-sgd": [("p.data -= self.lr * p.grad", "p.data += self.lr * p.grad")]},
        expect=["weight after the updates", "the loss did not decrease"]),
    # the layer forgets its bias
    Bug("linear-without-bias",
        edits={"ps5-linear": [("return x @ self.weight.T + self.bias", "return x @ self.weight.T")]},
        expect=["Linear(3, 4) on x of shape (5, 3): output"]),
    # SGD keeps the iterable it was given: a one-pass iterator is used up by the first step()
    Bug("sgd-keeps-an-iterator",
        edits={"ps5-sgd": [("self.params = list(params)", "self.params = params")]},
        expect=["SGD.step() did nothing the second time"]),
    # the bound from out_features: right only for square layers
    Bug("linear-bound-from-fan-out",
        edits={"ps5-linear": [("bound = 1.0 / np.sqrt(in_features)", "bound = 1.0 / np.sqrt(out_features)")]},
        expect=["Linear(3, 4): weight and bias must be drawn", "1/sqrt(in_features)"]),
    # a logit of exactly 0 taken as class 1
    Bug("predict-zero-logit-is-one",
        edits={"ps5-train": [("return (logits > 0).astype(np.int64)", "return (logits >= 0).astype(np.int64)")]},
        expect=["logits are all exactly 0.0", "a logit of exactly 0 is class 0"]),
    # the decision boundary drawn on the loss curve's axes, the second axes left empty (an
    # independent solution's one-bug variant, session 10)
    Bug("plot-boundary-on-the-loss-axes",
        edits={"ps5-plot": [("plot_decision_boundary(logits, X, y, ax=ax_boundary,",
                             "plot_decision_boundary(logits, X, y, ax=ax_loss,")]},
        expect=["the points X are drawn on the axes of the loss curve"]),
    # the two axes swapped: the loss on the right, the boundary on the left (session 12)
    Bug("plot-loss-on-the-right",
        edits={"ps5-plot": [("fig, (ax_loss, ax_boundary) = plt.subplots(1, 2, figsize=(10, 4))",
                             "fig, (ax_boundary, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))")]},
        expect=["plot_training: the loss curve goes on the left"]),
    # step() scales the gradient in place: right for one step, but .grad is left lr times
    # torch's and a second step() without a backward() moves by lr * lr * grad (session 11)
    Bug("sgd-scales-grad-in-place",
        edits={"ps5-sgd": [("p.data -= self.lr * p.grad",
                            "p.grad *= self.lr\n                p.data -= p.grad")]},
        expect=["step() changed weight.grad", "never p.grad *= lr"]),
    # train() ignores its lr argument: right only for the default 0.5
    Bug("train-ignores-lr",
        edits={"ps5-train": [("optimizer = SGD(model.parameters(), lr)",
                              "optimizer = SGD(model.parameters(), 0.5)")]},
        expect=["20 steps, lr=0.1: the loss curve vs the same training in torch",
                "must use the lr it is given"]),
    # zero_grad() after step() instead of before: a gradient the model arrives with reaches the
    # first step
    Bug("train-zero-grad-after-step",
        edits={"ps5-train": [("        optimizer.zero_grad()\n        loss", "        loss"),
                             ("        optimizer.step()\n",
                              "        optimizer.step()\n        optimizer.zero_grad()\n")]},
        expect=["already hold a gradient", "the loss curve vs the same training in torch",
                "call zero_grad() before each backward()"]),
    # predict rounds X to float32: a logit within float32 rounding of 0 changes sides
    Bug("predict-float32-input",
        edits={"ps5-train": [("logits = model(Variable(X)).data[:, 0]",
                              "logits = model(Variable(np.asarray(X, dtype=np.float32))).data[:, 0]")]},
        expect=["predict on logits [-1e-12, 0.2] (float64): expected classes [0, 1], got [1, 1]",
                "computed in float64"]),
    # session 17's survivors (realistic one-bug answers that kept full marks): the MLP draws
    # its layers from a generator of its own, not the rng it is given ...
    Bug("mlp-ignores-rng",
        edits={"ps5-mlp": [("Linear(n_in, n_out, rng)", "Linear(n_in, n_out, np.random.default_rng(0))")]},
        expect=["MLP([2, 4, 1])", "not Linear layers made in order from the rng it was given"]),
    # ... keeps its layers under another name than the text's `layers` ...
    Bug("mlp-layers-renamed",
        edits={"ps5-mlp": [("self.layers = [", "self.linears = ["),
                           ("last = len(self.layers) - 1", "last = len(self.linears) - 1"),
                           ("enumerate(self.layers)", "enumerate(self.linears)"),
                           ("for layer in self.layers for p", "for layer in self.linears for p")]},
        expect=["MLP([2, 4, 1])", "keep the layers in a list attribute `layers`"]),
    # ... predict squeezes the logits: one point gives shape () instead of (1,) ...
    Bug("predict-squeeze",
        edits={"ps5-train": [("logits = model(Variable(X)).data[:, 0]",
                              "logits = model(Variable(X)).data.squeeze()")]},
        expect=["predict must return a numpy array of shape (1,)"]),
    # ... and zero_grad() sets every .grad to the number 0 (neither None nor zeros of its shape)
    Bug("zero-grad-sets-the-number-0",
        edits={"ps5-sgd": [("p.grad = None", "p.grad = 0")]},
        expect=["SGD.zero_grad(): after it, every .grad must be None (or zeros of the parameter's shape)"]),
    # one-bug answers that kept full marks (session 18's probe): a step that clips the gradient
    # (every gradient in the tests was below 1) ...
    Bug("sgd-clips-the-gradient",
        edits={"ps5-sgd": [("p.data -= self.lr * p.grad", "p.data -= self.lr * np.clip(p.grad, -1.0, 1.0)")]},
        expect=["on the loss times 50.0 (gradients above 1): weight after the updates"]),
    # ... train() shuffling the caller's X and y in place (in step with each other) ...
    Bug("train-shuffles-the-callers-data",
        edits={"ps5-train": [("x = Variable(X)", "np.random.default_rng(0).shuffle(X)\n"
                                                "    np.random.default_rng(0).shuffle(y)\n    x = Variable(X)")]},
        expect=["train changed its argument X in place", "shuffle an index"]),
    # ... and parameters() as a tuple or a generator, where the text shows a list
    Bug("linear-parameters-a-tuple",
        edits={"ps5-linear": [("return [self.weight, self.bias]", "return (self.weight, self.bias)")]},
        expect=["parameters() must return a list, got tuple"]),
    Bug("mlp-parameters-a-generator",
        edits={"ps5-mlp": [("return [p for layer in self.layers for p in layer.parameters()]",
                            "return (p for layer in self.layers for p in layer.parameters())")]},
        expect=["parameters() must return a list, got generator"]),
]
