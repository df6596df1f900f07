"""Second, independently written correct solutions, as students would hand them in.

``<assignment>.py`` fills each ``# YOUR CODE HERE`` of the release notebook the way a
student would, in a style deliberately unlike source/ (another topological sort, other
algebraic forms of the derivatives): ``FILLS[grade_id]`` lists, in order, the code that
replaces each placeholder of that answer cell. ps5 is graded on the student's own engine:
its submission carries the second ps3 engine, exported from the filled ps3 notebook as ps5
tells students to (``autograder engine``), as minigrad.py.

tests/conftest.py adds the submission (student ``alt``) to each assignment's graded batch;
tests/test_alt_solutions.py checks it gets full marks on every autograded cell.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
STUDENT = "alt"
PLACEHOLDER = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*(\n|$)", re.M)


def has_alt(assignment: str) -> bool:
    return (HERE / f"{assignment}.py").exists()


def fills(assignment: str) -> dict[str, list[str]]:
    spec = importlib.util.spec_from_file_location(f"alt_{assignment}", HERE / f"{assignment}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FILLS


def fill_cell(source: str, codes: list[str], where: str) -> str:
    """``source`` with its n-th placeholder replaced by ``codes[n]``, indented like the placeholder."""
    found = list(PLACEHOLDER.finditer(source))
    assert len(found) == len(codes), (
        f"{where}: the release cell has {len(found)} places to fill, the alternative solution {len(codes)}")
    out, pos = [], 0
    for m, code in zip(found, codes):
        indent = m.group(1)
        body = "".join(indent + ln if ln.strip() else ln for ln in code.rstrip("\n").splitlines(keepends=True))
        out += [source[pos:m.start()], body, m.group(2)]
        pos = m.end()
    return "".join(out) + source[pos:]


def alt_notebook(release_nb: Path, assignment: str) -> nbformat.NotebookNode:
    """The release notebook with every answer cell filled in by the alternative solution."""
    nb = nbformat.read(release_nb, as_version=4)
    todo = dict(fills(assignment))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            gid = meta["grade_id"]
            assert gid in todo, f"{assignment}: the alternative solution does not fill {gid}"
            cell.source = fill_cell(cell.source, todo.pop(gid), gid)
    assert not todo, f"{assignment}: no answer cells {sorted(todo)} in {release_nb.name}"
    return nb


def alt_engine(release_ps3: Path, tmp: Path) -> str:
    """The second ps3 engine as a student's minigrad.py: the filled ps3 notebook exported the
    way ps5 tells students to (`autograder engine ps3.ipynb -o minigrad.py`)."""
    from autograder.gen_minigrad import export

    tmp.mkdir(parents=True, exist_ok=True)
    nbformat.write(alt_notebook(release_ps3, "ps3"), tmp / "ps3.ipynb")
    assert export(tmp / "ps3.ipynb", tmp / "minigrad.py") == [], "the second ps3 engine is unfinished"
    return (tmp / "minigrad.py").read_text()


def alt_submission(release_dir: Path, assignment: str, release_ps3: Path, tmp: Path) -> dict:
    """The files of the alternative submission: every release notebook filled, the release's
    other files, and for ps5 the second ps3 engine (from ``release_ps3``) as minigrad.py."""
    files: dict = {p.name: p for p in release_dir.iterdir() if p.is_file() and p.suffix != ".ipynb"}
    for nb_path in sorted(release_dir.glob("*.ipynb")):
        files[nb_path.name] = alt_notebook(nb_path, assignment)
    if assignment == "ps5":
        files["minigrad.py"] = alt_engine(release_ps3, tmp / "alt-ps3").encode()
    return files


def autograded_ids(release_dir: Path) -> set[str]:
    """The grade_ids of the release's test cells (written answers are graded by hand)."""
    return {c.metadata.nbgrader["grade_id"] for p in sorted(release_dir.glob("*.ipynb"))
            for c in nbformat.read(p, as_version=4).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
