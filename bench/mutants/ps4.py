"""Hand-written one-bug mutants of ps4's solution, for bench/mutation.py (format: mutants/ps1.py)."""

MUTANTS = {
    # LogSumExp
    "lse-global-max": {"ps4-logsumexp": [("m = x.amax(dim=-1, keepdim=True)", "m = x.amax().reshape(1).expand(*x.shape[:-1], 1)")]},
    "lse-forgets-the-max": {"ps4-logsumexp": [("out = m.squeeze(-1) + (x - m).exp().sum(dim=-1).log()",
                                               "out = (x - m).exp().sum(dim=-1).log()")]},
    "lse-backward-naive-softmax": {"ps4-logsumexp": [("softmax = (x - out.unsqueeze(-1)).exp()",
                                                      "softmax = x.exp() / x.exp().sum(dim=-1, keepdim=True)")]},
    "lse-backward-no-unsqueeze": {"ps4-logsumexp": [("return grad_output.unsqueeze(-1) * softmax",
                                                     "return grad_output * softmax")]},
    "lse-backward-ignores-grad-output": {"ps4-logsumexp": [("return grad_output.unsqueeze(-1) * softmax",
                                                            "return softmax")]},
    "lse-over-first-dim": {"ps4-logsumexp": [("out = m.squeeze(-1) + (x - m).exp().sum(dim=-1).log()",
                                              "out = m.squeeze(-1) + (x - m).exp().sum(dim=0).log()")]},
    # ClampST
    "clamp-forgets-hi": {"ps4-clamp-st": [("return x.clamp(lo, hi)", "return x.clamp(min=lo)")]},
    "clamp-in-place": {"ps4-clamp-st": [("return x.clamp(lo, hi)", "return x.clamp_(lo, hi)")]},
    "clamp-one-gradient": {"ps4-clamp-st": [("return grad_output, None, None", "return grad_output")]},
    "clamp-zero-gradient": {"ps4-clamp-st": [("return grad_output, None, None",
                                              "return grad_output * 0, None, None")]},
    # LinearFunction
    "linear-grad-x-transposed-weight": {"ps4-linear": [("grad_x = grad_output @ weight ", "grad_x = grad_output @ weight.T ")]},
    "linear-grad-weight-transposed": {"ps4-linear": [("grad_weight = grad_output.T @ x ",
                                                      "grad_weight = (x.T @ grad_output).T.T ")]},
    "linear-bias-mean": {"ps4-linear": [("grad_bias = grad_output.sum(dim=0)", "grad_bias = grad_output.mean(dim=0)")]},
    "linear-weight-needs-x": {"ps4-linear": [("if ctx.needs_input_grad[1]:", "if ctx.needs_input_grad[0]:")]},
    "linear-bias-truthiness": {"ps4-linear": [("if bias is not None:", "if bias:")]},
    "linear-bias-grad-always": {"ps4-linear": [("if ctx.has_bias and ctx.needs_input_grad[2]:",
                                                "if ctx.needs_input_grad[2]:")]},
    # the clipping hook
    "clip-scales-up": {"ps4-clip-hook": [("scale = (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0)",
                                          "scale = max_norm / (grad.norm() + 1e-6)")]},
    "clip-in-place": {"ps4-clip-hook": [("return grad * scale ", "return grad.mul_(scale) ")]},
    "clip-inverted": {"ps4-clip-hook": [("scale = (max_norm / (grad.norm() + 1e-6))", "scale = (grad.norm() / max_norm)")]},
    "clip-per-element": {"ps4-clip-hook": [("return grad * scale ", "return grad.clamp(-max_norm, max_norm) ")]},
    # Hessian-vector product
    "hvp-marks-callers-x": {"ps4-hvp": [("x = x.detach().requires_grad_()", "x = x.requires_grad_()")]},
    "hvp-forgets-v": {"ps4-hvp": [("(hv,) = torch.autograd.grad(grad, x, grad_outputs=v)",
                                   "(hv,) = torch.autograd.grad(grad.sum(), x)")]},
    "hvp-returns-gradient": {"ps4-hvp": [("return hv.detach()", "return grad.detach()")]},
}

EQUIVALENT = {
    "hand-linear-bias-grad-always": (
        "dropping `ctx.has_bias and`: when bias is None, torch sets ctx.needs_input_grad[2] to False "
        "(a None input needs no gradient), so the bias gradient is skipped exactly when has_bias is false"),
}
