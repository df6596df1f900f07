"""The docs stand alone: no pointers to documents outside the repository, links that resolve,
and docs/assignments.md's points agree with the notebooks."""

from __future__ import annotations

import re

import nbformat
import pytest
from conftest import ROOT, assignments

# pointers to texts a newcomer does not have: the original design's sections, tracker issues
ELSEWHERE = re.compile(r"\bdesign\s+(§|section\s+\d)|\b[Ii]ssue\s+#?\d+\b")
SCANNED = ["README.md", "nbgrader_config.py", "environment.yml", "pyproject.toml",
           "docs", "autograder", "tests", "bench", "bin", "deploy"]


def _files():
    for name in SCANNED:
        p = ROOT / name
        paths = [p] if p.is_file() else sorted(p.rglob("*"))
        for f in paths:
            if (f.is_file() and f != ROOT / "tests" / "test_docs.py"
                    and not {"out", "__pycache__", "artifacts"} & set(f.relative_to(ROOT).parts)
                    and f.suffix in {".md", ".py", ".yml", ".toml", ".sh", ""}):
                yield f


def test_no_pointers_to_documents_outside_the_repository():
    hits = []
    for f in _files():
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if ELSEWHERE.search(line):
                hits.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)


def test_links_between_the_docs_resolve():
    broken = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", md.read_text()):
            if "://" not in target and not (md.parent / target).exists():
                broken.append(f"{md.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def _points(assignment):
    auto = manual = 0.0
    for p in sorted((ROOT / "source" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(p, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                if meta.get("solution"):
                    manual += meta["points"]
                else:
                    auto += meta["points"]
    return auto, manual


@pytest.mark.parametrize("assignment", assignments())
def test_assignments_md_states_the_points_of_each_assignment(assignment):
    text = (ROOT / "docs" / "assignments.md").read_text()
    row = re.search(rf"^\| {assignment} .*\| (\d+) \| (\d+) \|$", text, re.M)
    assert row, f"docs/assignments.md: no row for {assignment} in the overview table"
    assert (float(row.group(1)), float(row.group(2))) == _points(assignment), (
        f"docs/assignments.md says {assignment} has {row.group(1)} automatic + {row.group(2)} "
        f"manual points; source/{assignment} has {_points(assignment)}")
    assert re.search(rf"^## {assignment} ", text, re.M), f"no section for {assignment}"
