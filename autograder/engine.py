"""The learner's own ps3 engine as a module, ``minigrad.py``, for ps5.

ps5 trains a network with the engine each learner built in ps3. Two halves:

* **export** (:func:`engine_module`, the command ``autograder engine``): a ps3
  notebook's engine as a module, its answer cells and the given cells of the
  program (role ``program``: ``GradMode``, ``add``), in notebook order. Run on a
  learner's ``ps3.ipynb`` it writes *their* engine; run on ``source/ps3/ps3.ipynb``
  it writes the course's (``autograder gen-minigrad``, :mod:`autograder.gen_minigrad`).
* **import** (:func:`import_engine`, in ps5's set-up cell): the names ps5 needs from
  ``minigrad.py`` next to the notebook. Where that file is missing or broken, the names
  are stand-ins that raise :class:`EngineMissing` with what to do, so every test that
  needs the engine says so instead of ``NameError: name 'Variable' is not defined``.

Grading runs ps5 with the ``minigrad.py`` the student submitted (nbgrader_config.py
keeps the course's copy out of release/ and never lets it replace the student's).

    autograder engine ../ps3/ps3.ipynb -o minigrad.py
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

__all__ = ["EngineMissing", "engine_cells", "engine_module", "import_engine", "EXPORT_HEADER"]

#: lines of the notebook that the module states once, at its top, or leaves out
_DROPPED = ("import numpy as np", "np.set_printoptions(")
#: the first line of every exported module (``autograder engine`` overwrites only such files)
MARK = '"""minigrad: '
PLACEHOLDER = "raise NotImplementedError()"

EXPORT_HEADER = '''"""minigrad: a reverse-mode autograd engine on numpy, exported from {name} (ps3).

Your answer cells and the given cells of ps3's program, in notebook order. ps5
imports `Variable` and `no_grad` from it. Written by `autograder engine`: to change
the engine, change your ps3 notebook and export it again.
"""

import numpy as np
'''


def engine_cells(notebook: str | os.PathLike) -> list[tuple[str, str]]:
    """``[(cell id, code)]`` of a ps3 notebook: its answer cells and the given ``program``
    cells, in order, solution markers removed (the code as a student would type it)."""
    import nbformat

    from .course import strip_solution_markers

    nb = nbformat.read(Path(notebook), as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader") or {}
        program = (cell.metadata.get("autograder") or {}).get("role") == "program"
        if (meta.get("solution") and not meta.get("grade")) or program:
            out.append((cell.get("id") or meta.get("grade_id") or "?",
                        strip_solution_markers(cell.source)))
    return out


def engine_module(notebook: str | os.PathLike, header: str | None = None) -> str:
    """The module text: ``header`` (default :data:`EXPORT_HEADER`), then one section a cell."""
    cells = engine_cells(notebook)
    if not cells:
        raise ValueError(f"{notebook}: no answer cells and no given program cells: "
                         "is this ps3's notebook?")
    sections = []
    for cell_id, code in cells:
        lines = [ln for ln in code.splitlines() if not ln.startswith(_DROPPED)]
        body = "\n".join(lines).strip("\n")
        sections.append(f"# ---- ps3 cell {cell_id}\n{body}\n")
    if header is None:
        header = EXPORT_HEADER.format(name=Path(notebook).name)
    return header + "\n\n" + "\n\n".join(sections)


def unfinished(text: str) -> list[str]:
    """The cells of an exported module that still hold ps3's placeholder."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("# ---- ps3 cell "):
            current = line[len("# ---- ps3 cell "):]
        elif PLACEHOLDER in line and current and current not in out:
            out.append(current)
    return out


# ---------------------------------------------------------------------------- import

HOW = ("ps5 runs on your own ps3 engine: export it from your ps3 notebook into the folder of "
       "ps5.ipynb with `autograder engine path/to/ps3.ipynb -o minigrad.py`, and submit minigrad.py "
       "with ps5.ipynb")


class EngineMissing(ImportError):
    """The engine a notebook imports with :func:`import_engine` is missing or broken."""


class _Missing:
    """Stands in for a name of a missing engine: using it raises :class:`EngineMissing`."""

    def __init__(self, name: str, why: str):
        self._name, self._why = name, why

    def __call__(self, *args, **kwargs):
        raise EngineMissing(f"{self._why}: cannot use {self._name}. {HOW}.")

    def __repr__(self) -> str:
        return f"<{self._name}: {self._why}>"


def import_engine(module: str = "minigrad", names=("Variable", "no_grad")) -> tuple:
    """``names`` from the module ``module`` (``minigrad.py`` in the notebook's folder), freshly
    imported. If it is missing, cannot be imported or lacks a name, that is printed (on
    stderr) and the names it could not give are stand-ins that raise :class:`EngineMissing`
    with the reason and what to do."""
    sys.modules.pop(module, None)  # the file of this folder, as it is now
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    why, mod = None, None
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            why = f"{module}.py could not be imported: {type(e).__name__}: {e}"
        else:
            why = f"{module}.py is missing (this notebook's folder has none)"
    except Exception as e:  # noqa: BLE001  (the learner's own module: any error at all)
        why = f"{module}.py could not be imported: {type(e).__name__}: {e}"
    values, reasons = [], []
    for name in names:
        if mod is not None and hasattr(mod, name):
            values.append(getattr(mod, name))
            continue
        reason = why or f"{module}.py has no {name}"
        values.append(_Missing(name, reason))
        if reason not in reasons:
            reasons.append(reason)
    for reason in reasons:
        print(f"{reason}. {HOW}.", file=sys.stderr)
    return tuple(values)
