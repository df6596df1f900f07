"""Every committed notebook is clean (tests/test_lessons.py runs every lesson top to bottom)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

NOTEBOOKS = sorted(p for d in ("course", "source", "release") for p in (ROOT / d).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
LESSONS = sorted((ROOT / "course").glob("*.ipynb"))


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_there_are_lessons_and_notebooks():
    assert LESSONS, "course/ has no lessons"
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), "needs nbformat 4.5 (cell ids)"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    # what ipykernel's installed kernelspec says: JupyterLab rewrites (and marks modified)
    # a notebook whose display name differs, the moment a student opens it
    assert nb.metadata.kernelspec.get("display_name") == "Python 3 (ipykernel)"
    ids = [c.get("id") for c in nb.cells]
    assert all(ids), "every cell needs an id"
    assert len(set(ids)) == len(ids), "cell ids must be unique"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs: strip them"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"
