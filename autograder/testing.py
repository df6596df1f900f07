"""Helpers for test cells that work the same in a student's kernel and in the grading judge.

In a student's own JupyterLab kernel (Run, Validate) a test cell runs in the
same process as the student's code, as usual. During ``autograder grade`` it
runs in a separate, trusted *judge* process (:mod:`autograder.judge`), and the
student's objects reach it as proxies (``docs/architecture.md``). These helpers
let one test cell say what it means in both places:

* :func:`student_side` -- a module as the student's code sees it (``torch`` to
  build tensors that a student's function receives);
* :func:`type_name` -- the class name of any object, student's or not;
* :func:`remote` -- a copy of a value that lives with the student's code (so a
  test can change it afterwards and see whether the student's object kept a copy);
* :func:`is_student_object` -- whether a value is a proxy of a student object.

In the kernel they are plain: ``student_side("torch")`` is ``torch`` itself.
"""

from __future__ import annotations

import importlib
from contextvars import ContextVar
from typing import Any

__all__ = ["student_side", "type_name", "remote", "is_student_object", "torch_calls"]

#: the judge session running the current test cell, if any (set by autograder.judge only)
ACTIVE_JUDGE: ContextVar = ContextVar("autograder_active_judge", default=None)


def is_student_object(x: Any) -> bool:
    """True for a proxy of an object that lives in the student's process (judge only)."""
    return bool(getattr(type(x), "_autograder_proxy_", False))


def student_side(module: str):
    """The module ``module`` as the student's code sees it.

    In a kernel: ``importlib.import_module(module)``. In the judge: a proxy of
    that module imported in the student's process, so ``student_side("torch").tensor(a)``
    builds a tensor there, which a student's function can receive.
    """
    judge = ACTIVE_JUDGE.get()
    if judge is None:
        return importlib.import_module(module)
    return judge.import_module(module)


def type_name(x: Any) -> str:
    """``type(x).__name__``, also for a student object seen from the judge."""
    if is_student_object(x):
        return x._autograder_type_name_()
    return type(x).__name__


def remote(value: Any):
    """``value`` itself in a kernel; in the judge, a copy of it that lives in the student's process."""
    judge = ACTIVE_JUDGE.get()
    if judge is None:
        return value
    return judge.put(value)


def torch_calls(fn, *args, **kwargs) -> list[str]:
    """Names of the torch functions called while ``fn(*args, **kwargs)`` runs, sorted.

    Meant to run where ``fn`` lives: a test calls it as
    ``student_side("autograder.testing").torch_calls(StudentFn.apply, x)``, so in the
    judge it runs in the student's process and its answer is only as honest as that
    process (docs/security.md lists such rules as not protected).
    """
    from torch.overrides import TorchFunctionMode

    class _Calls(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names: set[str] = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.add(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    with _Calls() as calls:
        fn(*args, **kwargs)
    return sorted(calls.names)
