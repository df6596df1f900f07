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

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import course as C
from autograder.lab import FIRST_LESSON, lab_command

pytestmark = [pytest.mark.browser]

ASSIGNMENT = "ps1"
NOTEBOOK = f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
STUDENT = "alice"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 90_000  # one step (a kernel start, a validation) on 2 busy cores

# The student's first try at A1: the mean's 1/N forgotten (the visible check must catch it).
WRONG_A1 = ("def grad_batch_mean_square(x):\n"
            "    '''Gradient of (x * x).sum(dim=1).mean() with respect to x, a 2-D array (N, D).'''\n"
            "    return 2 * x\n")
WRITTEN_ANSWER = ("`.data` hides in-place changes from autograd, so `backward()` can silently "
                  "return a wrong gradient; `.detach()` shares the version counter, so autograd "
                  "raises an error instead.")


SCROLL_TO_MESSAGE = """(body, text) => {
    const walk = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walk.nextNode()) && !node.data.includes(text)) {}
    if (!node) return;
    const range = document.createRange();
    range.selectNodeContents(node);
    body.scrollTop += range.getBoundingClientRect().top - body.getBoundingClientRect().top - 40;
}"""
_T0 = time.monotonic()


def _step(what: str) -> None:
    """Time line in tests/artifacts/browser-steps.log: where the seconds go on a slow machine."""
    with open(ARTIFACTS / "browser-steps.log", "a") as f:
        f.write(f"{time.monotonic() - _T0:7.1f} s  {what}\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """Real nbgrader in the course copy, beside the starting server: generate, submit, autograde."""

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
            C.nbgrader(self.course, "autograde", ASSIGNMENT, "--force")
            self.scores = C.gradebook_scores(self.course, ASSIGNMENT)
            _step("nbgrader autograde done")
        except BaseException as e:  # reported by the test that needs it
            self.error = e
        finally:
            self.released.set()

    def wait(self, released_only: bool = False) -> None:
        if released_only:
            assert self.released.wait(300), "nbgrader generate_assignment did not finish"
        else:
            self.join(600)
            assert not self.is_alive(), "nbgrader autograde did not finish"
        if self.error is not None:
            raise AssertionError(f"real nbgrader failed in the course copy: {self.error}")


class Lab:
    def __init__(self, course: Path, port: int, token: str, proc: subprocess.Popen, log: Path,
                 grading: Grading):
        self.course, self.port, self.token, self.proc, self.log = course, port, token, proc, log
        self.grading = grading

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


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

    # A hermetic Jupyter: no user config, kernels, settings or workspace of this machine leak in.
    home = tmp / "jupyter"
    settings = home / "lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the screenshots (it would fetch from the web)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               AUTOGRADER_COURSE=str(course))
    port, token = _free_port(), os.urandom(12).hex()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOGRADER_COURSE", str(course))
        cmd = lab_command(port, token=token, open_browser=False)
    assert f"--ServerApp.root_dir={course}" in cmd, cmd
    log = ARTIFACTS / "jupyterlab.log"
    with open(log, "w") as out:
        # cwd as bin/course has it: nbgrader's server extensions read ./nbgrader_config.py
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Lab(course, port, token, proc, log, grading)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{server.log_tail()}")
            time.sleep(0.25)
        _step("JupyterLab answers")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        grading.join(60)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium, started first: if it cannot start, the tests fail at once."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-steps.log").write_text("")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as e:  # never a silent skip
        pytest.fail(f"playwright is not installed ({e}): run bin/setup --dev")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (bin/setup --dev does)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as e:
            pytest.fail(f"headless chromium did not start: {e}")
        _step("chromium started")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser, lab):
    """A browser tab with the course open at JupyterLab's default URL (the landing page)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
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


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _type_into_cell(page, cell, text: str, kind: str = "code") -> None:
    """Replace a cell's text the way a student does: click into it, select all, type."""
    if kind == "markdown":
        cell.locator(".jp-RenderedMarkdown").dblclick()  # a rendered markdown cell opens its editor
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    # insert_text types the whole answer as one input (no auto-indent, no auto-closed brackets)
    page.keyboard.insert_text(text)
    # back to command mode; a markdown cell renders again
    page.keyboard.press("Control+Enter" if kind == "markdown" else "Escape")


def _validate(page, panel) -> str:
    """Press nbgrader's Validate, wait for its dialog, return the dialog's text (dialog left open)."""
    from playwright.sync_api import expect

    panel.locator(".validate-button").click()  # every open notebook's toolbar has one
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results")
    return dialog.locator(".jp-Dialog-body").inner_text()


def _close_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog")
    dialog.locator("button", has_text=re.compile("^ok$", re.I)).click()
    dialog.wait_for(state="detached")


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
