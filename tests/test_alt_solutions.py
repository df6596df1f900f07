"""Second, independently written correct solutions get full marks.

tests/alt_solutions/<assignment>.py fills each ``# YOUR CODE HERE`` of the release
notebook the way a student would, in a style deliberately unlike source/ (another
topological sort, other algebraic forms of the derivatives). Graded by the course's
own grader, every autograded cell must get full marks: a test that fails them depends
on how the reference solution is written, not on what torch defines. ps5 is graded on
the student's own engine: its submission carries the second ps3 engine, exported from the
filled ps3 notebook as ps5 tells students to (`autograder engine`), as minigrad.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import course as C

ALT = ROOT / "tests" / "alt_solutions"
PLACEHOLDER = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*(\n|$)", re.M)


def fills(assignment: str) -> dict[str, list[str]]:
    spec = importlib.util.spec_from_file_location(f"alt_{assignment}", ALT / f"{assignment}.py")
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


def test_fill_cell_indents_each_answer_like_its_placeholder():
    src = ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\n"
           "def g(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    out = fill_cell(src, ["y = x + 1\nreturn y\n", "return 2 * x\n"], "test")
    ns: dict = {}
    exec(out, ns)
    assert (ns["f"](1), ns["g"](3)) == (2, 6)
    with pytest.raises(AssertionError, match="2 places to fill"):
        fill_cell(src, ["return x\n"], "test")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["ps1", "ps2", "ps3", "ps4", "ps5"])
def test_second_correct_solution_gets_full_marks(tmp_path, assignment):
    from autograder.grading import grade

    course = C.copy_course(tmp_path / "course", *sorted({assignment, "ps3"}), root=ROOT)
    C.nbgrader(course, "generate_assignment", assignment, "--force")
    release_dir = course / "release" / assignment
    files: dict = {p.name: p for p in release_dir.iterdir() if p.is_file() and p.suffix != ".ipynb"}
    autograded = set()   # the test cells; written answers are graded by hand, not here
    for nb_path in sorted(release_dir.glob("*.ipynb")):
        files[nb_path.name] = alt_notebook(nb_path, assignment)
        autograded |= {c.metadata.nbgrader["grade_id"] for c in files[nb_path.name].cells
                       if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    if assignment == "ps5":
        C.nbgrader(course, "generate_assignment", "ps3", "--force")
        files["minigrad.py"] = alt_engine(course / "release" / "ps3" / "ps3.ipynb", tmp_path / "ps3").encode()
    C.write_submission(course, assignment, "alt", files)

    run = grade(course, assignment, feedback=False, report=False, progress=False)
    assert [r.student for r in run.results if r.ok] == ["alt"], [r.reason for r in run.results]
    cells = C.gradebook_scores(course, assignment)["alt"]["cells"]
    assert autograded <= set(cells), f"test cells missing from the gradebook: {sorted(autograded - set(cells))}"
    short = {g: f"{sc}/{mx}" for g, (sc, mx) in cells.items() if g in autograded and (sc is None or sc < mx)}
    if short:
        graded = nbformat.read(next((course / "autograded" / "alt" / assignment).glob("*.ipynb")), as_version=4)
        why = []
        for cell in graded.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in short:
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                why.append(f"{gid}: " + ("; ".join(f"{e.ename}: {e.evalue}"[:600] for e in errors) or "no error"))
        pytest.fail(f"the second correct {assignment} solution lost points in {short}:\n" + "\n".join(why))
    assert autograded and all(cells[g][0] for g in autograded), "nothing was graded"
