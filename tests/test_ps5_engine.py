"""ps5 ships ps3's solution as source/ps5/minigrad.py: it must stay equal to ps3's cells."""

from __future__ import annotations

import re

import nbformat
from conftest import ROOT

from autograder.course import strip_solution_markers

MARK = re.compile(r"^# ---- ps3 cell (\S+)\s*$", re.M)


def _code_lines(text: str) -> list[str]:
    """Lines that carry code. By design the module differs from the notebook only in blank
    lines, its one numpy import and the notebook's print options."""
    skip = ("import numpy as np", "np.set_printoptions(")
    return [ln.rstrip() for ln in text.splitlines()
            if ln.strip() and not ln.strip().startswith(skip)]


def test_minigrad_equals_ps3_solution_cells():
    module = (ROOT / "source/ps5/minigrad.py").read_text()
    cells = {c.id: c for c in nbformat.read(ROOT / "source/ps3/ps3.ipynb", as_version=4).cells}
    parts = MARK.split(module)[1:]
    sections = dict(zip(parts[::2], parts[1::2]))
    assert len(sections) >= 8, "minigrad.py lost its '# ---- ps3 cell <id>' markers"
    for cell_id, code in sections.items():
        assert cell_id in cells, f"minigrad.py names a ps3 cell {cell_id!r} that no longer exists"
        want = _code_lines(strip_solution_markers(cells[cell_id].source))
        assert _code_lines(code) == want, (
            f"minigrad.py section {cell_id} differs from ps3's solution: regenerate minigrad.py")
    engine_cells = [c.id for c in cells.values() if c.cell_type == "code"
                    and c.metadata.get("nbgrader", {}).get("solution")]
    missing = [i for i in engine_cells if i not in sections]
    assert not missing, f"ps3 answer cells missing from minigrad.py: {missing}"
