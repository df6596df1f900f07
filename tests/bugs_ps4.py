"""One-bug fixtures for ps4 (see docs/authoring.md): each must lose points and be named in feedback."""

from conftest import Bug

BUGS = [
    # the naive formula: exp overflows for inputs near 1000
    Bug("lse-without-max",
        edits={"ps4-logsumexp": [("m = x.amax(dim=-1, keepdim=True)",
                                  "m = torch.zeros_like(x[..., :1])")]},
        expect=["LogSumExp.apply(x) with large inputs", "value: does not match torch.autograd"]),
    # computes every gradient, needed or not
    Bug("linear-ignores-needs-input-grad",
        edits={"ps4-linear": [("if ctx.needs_input_grad[0]:", "if True:")]},
        expect=["only the bias needs a gradient", "check ctx.needs_input_grad"]),
    # computes no gradient at all: no matrix product either, which alone must not earn the
    # "only what is needed" points
    Bug("linear-backward-computes-nothing",
        edits={"ps4-linear": [("return grad_x, grad_weight, grad_bias", "return None, None, None")]},
        expect=["x and weight not requiring grad: gradient of bias"]),
    # the first gradient is not recorded, so it cannot be differentiated again
    Bug("hvp-without-create-graph",
        edits={"ps4-hvp": [("(grad,) = torch.autograd.grad(f(x), x, create_graph=True)",
                            "(grad,) = torch.autograd.grad(f(x), x)")]},
        expect=["does not require grad and does not have a grad_fn"]),
    # the rules that are checked where the student's code runs (autograder.testing's
    # torch_calls and calls_to through student_side): they must still catch the shortcut
    Bug("lse-calls-torch-logsumexp",
        edits={"ps4-logsumexp": [("out = m.squeeze(-1) + (x - m).exp().sum(dim=-1).log()",
                                  "out = torch.logsumexp(x, dim=-1)")]},
        expect=["LogSumExp.forward calls torch.logsumexp"]),
    Bug("hvp-uses-autograd-functional",
        edits={"ps4-hvp": [("x = x.detach().requires_grad_()",
                            "return torch.autograd.functional.hvp(f, x, v)[1]")]},
        expect=["hvp calls torch.autograd.functional.hvp"]),
    # the hook scales the gradient in place: the tensor it was given changes
    Bug("clip-hook-in-place",
        edits={"ps4-clip-hook": [("return grad * scale", "return grad.mul_(scale)")]},
        expect=["the hook changed its argument in place"]),
    # one maximum for the whole batch: rows far below it underflow to log(0)
    Bug("lse-global-max",
        edits={"ps4-logsumexp": [("m = x.amax(dim=-1, keepdim=True)",
                                  "m = x.amax().reshape(1).expand(*x.shape[:-1], 1)")]},
        expect=["rows near 1000, 0 and -1000 in one batch", "the maximum must be taken per row"]),
    # requires_grad_() on the caller's tensor
    Bug("hvp-marks-callers-x",
        edits={"ps4-hvp": [("x = x.detach().requires_grad_()", "x = x.requires_grad_()")]},
        expect=["hvp switched on requires_grad of the caller"]),
    # in place only when autograd calls it (a direct call sees a new tensor): seen in a real backward()
    Bug("clip-hook-in-place-in-backward",
        edits={"ps4-clip-hook": [(
            "return grad * scale",
            "import inspect\n"
            "        if any(f.function == \"backward\" and \"torch\" in f.filename for f in inspect.stack()):\n"
            "            return grad.mul_(scale)   # in place, but only inside backward()\n"
            "        return grad * scale")]},
        expect=["the hook changed its argument in place"]),
    # the scale of the first gradient, kept for every later one
    Bug("clip-hook-caches-scale",
        edits={"ps4-clip-hook": [
            ("def clip(grad):", "cache = {}\n\n    def clip(grad):"),
            ("scale = (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0)",
             "scale = cache.setdefault(\"scale\", (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0))")]},
        expect=["the same hook used again", "the hook keeps something from an earlier call"]),
    # the answer written into x.detach(), which shares its memory with the caller's x
    Bug("hvp-writes-into-callers-x",
        edits={"ps4-hvp": [("return hv.detach()", "return x.detach().copy_(hv)")]},
        expect=["hvp changed the values of the caller's x"]),
    # squeeze() drops every size-1 dimension, not only the reduced one
    Bug("lse-squeeze-every-dim",
        edits={"ps4-logsumexp": [("out = m.squeeze(-1) + ", "out = m.squeeze() + ")]},
        expect=["LogSumExp.apply(x), x of shape (2, 1, 3)", "shape: expected (2, 1), got (2, 2)"]),
    # independent solutions' survivors (session 12): the saved tensors kept on the class, so a
    # second layer's forward overwrites the first's ...
    Bug("linear-saves-on-the-class",
        edits={"ps4-linear": [("ctx.save_for_backward(x, weight)", "LinearFunction.saved = (x, weight)"),
                              ("x, weight = ctx.saved_tensors", "x, weight = LinearFunction.saved")]},
        expect=["two LinearFunction layers in one graph", "each call of apply must keep its own tensors"]),
    # ... a hook that divides by the norm with no 1e-6 (a zero gradient divides by zero) ...
    Bug("clip-hook-without-eps",
        edits={"ps4-clip-hook": [("scale = (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0)",
                                  "scale = min(1.0, max_norm / grad.norm().item())")]},
        expect=["a zero gradient (x = 0): backward() with your hook raised ZeroDivisionError"]),
    # ... and a backward that computes softmax into the saved x (the caller's tensor)
    Bug("lse-softmax-into-saved-x",
        edits={"ps4-logsumexp": [("softmax = (x - out.unsqueeze(-1)).exp()",
                                  "softmax = x.sub_(out.unsqueeze(-1)).exp_()")]},
        expect=["LogSumExp changed its argument x in place"]),
    # mutation harness survivors (session 16): a shift by another statistic of the row keeps
    # exp() finite for rows whose elements are close together, and overflows for a row with
    # one element far above the others ...
    Bug("lse-shift-by-min",
        edits={"ps4-logsumexp": [("m = x.amax(dim=-1, keepdim=True)", "m = x.amin(dim=-1, keepdim=True)")]},
        expect=["one element of each row far above the others", "value: does not match torch.autograd"]),
    Bug("lse-shift-by-mean",
        edits={"ps4-logsumexp": [("m = x.amax(dim=-1, keepdim=True)", "m = x.mean(dim=-1, keepdim=True)")]},
        expect=["one element of each row far above the others"]),
    # ... and clipping thresholds that agree with the norm itself for norms far from max_norm:
    # clipping only above twice max_norm, and comparing the squared norm with max_norm
    Bug("clip-hook-threshold-doubled",
        edits={"ps4-clip-hook": [("scale = (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0)",
                                  "norm = grad.norm()\n"
                                  "        scale = max_norm / (norm + 1e-6) if norm > 2 * max_norm else 1.0")]},
        expect=["make_clip_hook(2.0), a gradient of norm 1.3 x max_norm"]),
    Bug("clip-hook-squared-norm-compare",
        edits={"ps4-clip-hook": [("scale = (max_norm / (grad.norm() + 1e-6)).clamp(max=1.0)",
                                  "norm = grad.norm()\n"
                                  "        scale = max_norm / (norm + 1e-6) if norm ** 2 > max_norm else 1.0")]},
        expect=["a gradient of norm"]),
    # session 17's survivors (realistic one-bug answers that kept full marks): the softmax
    # computed in float32 (only a gradient that cancels shows it) ...
    Bug("lse-backward-float32",
        edits={"ps4-logsumexp": [("softmax = (x - out.unsqueeze(-1)).exp()",
                                  "softmax = (x - out.unsqueeze(-1)).float().exp()")]},
        expect=["10^4 (lse(x) - x[..., 0])"]),
    # ... what backward needs kept as attributes of ctx, not with save_for_backward: a change
    # made in place after forward goes unnoticed ...
    Bug("lse-saves-on-ctx-attributes",
        edits={"ps4-logsumexp": [("ctx.save_for_backward(x, out)", "ctx.x, ctx.out = x, out"),
                                 ("x, out = ctx.saved_tensors", "x, out = ctx.x, ctx.out")]},
        expect=["LogSumExp.apply(h), its first input doubled in place after forward",
                "ctx.save_for_backward"]),
    Bug("linear-saves-on-ctx-attributes",
        edits={"ps4-linear": [("ctx.save_for_backward(x, weight)", "ctx.x, ctx.weight = x, weight"),
                              ("x, weight = ctx.saved_tensors", "x, weight = ctx.x, ctx.weight")]},
        expect=["LinearFunction.apply(h, weight, bias), its first input doubled in place",
                "ctx.save_for_backward"]),
    # ... the clamp written into the caller's x ...
    Bug("clamp-st-writes-into-x",
        edits={"ps4-clamp-st": [("return x.clamp(lo, hi)",
                                 "out = x.detach()\n        out[out < lo] = lo\n        out[out > hi] = hi\n"
                                 "        return x.clamp(lo, hi)")]},
        expect=["ClampST changed its argument x in place"]),
    # ... and the gradient's norm taken in float32, whose squares overflow for large gradients
    Bug("clip-hook-norm-float32",
        edits={"ps4-clip-hook": [("grad.norm()", "grad.float().norm()")]},
        expect=["an exploding gradient (entries near 1e20)"]),
    # one-bug answers that kept full marks (session 18's probe): the weight kept on ctx, only
    # x saved with save_for_backward ...
    Bug("linear-weight-on-ctx",
        edits={"ps4-linear": [("ctx.save_for_backward(x, weight)", "ctx.save_for_backward(x)\n        ctx.weight = weight"),
                              ("x, weight = ctx.saved_tensors", "(x,) = ctx.saved_tensors\n        weight = ctx.weight")]},
        expect=["LinearFunction.apply(x, h, bias), its input 1 doubled in place", "ctx.save_for_backward"]),
    # ... the 1e-6 added under the square root (10% off at a small max_norm) ...
    Bug("clip-hook-1e-6-under-the-root",
        edits={"ps4-clip-hook": [("(grad.norm() + 1e-6)", "(grad.pow(2).sum() + 1e-6).sqrt()")]},
        expect=["make_clip_hook(0.001), a gradient of norm 0.002"]),
    # ... and hvp working on the caller's x when it already requires grad (its hooks fire)
    Bug("hvp-on-the-callers-x",
        edits={"ps4-hvp": [("x = x.detach().requires_grad_()",
                            "x = x if x.requires_grad else x.detach().requires_grad_()")]},
        expect=["a hook the caller registered on x was called 2 times"]),
]
