"""autograder: the course's checks against torch.autograd, graph pictures and grading tools.

Students install it; it holds no solutions.
"""

from .checks import (
    GradientMismatch,
    assert_close,
    assert_grad_close,
    check_gradients,
    diagnose,
    random_inputs,
    to_array,
    torch_gradients,
)

__all__ = [
    "GradientMismatch",
    "assert_close",
    "assert_grad_close",
    "check_gradients",
    "diagnose",
    "random_inputs",
    "to_array",
    "torch_gradients",
]
__version__ = "0.1.0"
