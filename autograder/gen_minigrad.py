"""``autograder gen-minigrad``: ps5's ``minigrad.py``, generated from ps3's solution cells.

The ps3 engine exists once, in ``source/ps3/ps3.ipynb``: its answer cells (the
instructor's solution) and the given cells the student's program needs (role
``program``: ``GradMode``, ``add``). This module writes them, in notebook order,
as ``source/ps5/minigrad.py`` and its copy ``release/ps5/minigrad.py``;
tests/test_ps5_engine.py checks both are what it would write now. The bug
fixtures of tests/bugs_ps3.py take their longer anchors from the same cells
(:func:`excerpt`), so a changed solution never leaves a stale copy behind.

    autograder gen-minigrad            # after changing ps3's solution
    autograder gen-minigrad --check    # exit 1 if the files differ from ps3
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import register

NOTEBOOK = Path("source/ps3/ps3.ipynb")
TARGETS = (Path("source/ps5/minigrad.py"), Path("release/ps5/minigrad.py"))
# lines of the notebook that the module states once, at its top, or leaves out
_DROPPED = ("import numpy as np", "np.set_printoptions(")

HEADER = '''"""minigrad: a small reverse-mode autograd engine on numpy (the reference solution of ps3).

ps5 trains a network with it. It is ps3's instructor solution, cell by cell,
which is why ps5 is released only after ps3 is due (docs/assignments.md).
You may replace it with your own ps3 engine: save your engine's cells as
minigrad.py in this folder, keeping the names `Variable` and `no_grad`.

Contract (docs/design.md, "The engine contract"): Variable(data, requires_grad=False)
with .data (float64 numpy), .grad, .grad_fn, .requires_grad, .is_leaf, .shape,
.backward(gradient=None); + - * / ** @ and unary -, with numpy broadcasting;
.sum/.mean(dim=None, keepdim=False), .exp .log .tanh .sigmoid .relu
.reshape .T; no_grad().

Generated from source/ps3/ps3.ipynb by `autograder gen-minigrad`: do not edit.
"""

import numpy as np
'''


def engine_cells(root: Path) -> list[tuple[str, str]]:
    """``[(cell id, code)]``: ps3's answer cells and the given ``program`` cells, in order,
    solution markers removed (the code as a student would type it)."""
    import nbformat

    from .course import strip_solution_markers

    nb = nbformat.read(root / NOTEBOOK, as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        solution = cell.metadata.get("nbgrader", {}).get("solution", False)
        program = cell.metadata.get("autograder", {}).get("role") == "program"
        if solution or program:
            out.append((cell.id, strip_solution_markers(cell.source)))
    return out


def module_text(root: Path) -> str:
    """minigrad.py as it must read now: the header, then one section a cell."""
    sections = []
    for cell_id, code in engine_cells(root):
        lines = [ln for ln in code.splitlines() if not ln.startswith(_DROPPED)]
        body = "\n".join(lines).strip("\n")
        sections.append(f"# ---- ps3 cell {cell_id}\n{body}\n")
    return HEADER + "\n\n" + "\n\n".join(sections)


def excerpt(grade_id: str, first: str, last: str, root: Path | None = None) -> str:
    """The lines of ps3's solution cell ``grade_id`` from the one holding ``first`` to the
    one holding ``last``, each whole, with their newlines: a bug fixture's anchor."""
    from .course import repo_root

    code = dict(engine_cells(root or repo_root()))[grade_id]
    lines = code.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if first in ln]
    ends = [i for i, ln in enumerate(lines) if last in ln]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"ps3 cell {grade_id}: {first!r} ... {last!r} must each occur on "
                         f"exactly one line, in that order (found {len(starts)}, {len(ends)})")
    return "".join(lines[starts[0]:ends[0] + 1])


def stale(root: Path) -> list[Path]:
    """The generated files that differ from what ps3's cells make now."""
    want = module_text(root)
    return [t for t in TARGETS
            if not (root / t).is_file() or (root / t).read_text() != want]


def write(root: Path) -> list[Path]:
    """Write the stale files; returns them."""
    want = module_text(root)
    changed = stale(root)
    for t in changed:
        (root / t).parent.mkdir(parents=True, exist_ok=True)
        (root / t).write_text(want)
    return changed


def _add_args(p) -> None:
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a generated file differs from ps3's cells")


def _run(args) -> int:
    from .course import repo_root

    root = repo_root()
    if args.check:
        bad = stale(root)
        for t in bad:
            print(f"{t} differs from {NOTEBOOK}'s cells: run `autograder gen-minigrad`",
                  file=sys.stderr)
        return 1 if bad else 0
    for t in write(root):
        print(f"{t} regenerated from {NOTEBOOK}")
    return 0


register("gen-minigrad", "write ps5's minigrad.py (source/ and release/) from ps3's solution "
         "cells", _add_args, _run)
