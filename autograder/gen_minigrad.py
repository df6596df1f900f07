"""``autograder gen-minigrad`` and ``autograder engine``: ps3's engine as a module, ``minigrad.py``.

ps5 runs on each learner's own ps3 engine (:mod:`autograder.engine`):

    autograder engine ../ps3/ps3.ipynb -o minigrad.py    # a learner: my ps3 engine, for ps5

The course's engine exists once, in ``source/ps3/ps3.ipynb``: its answer cells
(the instructor's solution) and the given cells the student's program needs
(role ``program``: ``GradMode``, ``add``). ``gen-minigrad`` writes them, in notebook
order, as ``source/ps5/minigrad.py``, which runs ps5's own solution in ``source/``
and stands for the student's engine in the tests' solution submissions. It is never
released: nbgrader_config.py keeps it out of ``release/`` (and never lets it replace
the ``minigrad.py`` a student submits); tests/test_no_solutions.py fails if it, or any
other solution, appears in ``release/`` or ``course/``. The bug fixtures of
tests/bugs_ps3.py take their longer anchors from the same cells (:func:`excerpt`), so a
changed solution never leaves a stale copy behind.

    autograder gen-minigrad            # after changing ps3's solution
    autograder gen-minigrad --check    # exit 1 if the file differs from ps3
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import register
from .engine import MARK, engine_module, unfinished

NOTEBOOK = Path("source/ps3/ps3.ipynb")
TARGETS = (Path("source/ps5/minigrad.py"),)

HEADER = '''"""minigrad: a small reverse-mode autograd engine on numpy (the reference solution of ps3).

The course's engine, for instructors only: it runs ps5's solution in source/ps5/ and
stands for a student's engine in the tests. It is never released (nbgrader_config.py).
Students run ps5 on their own ps3 engine, exported with `autograder engine`.

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
    from .engine import engine_cells as cells_of

    return cells_of(Path(root) / NOTEBOOK)


def module_text(root: Path) -> str:
    """The course's minigrad.py as it must read now: the header, then one section a cell."""
    return engine_module(Path(root) / NOTEBOOK, header=HEADER)


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


register("gen-minigrad", "instructors: write source/ps5/minigrad.py (the course's engine, never "
         "released) from ps3's solution cells", _add_args, _run)


# ---------------------------------------------------------------------------- autograder engine

def export(notebook: str | Path, out: str | Path, force: bool = False) -> list[str]:
    """Write the engine of the ps3 notebook ``notebook`` to ``out``; returns the cells that
    still hold ps3's placeholder. A file at ``out`` that this command did not write is
    replaced only with ``force``."""
    out = Path(out)
    if out.is_dir():
        out = out / "minigrad.py"
    if out.exists() and not force:
        head = out.read_text(errors="replace")[:len(MARK)]
        if head != MARK:
            raise FileExistsError(f"{out} exists and was not written by `autograder engine`: "
                                  "pass --force to replace it")
    text = engine_module(notebook)
    compile(text, str(out), "exec")  # a SyntaxError names the line of the module, before writing
    out.write_text(text)
    return unfinished(text)


def _engine_args(p) -> None:
    p.add_argument("notebook", help="your ps3 notebook, e.g. ../ps3/ps3.ipynb")
    p.add_argument("-o", "--output", default="minigrad.py",
                   help="the module to write (default: minigrad.py in the current folder)")
    p.add_argument("--force", action="store_true",
                   help="replace the output even if it was not written by this command")


def _engine_run(args) -> int:
    try:
        todo = export(args.notebook, args.output, force=args.force)
    except (OSError, ValueError, SyntaxError) as e:
        print(f"autograder engine: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(f"{args.output}: the engine of {args.notebook} (its answer cells and ps3's given "
          f"program cells)")
    if todo:
        print(f"note: {', '.join(todo)} still raise NotImplementedError: finish ps3 first",
              file=sys.stderr)
    return 0


register("engine", "learners: write your ps3 engine (answer cells + given program cells of your "
         "ps3 notebook) as minigrad.py, the module ps5 runs on", _engine_args, _engine_run)
