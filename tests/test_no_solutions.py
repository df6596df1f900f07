"""No solution within reach of its problem: nothing of source/'s solutions in release/ or course/.

The rule. A *solution region* is the body of a ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
block of a source/ notebook, or a whole answer cell without markers (a written answer's
model answer). Lines are compared with whitespace normalised; blank lines and comment lines
do not count. A region *appears* in a file when three of its consecutive lines appear there
as consecutive lines, or, for a region shorter than three lines, when all of it does and it
has at least 24 characters (shorter ones, such as ``return x.clamp(lo, hi)``, are what the
task text says). Lines that a source notebook gives on purpose (instructions, given code,
tests: any non-solution text of source/) never count. Checked: every notebook, ``.py``,
``.md`` and ``.txt`` file under release/ and course/, translations included.
``ALLOWED`` lists the deliberate exceptions, each with its reason.

ps5's engine is each student's own (autograder/engine.py): the course's, generated from
ps3's solution into source/ps5/minigrad.py, must never be released.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.M | re.S)
WINDOW = 3       # consecutive lines of a region that make a leak
MIN_CHARS = 24   # a shorter region is checked whole, if it has at least this many characters
TEXT_SUFFIXES = (".py", ".md", ".txt")

#: (grade_id of the solution cell, path of the file under release/ or course/) -> why it is there
ALLOWED = {
    ("ps3-mul", "course/06_build_your_own_autograd.ipynb"):
        "lesson 6's bridge to ps3 works MulBackward0 on arrays through as its last example, "
        "a collapsed model answer: the step from lesson 6 into ps3, on purpose",
    ("ps3-mul", "course/zh-CN/06_build_your_own_autograd.ipynb"): "the same, translated",
}


def code_lines(text: str) -> list[str]:
    """``text``'s lines, whitespace normalised, without blank and comment lines."""
    out = []
    for line in text.splitlines():
        s = " ".join(line.split())
        if s and not s.startswith("#"):
            out.append(s)
    return out


