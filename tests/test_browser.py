"""JupyterLab and nbgrader's lab extension in a real browser, as a student and an instructor use them.

Headless Debian chromium, driven by Playwright, against a JupyterLab started through
:func:`autograder.lab.lab_command` (the code path of ``bin/course``) in a private copy
of the course:

- the main command lands on lesson 0;
- a student opens the released ``ps1``, runs all cells, types a wrong answer, presses
  nbgrader's *Validate* and reads the failure (the check's name and its likely cause),
  then types the answers and reads *Success*;
- an instructor opens the formgrader (Nbgrader > Formgrader, an iframe in JupyterLab 4),
  sees ``ps1`` and the score of a submission that real ``nbgrader autograde`` graded.

Screenshots go to ``tests/artifacts/`` (the README's pictures in ``docs/img/`` are copies).
If chromium cannot start, the tests fail: they never skip.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import browsing
import nbformat
import pytest
from browsing import SCROLL_TO_TEXT as SCROLL_TO_MESSAGE
from browsing import close_dialog as _close_dialog
from browsing import menu as _menu
from browsing import type_into_cell as _type_into_cell
from browsing import validate as _validate
from conftest import ROOT

from autograder import course as C
from autograder.lab import FIRST_LESSON

pytestmark = [pytest.mark.browser]

ASSIGNMENT = "ps1"
NOTEBOOK = f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
STUDENT = "alice"
ARTIFACTS = ROOT / "tests" / "artifacts"

# The student's first try at A1: the mean's 1/N forgotten (the visible check must catch it).
WRONG_A1 = ("def grad_batch_mean_square(x):\n"
            "    '''Gradient of (x * x).sum(dim=1).mean() with respect to x, a 2-D array (N, D).'''\n"
            "    return 2 * x\n")
WRITTEN_ANSWER = ("`.data` hides in-place changes from autograd, so `backward()` can silently "
                  "return a wrong gradient; `.detach()` shares the version counter, so autograd "
                  "raises an error instead.")


_T0 = time.monotonic()


def _step(what: str) -> None:
    """Time line in tests/artifacts/browser-steps.log: where the seconds go on a slow machine."""
    with open(ARTIFACTS / "browser-steps.log", "a") as f:
        f.write(f"{time.monotonic() - _T0:7.1f} s  {what}\n")


def _js_number(x: float) -> str:
    """A score as the formgrader prints it (JavaScript's number formatting, 2 decimals)."""
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else repr(x)


def _answer_cells(course: Path) -> list[tuple[int, str, str, str]]:
    """``(index in the release, grade_id, cell type, what the student types)`` per answer cell.

    Code answers: the instructor's solution without its markers. Written answers: the
    student's own sentences (the source's model answer carries the marking scheme).
    """
    release = nbformat.read(course / NOTEBOOK, as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: C.strip_solution_markers(c.source)
                 for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    out = []
    for i, cell in enumerate(release.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            text = solutions[meta["grade_id"]] if cell.cell_type == "code" else WRITTEN_ANSWER
            out.append((i, meta["grade_id"], cell.cell_type, text))
    assert any(kind == "code" for _, _, kind, _ in out), f"{NOTEBOOK} has no code answer cells"
    return out


class Grading(threading.Thread):
    """Real nbgrader in the course copy, beside the starting server: generate, submit, grade."""

    def __init__(self, course: Path):
        super().__init__(daemon=True)
        self.course = course
        self.released = threading.Event()
        self.error: BaseException | None = None
        self.scores: dict = {}

    def run(self):
        try:
            C.nbgrader(self.course, "generate_assignment", ASSIGNMENT, "--force")
            _step("nbgrader generate_assignment done")
            self.released.set()
            release = self.course / NOTEBOOK
            source = self.course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            C.write_submission(self.course, ASSIGNMENT, STUDENT,
                               {release.name: C.solution_submission(release, source)})
            from nbgrader.api import Gradebook

            with Gradebook(C.db_url(self.course)) as gb:
                gb.update_or_create_student(STUDENT, first_name="Alice", last_name="Example")
            # the project's grader (nbgrader's Autograde converter, tests in the judge);
            # tests/test_bench.py keeps the comparison with stock `nbgrader autograde`
            from autograder.grading import grade

            run = grade(self.course, ASSIGNMENT, feedback=False, report=False, progress=False)
            assert not run.failures, [r.reason for r in run.failures]
            self.scores = C.gradebook_scores(self.course, ASSIGNMENT)
            _step("autograder grade done")
        except BaseException as e:  # reported by the test that needs it
            self.error = e
        finally:
            self.released.set()

    def wait(self, released_only: bool = False) -> None:
        if released_only:
            assert self.released.wait(300), "nbgrader generate_assignment did not finish"
        else:
            self.join(600)
            assert not self.is_alive(), "grading did not finish"
        if self.error is not None:
            raise AssertionError(f"real nbgrader failed in the course copy: {self.error}")


class Lab:
    def __init__(self, server: browsing.LabServer, grading: Grading):
        self.server, self.grading = server, grading
        self.course, self.token, self.log = server.course, server.token, server.log

    def url(self, path: str = "lab") -> str:
        return self.server.url(path)

    def log_tail(self) -> str:
        return self.server.log_tail()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab through ``lab_command`` (as ``bin/course`` runs it) on a private course copy."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _step("copy the course")
    tmp = tmp_path_factory.mktemp("browser")
    course = C.copy_course(tmp / "course", ASSIGNMENT, root=ROOT, with_release=True)
    shutil.copytree(ROOT / "course", course / "course",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    grading = Grading(course)
    grading.start()
    try:
        with browsing.jupyterlab(course, tmp / "jupyter", ARTIFACTS / "jupyterlab.log") as server:
            _step("JupyterLab answers")
            yield Lab(server, grading)
    finally:
        grading.join(60)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium, started first: if it cannot start, the tests fail at once."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-steps.log").write_text("")
    with browsing.chromium() as chromium:
        _step("chromium started")
        yield chromium


@pytest.fixture(scope="module")
def page(browser, lab):
    """A browser tab with the course open at JupyterLab's default URL (the landing page)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(browsing.TIMEOUT_MS)
    pg = ctx.new_page()
    pg.goto(lab.url(""))  # "/": the server redirects to its default URL, lesson 0
    try:
        yield pg
    finally:
        ctx.close()


def _shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def test_main_command_opens_lesson_0(page, lab):
    from playwright.sync_api import expect

    lesson = nbformat.read(lab.course / FIRST_LESSON, as_version=4)
    title = next(c.source for c in lesson.cells if c.cell_type == "markdown").splitlines()[0]
    title = title.lstrip("#").strip()
    panel = page.locator(".jp-NotebookPanel").first
    # the tab and the first heading of lesson 0, rendered
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        Path(FIRST_LESSON).name)
    expect(panel.locator(".jp-RenderedMarkdown h1").first).to_contain_text(title)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")
    _shot(page, "lesson")
    _step("lesson 0 shown")


def test_student_runs_types_and_validates(page, lab):
    from playwright.sync_api import expect

    lab.grading.wait(released_only=True)  # the copy's release/ps1 is written by generate_assignment
    answers = _answer_cells(lab.course)

    _menu(page, "File", "Open from Path…")
    page.locator(".jp-Dialog input").fill(NOTEBOOK)
    page.locator(".jp-Dialog button", has_text=re.compile("^open$", re.I)).click()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_contain_text(Path(NOTEBOOK).name)
    panel = page.locator(".jp-NotebookPanel:visible")
    cells = panel.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(nbformat.read(lab.course / NOTEBOOK, as_version=4).cells))
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")

    # Run > Run All Cells: the first unanswered cell's test fails with NotImplementedError
    _step(f"{NOTEBOOK} open")
    _menu(page, "Run", "Run All Cells")
    first_idx, first_id, _, _ = answers[0]
    first_test = cells.nth(first_idx + 1)
    expect(first_test.locator(".jp-OutputArea-output")).to_contain_text("NotImplementedError")

    _step("ran all cells")
    # a wrong answer: Validate shows the failing check's name, torch's numbers and the likely cause
    assert first_id == "ps1-grad-mean-square", first_id
    _type_into_cell(page, cells.nth(first_idx), WRONG_A1)
    text = _validate(page, panel)
    # for the screenshot: the dialog scrolled to the check's message (below the traceback)
    page.locator(".jp-Dialog-body").evaluate(SCROLL_TO_MESSAGE, "shape (3, 2): does not match torch.autograd")
    _shot(page, "validate-failed")
    _step("validated a wrong answer")
    assert "The following cell failed" in text, text
    assert "d (x*x).sum(dim=1).mean()/dx for x of shape (3, 2): does not match torch.autograd" in text, text
    assert "likely cause" in text, text
    assert "NotImplementedError" in text, text  # the cells not answered yet
    _close_dialog(page)

    # every answer typed in: the code answers and the written one
    for idx, _gid, kind, text in answers:
        _type_into_cell(page, cells.nth(idx), text, kind)
    text = _validate(page, panel)
    _shot(page, "validate-passed")
    _step("validated the answers")
    assert "Success! Your notebook passes all the tests." in text, text
    assert "failed" not in text, text
    _close_dialog(page)

    # Validate saved the notebook: what the browser typed is on disk, character for character
    saved = nbformat.read(lab.course / NOTEBOOK, as_version=4)
    for idx, gid, _kind, text in answers:
        assert saved.cells[idx].source.strip() == text.strip(), (gid, saved.cells[idx].source)


def test_instructor_sees_assignment_and_graded_score(page, lab):
    from playwright.sync_api import expect

    lab.grading.wait()
    score = lab.grading.scores[STUDENT]
    # the reference solution earns every autograded point (the written answer waits for a human)
    release = nbformat.read(lab.course / NOTEBOOK, as_version=4)
    code_points = sum(c.metadata["nbgrader"].get("points", 0) for c in release.cells
                      if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    assert code_points > 0 and score["auto_score"] == code_points, (code_points, score)
    expected = f"{_js_number(score['score'])} / {_js_number(score['max_score'])}"

    # the formgrader is served same-origin; JupyterLab shows it in an iframe, which the
    # server's Content-Security-Policy (frame-ancestors 'self') allows
    resp = page.request.get(lab.url("formgrader"))
    assert resp.ok, (resp.status, resp.text()[:2000])
    # its "Current configuration" panel prints the server's config: never the login token
    assert lab.token not in resp.text(), "the formgrader page shows the login token"
    _step(f"/formgrader Content-Security-Policy: {resp.headers.get('content-security-policy')}")

    page.keyboard.press("Escape")
    _menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    row = frame.locator("tr", has=frame.locator("a", has_text=re.compile(f"^{ASSIGNMENT}$")))
    expect(row).to_have_count(1)
    expect(row.locator(".num-submissions")).to_have_text("1")
    _shot(page, "formgrader-assignments")

    row.locator(".num-submissions a").click()
    sub = frame.locator("tr", has_text=STUDENT)
    expect(sub.locator(".score")).to_have_text(expected)
    expect(sub).to_contain_text("Example, Alice")
    _shot(page, "formgrader-submissions")
    _step("formgrader shows the score")
