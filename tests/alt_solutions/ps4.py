"""A second, independently written ps4: what a careful student could hand in.

Written from the release notebook alone, in a deliberately different style from
``source/ps4``: ``LogSumExp`` saves the softmax it computed in forward (not its input
or output), through ``amax`` and ``log(sum(exp))`` with ``keepdim``; ``ClampST`` clamps
with two one-sided clamps and hands ``grad_output`` itself back; ``LinearFunction``
multiplies with ``einsum`` and adds the bias in place; the clipping hook takes the norm
as a Python float and caps the factor with ``min``; ``hvp`` differentiates the dot product
g . v instead of passing ``grad_outputs=v``.
``FILLS[grade_id]`` lists, in order, the code that replaces each ``# YOUR CODE HERE`` /
``raise NotImplementedError()`` of that answer cell (tests/test_alt_solutions.py).
"""

FILLS = {
    "ps4-logsumexp": [
        """\
m = torch.amax(x, dim=-1, keepdim=True)
lse = m + torch.log(torch.sum(torch.exp(x - m), dim=-1, keepdim=True))
ctx.save_for_backward(torch.exp(x - lse))   # the softmax: all backward needs
return lse.squeeze(-1)
""",
        """\
(p,) = ctx.saved_tensors
return p * grad_output.unsqueeze(-1)
""",
    ],
    "ps4-clamp-st": [
        "return x.clamp(min=lo).clamp(max=hi)\n",
        "return grad_output, None, None\n",
    ],
    "ps4-linear": [
        """\
ctx.save_for_backward(x, weight, bias)
out = torch.einsum("ni,oi->no", x, weight)
if bias is not None:
    out += bias
return out
""",
        """\
x, weight, bias = ctx.saved_tensors
want_x, want_w, want_b = ctx.needs_input_grad[:3]
gx = torch.einsum("no,oi->ni", grad_output, weight) if want_x else None
gw = torch.einsum("no,ni->oi", grad_output, x) if want_w else None
gb = grad_output.sum(dim=0) if (want_b and bias is not None) else None
return gx, gw, gb
""",
    ],
    "ps4-clip-hook": [
        """\
def hook(g):
    norm = float(torch.linalg.vector_norm(g))
    return g.mul(min(1.0, max_norm / (norm + 1e-6)))   # a new tensor, g untouched

return hook
""",
    ],
    "ps4-hvp": [
        """\
x = x.detach().requires_grad_()
(g,) = torch.autograd.grad(f(x), x, create_graph=True)
# H v is the gradient of the scalar g . v (v is a constant)
(hv,) = torch.autograd.grad(torch.dot(g.reshape(-1), v.reshape(-1)), x)
return hv.detach()
""",
    ],
}
