"""Every bug fixture of tests/bugs_<ps>.py, in-process (tests/inprocess.py): the instructor's
answers pass every test cell of the source notebook, and each fixture's edit fails a test cell
whose message holds its ``expect`` texts. test_assignments.py grades a sample of them end to
end (conftest.e2e_bugs). ps3's fixtures are checked by tests/test_ps3.py, on its engine."""

from __future__ import annotations

import pytest
from conftest import load_bugs
from inprocess import assert_bug_named, assert_solution_passes

#: assignment: (test cells the solution must pass at least, non-test cells not to run)
IN_PROCESS = {
    "ps1": (10, ()),
    "ps2": (10, ()),
    "ps4": (12, ()),
    "ps5": (11, ("ps5-run", "ps5-show")),  # the notebook's own training and figure: not tests
}
CASES = [(a, bug) for a in IN_PROCESS for bug in load_bugs(a)]


@pytest.mark.parametrize("assignment", list(IN_PROCESS))
def test_the_solution_passes_every_test_cell(assignment):
    assert_solution_passes(assignment, at_least=IN_PROCESS[assignment][0])


@pytest.mark.parametrize("assignment, bug", CASES, ids=[f"{a}-{b.name}" for a, b in CASES])
def test_each_bug_fails_a_test_cell_that_names_it(assignment, bug):
    assert_bug_named(assignment, bug, skip=IN_PROCESS[assignment][1])


def test_every_assignment_with_fixtures_is_checked():
    from conftest import assignments

    have = {a for a in assignments() if load_bugs(a)}
    assert have - {"ps3"} == set(IN_PROCESS), "add the assignment to IN_PROCESS (or test_ps3.py)"
    assert all(load_bugs(a) for a in IN_PROCESS)