def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def solution_regions(root: Path = ROOT) -> tuple[list[tuple[str, str, list[str]]], set[str]]:
    """``([(assignment, grade_id, lines)], given)``: every solution region of source/, and the
    lines the source notebooks give on purpose (everything outside the regions)."""
    regions, given = [], set()
    for path in sorted((root / "source").glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            text = _source(cell)
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if not meta.get("solution"):
                given.update(code_lines(text))
                continue
            bodies = SOLUTION.findall(text) if "### BEGIN SOLUTION" in text else [text]
            regions += [(path.parent.name, meta.get("grade_id", "?"), code_lines(b)) for b in bodies]
            given.update(code_lines(SOLUTION.sub("", text)))
    return regions, given


def windows(lines: list[str], given: set[str]) -> list[tuple[str, ...]]:
    """The runs of a region that must not appear anywhere else (see the module's rule)."""
    if len(lines) >= WINDOW:
        runs = [tuple(lines[i:i + WINDOW]) for i in range(len(lines) - WINDOW + 1)]
    else:
        runs = [tuple(lines)] if sum(map(len, lines)) >= MIN_CHARS else []
    return [r for r in runs if not all(line in given for line in r)]


def file_lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        return [ln for cell in json.loads(path.read_text())["cells"] for ln in code_lines(_source(cell))]
    return code_lines(path.read_text(errors="replace"))


def leaks(lines: list[str], regions, given) -> list[tuple[str, str, tuple[str, ...]]]:
    """``[(assignment, grade_id, the run found)]``: the regions whose runs appear in ``lines``."""
    found = []
    for assignment, gid, region in regions:
        for run in windows(region, given):
            n = len(run)
            if any(tuple(lines[i:i + n]) == run for i in range(len(lines) - n + 1)):
                found.append((assignment, gid, run))
                break
    return found


def targets(root: Path = ROOT) -> list[Path]:
    return sorted(p for d in ("release", "course") for p in (root / d).rglob("*")
                  if p.is_file() and (p.suffix == ".ipynb" or p.suffix in TEXT_SUFFIXES)
                  and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def solutions():
    return solution_regions()


def test_every_assignment_has_solution_regions_to_check(solutions):
    regions, _given = solutions
    have = {a for a, _gid, lines in regions if lines}
    assignments = {p.parent.name for p in (ROOT / "source").glob("*/*.ipynb")}
    assert assignments and have == assignments, sorted(assignments - have)
    checked = [r for r in regions if windows(r[2], solutions[1])]
    assert len(checked) > 0.8 * len(regions), "most regions must be long enough to check"


def test_the_rule_finds_a_solution_wherever_it_is_pasted(solutions):
    """The check can fail: the course's engine (ps3's solution) and a solution cell pasted into
    a released notebook are found; code that only shares the task's given lines is not."""
    regions, given = solutions
    engine = ROOT / "source" / "ps5" / "minigrad.py"
    found = {gid for a, gid, _run in leaks(file_lines(engine), regions, given) if a == "ps3"}
    assert {"ps3-variable", "ps3-backward", "ps3-mul", "ps3-matmul"} <= found, sorted(found)

    nb = json.loads((ROOT / "release" / "ps4" / "ps4.ipynb").read_text())
    assert not leaks([ln for c in nb["cells"] for ln in code_lines(_source(c))], regions, given)
    source = json.loads((ROOT / "source" / "ps4" / "ps4.ipynb").read_text())
    hvp = next(c for c in source["cells"] if c["id"] == "ps4-hvp")
    body = code_lines(SOLUTION.findall(_source(hvp))[0])
    pasted = [ln for c in nb["cells"] for ln in code_lines(_source(c))] + body[:WINDOW]
    assert {gid for _a, gid, _r in leaks(pasted, regions, given)} == {"ps4-hvp"}
    # given code alone (the class and method lines of an answer cell) is not a leak
    assert not leaks(code_lines("class LogSumExp(torch.autograd.Function):\n    @staticmethod\n"
                                "    def forward(ctx, x):\n"), regions, given)


def test_no_solution_in_release_or_course(solutions):
    regions, given = solutions
    bad = []
    for path in targets():
        rel = path.relative_to(ROOT).as_posix()
        for assignment, gid, run in leaks(file_lines(path), regions, given):
            if (gid, rel) not in ALLOWED:
                bad.append(f"{rel}: {assignment} {gid}: {' / '.join(run)[:160]}")
    assert not bad, "solutions within reach of their problems:\n" + "\n".join(bad)


def test_allowed_exceptions_are_still_needed(solutions):
    """An exception that no longer matches anything is removed from ALLOWED."""
    regions, given = solutions
    for (gid, rel), why in ALLOWED.items():
        path = ROOT / rel
        if not path.exists():
            continue  # a translation not made yet
        assert any(g == gid for _a, g, _r in leaks(file_lines(path), regions, given)), (
            f"ALLOWED[{gid!r}, {rel!r}] ({why}) no longer matches: remove it")


def test_the_course_engine_is_never_released():
    """source/ps5/minigrad.py stays in source/: nbgrader's own file walk (what generate_assignment
    copies into release/, and what autograde copies over a submission) leaves it out, while the
    exchange, which matches bare names, still carries a student's minigrad.py."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files, ignore_patterns
    from traitlets.config import PyFileConfigLoader

    assert not list((ROOT / "release").glob("*/minigrad.py")), "release/ holds an engine"
    assert (ROOT / "source" / "ps5" / "minigrad.py").is_file()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    cd = CourseDirectory(config=cfg)
    source = cd.format_path(cd.source_directory, ".", "ps5")  # as nbgrader spells it
    copied = [Path(f).name for f in find_all_files(source, cd.ignore + ["*.ipynb"])]
    assert "minigrad.py" not in copied
    assert cfg.Autograde.exclude_overwriting["ps5"] == ["minigrad.py"]
    # `nbgrader submit` / collect copy a student's folder with these patterns: minigrad.py goes
    ignored = ignore_patterns(exclude=cd.ignore)(str(ROOT / "release" / "ps5"), ["minigrad.py", "ps5.ipynb"])
    assert ignored == []
