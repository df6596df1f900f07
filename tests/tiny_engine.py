"""A deliberately small numpy autograd engine for testing autograder.checks itself.

Not the ps3 solution (that lives in source/ps3): scalar-friendly ops only, with
switches that plant the bugs whose diagnoses the tests expect.
"""

from __future__ import annotations

import numpy as np


class Tiny:
    assign_instead_of_accumulate = False
    double_backward = False

    def __init__(self, data, requires_grad=False, parents=(), backward=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.requires_grad = requires_grad
        self.grad = None
        self._parents = parents
        self._backward = backward

    def _accumulate(self, g):
        if self.grad is None or Tiny.assign_instead_of_accumulate:
            self.grad = g.copy()
        else:
            self.grad = self.grad + g

    def __add__(self, other):
        other = other if isinstance(other, Tiny) else Tiny(other)
        return Tiny(self.data + other.data, True, (self, other),
                    lambda g: (g, g))

    def __mul__(self, other):
        other = other if isinstance(other, Tiny) else Tiny(other)
        return Tiny(self.data * other.data, True, (self, other),
                    lambda g, a=self.data, b=other.data: (g * b, g * a))

    __rmul__ = __mul__
    __radd__ = __add__

    def sum(self):
        shape = self.data.shape
        return Tiny(self.data.sum(), True, (self,), lambda g: (np.broadcast_to(g, shape).copy(),))

    def backward(self, gradient=None):
        order, seen = [], set()
        stack = [(self, False)]
        while stack:  # iterative topological sort
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents)
        grads = {id(self): np.ones_like(self.data) if gradient is None else np.asarray(gradient)}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if not node._parents:
                node._accumulate(g * (2 if Tiny.double_backward else 1))
                continue
            for p, pg in zip(node._parents, node._backward(g)):
                if Tiny.assign_instead_of_accumulate:
                    grads[id(p)] = pg
                else:
                    grads[id(p)] = grads.get(id(p), 0) + pg
