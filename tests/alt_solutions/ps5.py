"""A second, independently written ps5 solution, on the second ps3 engine (alt_solutions/ps3.py).

Different from ``source/ps5`` where a student could differ: the loss in the form
(1 - y) z + log(1 + e^-z), layers that add the bias first, a loop over all layers
but the last, SGD that zeroes gradients with arrays of zeros and updates with
``np.subtract(..., out=)``, ``np.where`` for the classes, the figure built with
``add_subplot`` and ``semilogy``. Its ``minigrad.py`` is the second ps3 engine, exported
from the filled ps3 notebook with ``autograder engine`` as ps5 asks ("The engine is yours").
Format: alt_solutions/ps3.py.
"""

FILLS = {
    "ps5-linear": [
        """\
limit = in_features ** -0.5
self.weight = Variable(rng.uniform(low=-limit, high=limit, size=(out_features, in_features)),
                       requires_grad=True)
self.bias = Variable(rng.uniform(low=-limit, high=limit, size=(out_features,)), requires_grad=True)
""",
        "return self.bias + x @ self.weight.T\n",
        "return [self.weight, self.bias]\n",
    ],
    "ps5-mlp": [
        """\
self.layers = []
for i in range(len(sizes) - 1):
    self.layers.append(Linear(sizes[i], sizes[i + 1], rng))
""",
        """\
*hidden, output = self.layers
for layer in hidden:
    x = layer(x).tanh()
return output(x)
""",
        "return sum((layer.parameters() for layer in self.layers), [])\n",
    ],
    "ps5-loss": [
        "return ((1.0 - targets) * logits + ((-logits).exp() + 1.0).log()).mean()\n",
    ],
    "ps5-sgd": [
        "self.params, self.lr = tuple(params), float(lr)\n",
        """\
for p in self.params:
    if p.grad is None:
        continue
    np.subtract(p.data, self.lr * p.grad, out=p.data)
""",
        """\
for p in self.params:
    p.grad = np.zeros_like(p.data)
""",
    ],
    "ps5-train": [
        """\
inputs, labels = Variable(X), np.asarray(y, dtype=np.float64)[:, None]
opt = SGD(model.parameters(), lr=lr)
history = []
for _step in range(steps):
    opt.zero_grad()
    loss = bce_with_logits(model(inputs), labels)
    history.append(loss.data.item())
    loss.backward()
    opt.step()
return history
""",
        """\
with no_grad():
    z = model(Variable(X)).data.reshape(-1)
return np.where(z > 0, 1, 0).astype(np.int64)
""",
    ],
    "ps5-plot": [
        """\
fig = plt.figure(figsize=(11, 4))
left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
left.semilogy(range(len(losses)), losses)
left.set_xlabel("step")
left.set_title("loss")


def scores(points):
    with no_grad():
        return model(Variable(points)).data.reshape(-1)


plot_decision_boundary(scores, X, y, ax=right, title="decision boundary")
return fig
""",
    ],
}
