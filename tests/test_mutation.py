"""The mutation harness (bench/mutation.py) on a small instance: a few one-bug versions of ps1.

The full measurement (every assignment, about 50 mutants each) is
``.venv/bin/python bench/mutation.py all``; here the same code grades a handful of
mutants with the course's grader and must tell the killed from the surviving.
"""

from __future__ import annotations

import ast
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import mutation as M  # noqa: E402

from autograder import course as C  # noqa: E402


@pytest.mark.parametrize("assignment", M.ASSIGNMENTS)
def test_every_assignment_has_thirty_valid_mutants(assignment):
    mutants = M.all_mutants(assignment)  # also checks that each edit applies exactly once
    assert len(mutants) >= 30
    assert sum(m.kind == "hand" for m in mutants) >= 15
    assert sum(m.kind == "ast" for m in mutants) == M.DEFAULT_AST
    assert len({m.name for m in mutants}) == len(mutants)
    cells = M.answer_cells(assignment)
    for m in mutants:
        for gid, edits in m.edits.items():
            text = C.strip_solution_markers(cells[gid])
            new = text
            for old, rep in edits:
                new = new.replace(old, rep)
            assert new != text, m.name
            ast.parse(new)  # a mutant is a bug, not a syntax error
    registry = M.registry(assignment)
    stale = set(getattr(registry, "EQUIVALENT", {})) - {m.name for m in mutants}
    assert not stale, f"EQUIVALENT names mutants that do not exist: {sorted(stale)}"


def test_ast_mutants_change_only_solution_lines_and_are_reproducible():
    first = M.ast_mutants("ps3", n=40)
    assert [m.name for m in first] == [m.name for m in M.ast_mutants("ps3", n=40)]
    assert [m.name for m in first] != [m.name for m in M.ast_mutants("ps3", n=40, seed=M.DEFAULT_SEED + 1)]
    cells = M.answer_cells("ps3")
    for m in first:
        ((gid, [(old, _new)]),) = m.edits.items()
        text, sol = M.solution_lines(cells[gid])
        start = text.count("\n", 0, text.index(old)) + 1
        changed = [start + i for i, (a, b) in enumerate(zip(old.splitlines(), _new.splitlines())) if a != b]
        assert changed and all(ln in sol for ln in changed), (m.name, changed)


def test_candidates_cover_every_operator_family():
    text = ("def f(x, y):\n"
            "    z = x - y * 2\n"
            "    if x > 0 and y:\n"
            "        z += -x\n"
            "    return g(x, y)\n")
    ops = {c.op.split()[0] for c in M._candidates("c", text, set(range(1, 6)))}
    assert {"binop", "operands", "comparison", "boundary", "and", "unary", "augmented", "constant",
            "arguments", "condition", "assign", "return"} <= ops, ops


@pytest.mark.slow
def test_harness_kills_planted_bugs_and_spares_the_solution(tmp_path):
    wanted = ["hand-mean-square-no-mean", "hand-chain-follows-last-input", "hand-train-grad-not-copied",
              "hand-train-update-through-data"]
    everything = M.all_mutants("ps1")
    mutants = [m for m in everything if m.name in wanted] + [m for m in everything if m.kind == "ast"][:1]
    assert len(mutants) == 5
    ref, outcomes = M.grade_mutants("ps1", mutants, tmp_path, jobs=2, progress=False)
    assert all(sc == mx for sc, mx in ref["cells"].values() if sc is not None), ref["cells"]
    by = {o.name: o for o in outcomes}
    for name in ["hand-mean-square-no-mean", "hand-chain-follows-last-input", "hand-train-grad-not-copied",
                 mutants[-1].name]:
        assert by[name].killed and by[name].lost, by[name]
    assert by["hand-mean-square-no-mean"].lost == ["ps1-grad-mean-square-test"]
    # the equivalent one (w.data updated in place instead of under no_grad) keeps full marks
    eq = by["hand-train-update-through-data"]
    assert not eq.killed and eq.equivalent
    r = M.rates(outcomes)
    assert (r["killed"], r["counted"], r["equivalent"], r["survivors"]) == (4, 4, 1, [])
    text = M.report("ps1", ref, outcomes, mutants)
    assert "ps1: 4/4 killed (100.0%)" in text and "equivalent hand-train-update-through-data" in text
    assert "| ps1 | 5 | 3/3 | 1/1 | 1 | 100.0% |" in M.table({"ps1": r})
