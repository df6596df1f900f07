"""The Chinese course in a Chinese JupyterLab, in a real browser (``bin/course --lang zh-CN``).

- the main command lands on the zh lesson 0, with JupyterLab's own menus in Chinese
  (the official language pack);
- a student opens the zh release of ps1, types a wrong answer (one of ps1's bug fixtures) and
  presses Validate: the check's message and its likely cause are in Chinese;
- the zh feedback of a graded zh submission is in Chinese and shows no hidden test.

Screenshots go to ``tests/artifacts/zh-*.png`` (docs/img/ and README.zh-CN.md show copies).
"""

from __future__ import annotations

import html as H
import re
import shutil
import threading

import nbformat
import pytest
from browsing import SCROLL_TO_TEXT, chromium, jupyterlab, type_into_cell, validate
from conftest import ROOT, hidden_lines, load_bugs

from autograder import course as C
from autograder.lab import first_lesson

pytestmark = [pytest.mark.browser]

LANG = "zh-CN"
EN, ZH = "ps1", f"ps1-{LANG}"
NOTEBOOK = f"release/{ZH}/ps1.ipynb"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHINESE = re.compile(r"[\u4e00-\u9fff]{2}")


def _wrong_answer(course):
    """The first answer cell of ps1 with one of ps1's bug fixtures applied, and its grade_id."""
    source = nbformat.read(course / "source" / ZH / "ps1.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: C.strip_solution_markers(c.source)
                 for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")
                 and c.cell_type == "code"}
    for bug in load_bugs(EN):
        for gid, edits in bug.edits.items():
            if gid in solutions:
                text = solutions[gid]
                for old, new in edits:
                    if old not in text:
                        break
                    text = text.replace(old, new, 1)
                else:
                    return bug, gid, text
    raise AssertionError("no ps1 bug fixture edits a code answer cell")


class Grading(threading.Thread):
    """`autograder grade ps1-zh-CN` of one buggy zh submission, beside the starting server."""

    def __init__(self, course, bug):
        super().__init__(daemon=True)
        self.course, self.bug, self.error = course, bug, None

    def run(self):
        try:
            C.write_solution_submissions(self.course, ZH, {"wang": self.bug.edits})
            from autograder.grading import grade

            run = grade(self.course, ZH, report=False, progress=False)
            assert not run.failures, [r.reason for r in run.failures]
        except BaseException as e:  # reported by the test that needs it
            self.error = e


@pytest.fixture(scope="module")
def zh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-zh")
    course = C.copy_course(tmp / "course", ZH, root=ROOT, with_release=True)
    shutil.copytree(ROOT / "course", course / "course",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    bug, gid, wrong = _wrong_answer(course)
    grading = Grading(course, bug)
    grading.start()
    with jupyterlab(course, tmp / "jupyter", ARTIFACTS / "jupyterlab-zh.log", lang=LANG) as server:
        with chromium() as browser:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            ctx.set_default_timeout(90_000)
            page = ctx.new_page()
            page.goto(server.url(""))
            yield {"server": server, "page": page, "course": course, "grading": grading,
                   "gid": gid, "wrong": wrong}
            ctx.close()
    grading.join(600)


def _shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_zh_lesson_in_a_chinese_jupyterlab(zh):
    from playwright.sync_api import expect

    page, course = zh["page"], zh["course"]
    lesson = nbformat.read(course / first_lesson(LANG), as_version=4)
    title = next(c.source for c in lesson.cells if c.cell_type == "markdown").splitlines()[0]
    title = title.lstrip("#").strip()
    assert CHINESE.search(title), title
    panel = page.locator(".jp-NotebookPanel").first
    expect(panel.locator(".jp-RenderedMarkdown h1").first).to_contain_text(title)
    # JupyterLab itself speaks Chinese: the language pack's "File" menu
    expect(page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^文件$"))).to_have_count(1)
    _shot(page, "zh-lesson")


def test_zh_validate_explains_a_wrong_answer_in_chinese(zh):
    from playwright.sync_api import expect

    page, server = zh["page"], zh["server"]
    page.goto(server.url(f"lab/tree/{NOTEBOOK}"))
    panel = page.locator(".jp-NotebookPanel:visible")
    cells = panel.locator(".jp-Notebook .jp-Cell")
    release = nbformat.read(zh["course"] / NOTEBOOK, as_version=4)
    expect(cells).to_have_count(len(release.cells))
    idx = next(i for i, c in enumerate(release.cells)
               if c.metadata.get("nbgrader", {}).get("grade_id") == zh["gid"])
    type_into_cell(page, cells.nth(idx), zh["wrong"])
    text = validate(page, panel)
    page.locator(".jp-Dialog-body").evaluate(SCROLL_TO_TEXT, "可能原因")
    _shot(page, "zh-validate-failed")
    assert "可能原因" in text, text[-3000:]
    messages = [ln for ln in text.splitlines() if "可能原因" in ln or "torch.autograd" in ln]
    assert any(CHINESE.search(ln) for ln in messages), text[-3000:]


def test_zh_feedback_is_chinese_without_hidden_tests(zh):
    from playwright.sync_api import expect

    grading = zh["grading"]
    grading.join(600)
    assert not grading.is_alive(), "grading did not finish"
    if grading.error is not None:
        raise AssertionError(f"grading the zh submission failed: {grading.error}")
    (page_file,) = sorted((zh["course"] / "feedback" / "wang" / ZH).glob("*.html"))
    page = zh["page"]
    page.goto(page_file.as_uri())
    expect(page.locator("body")).to_contain_text("可能原因")
    _shot(page, "zh-feedback")
    text = H.unescape(re.sub(r"<[^>]+>", "", page_file.read_text(encoding="utf-8")))
    assert CHINESE.search(text)
    hidden = hidden_lines(ROOT / "source" / ZH / "ps1.ipynb", zh["course"] / NOTEBOOK)
    assert hidden and not [ln for ln in hidden if ln in text], "zh feedback shows hidden tests"
