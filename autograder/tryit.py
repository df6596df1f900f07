"""Try-it cells of the lessons: a question, a check, and no answer printed by default.

A Try-it cell ships unanswered: every blank the learner fills in is written ``...``
(``my_prediction = ...``, ``return ...`` in a function to complete). The check runs
inside ``with try_it(answer, ...)``::

    my_prediction = ...   # a 2x2 list of numbers

    with try_it(my_prediction, ok="your prediction matches torch's gradient"):
        assert_grad_close(my_prediction, variable.grad, "d mean(x*x)/dx", n=4)

and never raises, so *Run All* goes through every lesson:

* while any answer still holds a ``...`` (a value, a list or dict with one inside,
  or a function or class whose code contains one), it prints
  ``… not answered yet`` and nothing else: whatever the check did with the blank
  is ignored;
* a right answer prints ``✓`` and the ``ok`` text;
* a wrong one prints ``✗`` and the check's own explanation (the message of the
  failing assertion: expected, got and the likely cause), or the error the answer
  raised.

The model answer sits next to the cell, collapsed (a Markdown ``<details>``
block): one click away, never printed by Run All.
"""

from __future__ import annotations

import types
from typing import Any

from .i18n import N_, _

__all__ = ["NOT_ANSWERED", "WRONG", "RIGHT", "try_it", "unanswered"]

NOT_ANSWERED = N_("… not answered yet")  # English; printed in the learner's language
WRONG = "✗"
RIGHT = "✓"


def _code_has_blank(code: types.CodeType) -> bool:
    for const in code.co_consts:
        if const is Ellipsis:
            return True
        if isinstance(const, types.CodeType) and _code_has_blank(const):
            return True
    return False


def unanswered(answer: Any, _depth: int = 0) -> bool:
    """True while ``answer`` still holds a ``...`` blank.

    ``...`` itself; a list, tuple, set or dict with one among its items (or keys);
    a function whose code contains a ``...`` constant (``return ...``), or a class
    with such a method. ``x[..., 0]`` counts as a blank too: write ``x[:, 0]``.
    """
    if answer is Ellipsis:
        return True
    if _depth > 6:
        return False
    if isinstance(answer, dict):
        return any(unanswered(k, _depth + 1) or unanswered(v, _depth + 1) for k, v in answer.items())
    if isinstance(answer, (list, tuple, set, frozenset)):
        return any(unanswered(a, _depth + 1) for a in answer)
    if isinstance(answer, (staticmethod, classmethod)):
        answer = answer.__func__
    if isinstance(answer, types.FunctionType):
        return _code_has_blank(answer.__code__)
    if isinstance(answer, type) and _depth == 0:
        return any(unanswered(v, _depth + 1) for k, v in vars(answer).items()
                   if not (k.startswith("__") and k.endswith("__")))
    return False


class try_it:  # noqa: N801  (used like a function: ``with try_it(answer):``)
    """Run a Try-it check on ``answers``; never raises (see the module's docstring).

    ``ok``: what a right answer is told after the ``✓``.
    """

    def __init__(self, *answers: Any, ok: str = N_("right")):
        self.answers = answers
        self.ok = ok
        self.outcome: str | None = None  # "unanswered", "right" or "wrong", after the block

    def __enter__(self) -> try_it:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and not issubclass(exc_type, Exception):
            return False  # KeyboardInterrupt, SystemExit: not ours to swallow
        if any(unanswered(a) for a in self.answers):
            self.outcome = "unanswered"
            print(_("{not_answered}: replace each ... above with your answer, then run the cell "
                    "again.").format(not_answered=_(NOT_ANSWERED)))
            return True
        if exc is None:
            self.outcome = "right"
            print(f"{RIGHT} {_(self.ok) if self.ok == 'right' else self.ok}")
            return True
        self.outcome = "wrong"
        if isinstance(exc, AssertionError):
            text = str(exc) or _("the check failed")
            print(f"{WRONG} " + _("not yet: {message}").format(message=text))
        else:
            print(f"{WRONG} " + _("not yet: your answer raised {error}").format(
                error=f"{type(exc).__name__}: {exc}"))
        return True
