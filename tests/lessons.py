"""Running the lessons for their tests: each lesson once per test session, with its Try-it cells
answered three ways.

A Try-it cell (a code cell with ``with try_it(``) is the answer part, then the line
``# the check (leave it as it is):`` and the check. Its model answer is the Python block of the
Markdown cell ``<id>-answer`` right below it. :func:`executed` runs the lesson with two copies
inserted after every Try-it cell, the check part kept and the answer part replaced: ``<id>--wrong``
(a wrong answer from the lesson's test) and then ``<id>--model`` (the model answer), so the cells
after it see the state a learner who answered would.
"""

from __future__ import annotations

import copy
import re
import time
from functools import lru_cache
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "course"
CHECK_LINE = "# the check (leave it as it is):"
ANSWER_RE = re.compile(r"```python\n(.*?)\n```", re.S)


def lesson_path(stem: str) -> Path:
    (path,) = COURSE.glob(f"{stem}*.ipynb")
    return path


def try_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "with try_it(" in c.source]


def model_answer(nb, cell_id: str) -> str:
    cells = [c for c in nb.cells if c.get("id") == f"{cell_id}-answer"]
    assert len(cells) == 1, f"Try-it cell {cell_id} has no model answer cell {cell_id}-answer"
    m = ANSWER_RE.search(cells[0].source)
    assert m and "<details>" in cells[0].source, f"{cell_id}-answer: no collapsed python block"
    return m.group(1)


def check_part(source: str, cell_id: str) -> str:
    assert CHECK_LINE in source, f"Try-it cell {cell_id} has no line {CHECK_LINE!r}"
    return source[source.index(CHECK_LINE):]


def side_branch(code: str, name: str) -> str:
    """A cell that runs ``code`` in the lesson's namespace, then puts back every name as it
    was: what an answer binds (``my_prediction``, a model answer's class, which the lesson's
    own functions look up while the check runs) never reaches the lesson's later cells, which
    run as for a learner who left the Try-it blank (test_lessons.py's top-to-bottom test relies
    on it; an answer that changes a lesson object in place still changes it)."""
    return ("def __side_branch(code, name, ns):\n"
            "    before = dict(ns)\n"
            "    try:\n"
            "        exec(compile(code, name, 'exec'), ns)\n"
            "    finally:\n"
            "        for k in set(ns) - set(before):\n"
            "            del ns[k]\n"
            "        ns.update(before)\n"
            f"__side_branch({code!r}, {('<' + name + '>')!r}, globals())\n"
            "del __side_branch\n")


def answered_notebook(stem: str, wrong: dict[str, tuple[str, list[str]]]):
    nb = nbformat.read(lesson_path(stem), as_version=4)
    out = []
    for cell in nb.cells:
        out.append(cell)
        if cell.cell_type == "code" and "with try_it(" in cell.source:
            check = check_part(cell.source, cell.id)
            assert cell.id in wrong, f"the lesson test has no wrong answer for {cell.id}"
            for suffix, answer in (("wrong", wrong[cell.id][0]), ("model", model_answer(nb, cell.id))):
                extra = copy.deepcopy(cell)
                extra.id = f"{cell.id}--{suffix}"
                extra.source = side_branch(answer.strip() + "\n\n" + check, extra.id)
                out.append(extra)
    nb.cells = out
    return nb


@lru_cache(maxsize=None)
def _executed(stem: str, wrong_items: tuple):
    from nbclient import NotebookClient

    nb = answered_notebook(stem, dict(wrong_items))
    path = lesson_path(stem)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    print(f"{path.name} (answered three ways) executed in {time.perf_counter() - start:.1f} s")
    return nb


def executed(stem: str, wrong: dict[str, tuple[str, list[str]]]):
    return _executed(stem, tuple(sorted((k, (v[0], tuple(v[1]))) for k, v in wrong.items())))


def stdout_of(nb, cell_id: str) -> str:
    cells = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(cells) == 1, f"no single cell {cell_id!r}"
    return "".join(o.get("text", "") for o in cells[0].outputs
                   if o.output_type == "stream" and o.name == "stdout")


def source_of(nb, cell_id: str) -> str:
    cells = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(cells) == 1, f"no single cell {cell_id!r}"
    return cells[0].source
