"""Feedback a student can act on, on a ps3 submission with one bug.

The submission is the solution with the ``missing-unbroadcast`` edit of
``tests/bugs_ps3.py`` (backward() forgets to unbroadcast). It is graded once, for
real, with ``autograder grade`` (which writes feedback through the course's
config), then its feedback is written again by stock ``nbgrader
generate_feedback``; the tests read both pages, the gradebook, ``autograder
selfgrade``'s output on the same notebook, and the page in headless Debian
chromium (Playwright), at 1200 px and at a phone's 390 px:

- the summary's rows: one per test cell in notebook order, their scores as in
  the gradebook, the total; the failing part's row names the part and holds the
  check's message line and its likely cause, and says a hidden test failed;
- the same page from both commands;
- hidden test code never on the page, nor expected values in the summary;
- in the browser: that row within the first screen, no ``pre`` wider than its
  box or the screen, maths typeset by MathJax, and not one network request.

Screenshots go to ``tests/artifacts/`` (``docs/img/feedback-*.png`` are copies).
If chromium cannot start, the browser test fails: it never skips.
"""

from __future__ import annotations

import html
import io
import re

import browsing
import nbformat
import pytest
from conftest import ROOT, load_bugs

from autograder import course as C
from autograder import feedback as F

pytestmark = [pytest.mark.slow]

A = "ps3"
BUG = "missing-unbroadcast"
STUDENT = f"bug-{BUG}"
FIRST_FAILING = "ps3-mul-test"  # the first test cell the bug fails, in notebook order
ARTIFACTS = ROOT / "tests" / "artifacts"
SIZES = {"desktop": (1200, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The one-bug submission graded by ``autograder grade``, then feedback by stock nbgrader."""
    from autograder.grading import grade

    course = C.copy_course(tmp_path_factory.mktemp("feedback") / "course", A, root=ROOT)
    C.nbgrader(course, "generate_assignment", A, "--force")
    bug = next(b for b in load_bugs(A) if b.name == BUG)
    source = course / "source" / A / f"{A}.ipynb"
    release = course / "release" / A / f"{A}.ipynb"
    C.write_submission(course, A, STUDENT,
                       {release.name: C.solution_submission(release, source, bug.edits)})
    run = grade(course, A, jobs=1, progress=False, report=False, stream=io.StringIO())
    res = run.results[0]
    assert res.ok and res.feedback, (res.reason, res.feedback_error)
    page = course / "feedback" / STUDENT / A / f"{A}.html"
    by_grade = page.read_text()
    C.nbgrader(course, "generate_feedback", A, "--force")
    by_nbgrader = page.read_text()
    return {"course": course, "page": page, "by_grade": by_grade, "by_nbgrader": by_nbgrader,
            "scores": C.gradebook_scores(course, A)[STUDENT], "source": source}


def _test_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"
            and (c.metadata.get("nbgrader") or {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def _summary_section(page: str) -> str:
    m = re.search(r'<section\b[^>]*\bid="autograder-summary"[^>]*>.*?</section>', page, re.S)
    assert m, "no summary on the feedback page"
    return m.group(0)


def _rows(section: str) -> list[tuple[str, str]]:
    """``[(grade_id, the row's text)]`` of the summary, in page order."""
    return [(gid, text) for gid, _, text in _rows_with_state(section)]


def _rows_with_state(section: str) -> list[tuple[str, bool, str]]:
    """``[(grade_id, passed, the row's text)]``: passed as the row's class says (ag-pass)."""
    out = []
    for m in re.finditer(r'<li\b([^>]*)>(.*?)</li>', section, re.S):
        gid = re.search(r'data-grade-id="([^"]+)"', m.group(1)).group(1)
        classes = re.search(r'class="([^"]+)"', m.group(1)).group(1).split()
        out.append((gid, "ag-pass" in classes, _text(m.group(2))))
    return out


def _text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags gone, entities decoded, spaces folded."""
    t = re.sub(r"<script.*?</script>|<style.*?</style>", " ", fragment, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", t))).strip()


def test_summary_rows_in_notebook_order_with_the_gradebook_scores(graded):
    section = _summary_section(graded["by_grade"])
    rows = _rows(section)
    tests = _test_cells(nbformat.read(graded["source"], as_version=4))
    assert [gid for gid, _ in rows] == [c.metadata["nbgrader"]["grade_id"] for c in tests]
    grades = graded["scores"]["cells"]
    for gid, passed, text in _rows_with_state(section):
        score, points = grades[gid]
        assert f"{score:g} / {points:g}" in text, (gid, text)
        assert passed == (score >= points), (gid, text)
        assert text.split(f"{score:g} / {points:g}")[1].split()[0] == ("passed" if passed else
                                                                       "failed"), text
        assert "Test cell" not in text
        assert f'href="#{gid}"' in section and f'name="{gid}"' in graded["by_grade"]
    total = graded["scores"]["score"]
    assert 0 < total < graded["scores"]["max_score"]
    assert f"{total:g} / {graded['scores']['max_score']:g} points" in _text(section)
    failed = [gid for gid, _ in rows if grades[gid][0] < grades[gid][1]]
    assert failed[0] == FIRST_FAILING
    assert f"{len(failed)} of {len(rows)} test cells did not pass" in _text(section)


def test_the_failing_row_names_its_part_the_check_and_the_likely_cause(graded):
    row = dict(_rows(_summary_section(graded["by_grade"])))[FIRST_FAILING]
    assert "Part 5" in row and "mul" in row  # the nearest heading, and the test's own name
    assert "failed" in row
    assert "a hidden test failed" in row
    assert "mul with broadcasting (3, 4) * (4,): gradient of b: does not match torch.autograd" in row
    assert "likely cause: the gradient has the shape of the output" in row
    assert "missing unbroadcast" in row
    # a failure of a visible check says so too
    broadcast = dict(_rows(_summary_section(graded["by_grade"])))["ps3-broadcast-test"]
    assert "a visible test failed" in broadcast and "Part 11" in broadcast


def test_autograder_grade_and_nbgrader_generate_feedback_write_the_same_page(graded):
    assert graded["by_grade"] == graded["by_nbgrader"]


def test_hidden_tests_stay_hidden(graded):
    page = graded["by_grade"]
    seen = _text(page)
    src = nbformat.read(graded["source"], as_version=4)
    hidden, visible = [], []
    for cell in _test_cells(src):
        rows = F.hidden_lines(cell.source)
        for i, line in enumerate(cell.source.splitlines(), 1):
            words = re.sub(r"\s+", " ", line).strip()
            if len(words) > 30 and "HIDDEN TESTS" not in words:
                (hidden if i in rows else visible).append(words)
    assert hidden and visible
    # the page's text keeps code tokens apart ("f ( x )"): compare without spaces
    flat = seen.replace(" ", "")
    assert all(v.replace(" ", "") in flat for v in visible), "visible test code missing"
    shown = [h for h in hidden if h.replace(" ", "") in flat]
    assert not shown, f"hidden test code on the feedback page: {shown[:3]}"
    summary = _text(_summary_section(page))
    assert "expected:" not in summary and "got:" not in summary  # the message line only


def test_selfgrade_prints_the_same_summary(graded):
    from autograder.selfgrade import format_result, selfgrade

    course = graded["course"]
    nb = course / "submitted" / STUDENT / A / f"{A}.ipynb"
    r = selfgrade(nb, root=course)
    assert r.ok, r.reason
    text = format_result(r, "ps3.ipynb")
    lines = text.splitlines()
    on_page = {gid: passed for gid, passed, _ in _rows_with_state(_summary_section(graded["by_grade"]))}
    assert sorted(on_page) == sorted(c.grade_id for c in r.cells)
    for c in r.cells:
        mine = next(ln for ln in lines if ln.endswith(f"[{c.grade_id}]"))
        assert mine.split()[0] == ("ok" if on_page[c.grade_id] else "FAILED"), (mine, c.grade_id)
    k = next(i for i, ln in enumerate(lines) if ln.endswith(f"[{FIRST_FAILING}]"))
    assert "FAILED" in lines[k] and "Part 5" in lines[k] and "mul" in lines[k]
    block = " ".join(ln.strip() for ln in lines[k + 1:k + 8])
    assert "mul with broadcasting (3, 4) * (4,): gradient of b: does not match torch.autograd" in block
    assert "likely cause: the gradient has the shape of the output" in block
    assert f"{graded['scores']['score']:g} / {graded['scores']['max_score']:g}" in lines[0]


def test_the_report_has_the_summary_per_student(graded):
    import json

    from autograder.report import write_report

    md = write_report(graded["course"], A).read_text()
    section = md[md.index("## Per student"):]
    row = next(ln for ln in section.splitlines() if ln.startswith(f"| {STUDENT} |"))
    assert f"| {graded['scores']['score']:g} |" in row
    first = row.split("|")[3].split("<br>")[0]
    assert "Part 5" in first and "mul (0/3)" in first and "missing unbroadcast" in first, first
    data = json.loads((graded["course"] / "reports" / A / "report.json").read_text())
    mine = data["students"][STUDENT]
    assert mine[0]["grade_id"] == FIRST_FAILING and mine[0]["hidden_test_failed"] is True
    cells = graded["scores"]["cells"]
    assert [r["grade_id"] for r in mine] == [g for g, _ in _rows(_summary_section(
        graded["by_grade"])) if cells[g][0] < cells[g][1]]


def test_rows_of_a_small_notebook_titles_partial_credit_written_answers_and_stderr():
    """summarize() on a notebook made here: every kind of row the summary has."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    def grade(cid, points, score, **more):
        return {"nbgrader": {"grade": True, "solution": False, "grade_id": cid, "points": points,
                             "score": score, "schema_version": 3, **more}}

    nb = new_notebook(cells=[
        new_markdown_cell("# Set 9\n\n## Part 1: `f` and $\\partial f$ (3 points)\nText."),
        new_code_cell("# Tests: part 1, f on zeros\nassert f(0) == 0\n### BEGIN HIDDEN TESTS\n"
                      "assert f(1) == 1\n### END HIDDEN TESTS", metadata=grade("t-zero", 2, 1),
                      outputs=[new_output("error", ename="AssertionError",
                                          evalue="f(1): expected 1, got 2\n  likely cause: a x2 "
                                                 "factor\n  likely cause: also this",
                                          traceback=["Cell In[4], line 4\n", "AssertionError"])]),
        new_code_cell("g()", metadata={**grade("t-own", 1, 0), "autograder": {"title": "Own title"}},
                      outputs=[new_output("stream", name="stderr", text="boom\nmore")]),
        # an instructor's written answer, as source/ has it: nbgrader's markers are no headings
        new_markdown_cell("## Part 2: why? (2 points, graded by hand)"),
        new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                          metadata=grade("written", 2, 2, solution=True)),
    ])
    s = F.summarize(nb, "set9")
    zero, own, written = s.rows
    assert (zero.part, zero.label) == ("Part 1: `f` and $\\partial f$", "f on zeros")
    assert zero.status == "partial credit" and zero.hidden_failed is True
    assert zero.message == "f(1): expected 1, got 2" and zero.cause == "a x2 factor"
    assert zero.more_causes == 1
    assert (own.part, own.label, own.hidden_failed) == ("Own title", "", False)
    assert own.message.startswith("printed on stderr") and "boom" in own.message
    assert written.manual and written.status == "graded by hand"
    assert (written.part, written.label) == ("Part 2: why?", "written answer")
    assert [r.grade_id for r in s.failed] == ["t-zero", "t-own"]
    page = F.summary_html(s)
    assert "<code>f</code> and $\\partial f$" in page  # the heading's markdown, maths for MathJax
    assert "(3 points)" not in page and "Text." not in page
    text = "\n".join(F.summary_text(s))
    assert "PARTIAL" in text and "a hidden test failed" in text and "likely cause: a x2 factor" in text


def _nbconvert_alt_pass(page: str) -> str:
    """What nbconvert's HTMLExporter does to a rendered page: BeautifulSoup's ``alt`` text."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, features="html.parser")
    for elem in soup.select("img:not([alt])"):
        elem.attrs["alt"] = F.NO_ALT
    return str(soup)


@pytest.mark.parametrize("page", [
    '<p><img src="a.png"></p>',
    '<img src="a.png"/><img alt src="b.png"><IMG ALT="x" SRC="c.png"><img src="d.png" / >',
    '<img title="a > b" src="e.png"><img data-x=\'alt="no"\' src="f.png">',
    '<script>var s = "<img src=x>";</script><style>/* <img> */</style><!-- <img src=y> -->',
    '<div><img\nsrc="g.png"\nwidth=3></div><pre>&lt;img src=z&gt;</pre>',
])
def test_the_alt_text_pass_gives_the_page_nbconvert_gives(page):
    """FeedbackExporter adds nbconvert's ``alt`` text without re-parsing the page; parsed, its
    page is nbconvert's own, tag for tag."""
    from bs4 import BeautifulSoup

    ours, missing = F.add_missing_alt(page)
    assert str(BeautifulSoup(ours, features="html.parser")) == _nbconvert_alt_pass(page)
    assert missing == len(BeautifulSoup(page, features="html.parser").select("img:not([alt])"))


def test_the_feedback_exporter_writes_nbconvert_s_page(tmp_path):
    """A notebook with images (a picture, a student's HTML with and without ``alt``, markdown):
    FeedbackExporter's page, parsed, equals what nbconvert's HTMLExporter pass makes of it."""
    import base64

    from bs4 import BeautifulSoup
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    from traitlets.config import Config

    png = base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()
    nb = new_notebook(cells=[
        new_markdown_cell("# A page\n\n![a graph](g.png) and <img src='h.png'>"),
        new_code_cell("show()", outputs=[
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/html": '<b>x</b><img src="i.png">'
                                                          '<img src="j.png" alt="j">'})]),
    ])
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = Config({"HTMLExporter": {"sanitize_html": True}})  # as the course's config
    config.merge(GenerateFeedback(coursedir=CourseDirectory(root=str(tmp_path)),
                                  config=config).config)  # nbgrader's feedback templates
    exporter = F.FeedbackExporter(config=config)
    scores = {"nbgrader": {"score": 1.0, "max_score": 2.0, "late_penalty": 0.0,
                           "notebook": "page"}}  # what nbgrader's GetGrades leaves
    ours, _ = exporter.from_notebook_node(nb, {**scores})
    stock, _ = super(F.FeedbackExporter, exporter).from_notebook_node(nb, {**scores})  # + soup
    assert 'alt="No description has been provided for this image"' in ours
    assert str(BeautifulSoup(ours, features="html.parser")) == stock
    # the next student's page: its code cells highlighted from what the exporter remembers,
    # except the one they changed
    nb.cells[1].source = "show(1 + 2)"
    again, _ = exporter.from_notebook_node(nb, {**scores})
    fresh = F.FeedbackExporter(config=config).from_notebook_node(nb, {**scores})[0]
    assert again == fresh and again != ours


def test_traceback_formats_give_the_failing_line():
    assert F.failing_line(["Traceback", "  Cell In[16], line 14\n    check(...)\n",
                           "  File /x/checks.py:486 in f\n"]) == 14
    assert F.failing_line(["Input In [3], in <cell line: 7>()\n"]) == 7
    assert F.failing_line(['  File "<cell>", line 5, in <module>\n']) == 5
    assert F.failing_line(["GradientMismatch: no frame of the cell"]) is None


@pytest.mark.browser
def test_the_page_in_a_browser(graded):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = graded["page"].as_uri()
    with browsing.chromium() as browser:
        for name, (w, h) in SIZES.items():
            ctx = browser.new_context(viewport={"width": w, "height": h})
            ctx.set_default_timeout(90_000)
            requests = []
            ctx.on("request", lambda r, seen=requests: seen.append(r.url))
            # nothing may leave the machine: anything but the page itself is refused
            ctx.route(re.compile(r"^(?!file://).*"), lambda route: route.abort())
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function("() => window.MathJax && MathJax.startup "
                                   "&& MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")

            row = page.locator(f'li.ag-row[data-grade-id="{FIRST_FAILING}"]')
            box = row.bounding_box()
            text = row.inner_text()
            assert "Part 5" in text and "missing unbroadcast" in text, text
            # on the first screen: all of the row on a desktop, its start on a phone
            bottom = box["y"] + (box["height"] if name == "desktop" else 0)
            assert box["y"] >= 0 and bottom <= h, \
                f"{name}: the failing part's row is not on the first screen: {box}"

            over = page.evaluate("""() => [...document.querySelectorAll('pre')]
                .filter(p => p.scrollWidth > p.clientWidth + 1
                          || p.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .map(p => p.textContent.slice(0, 80))""")
            pres = page.evaluate("() => document.querySelectorAll('pre').length")
            assert pres > 20 and not over, f"{name}: pre elements overflow: {over[:3]}"
            assert page.evaluate("() => document.documentElement.scrollWidth") <= w

            maths = page.evaluate("() => document.querySelectorAll('mjx-container svg').length")
            errors = page.evaluate("() => document.querySelectorAll('mjx-merror').length")
            assert maths >= 5 and errors == 0, (maths, errors)
            raw = page.evaluate("() => document.body.innerText")
            assert "\\partial" not in raw, "maths shown as TeX source"

            assert requests == [url], f"network requests: {[r for r in requests if r != url]}"
            page.screenshot(path=str(ARTIFACTS / f"feedback-{name}.png"))
            ctx.close()
    for name in SIZES:  # the README's pictures (docs/img/feedback-*.png) are copies of these
        assert (ARTIFACTS / f"feedback-{name}.png").stat().st_size > 10_000


def test_report_cells_hold_a_students_text_as_plain_text():
    """A check's message quotes the student's exception, so its text reaches the instructor's
    report.md: carriage returns and other line breaks, HTML and pipes must not end the table,
    open a comment that hides the rest, or add rows (a red team's forged "Per student")."""
    from autograder.report import _md_escape

    forged = ("boom\r\r## Per student\r\r| zz_fake | 57 | |\u2028<table><tr><td>57</td></tr>"
              "</table>\x85\x1b[2J<!--")
    cell = _md_escape(forged)
    assert not re.search("[\r\n\x0b\x0c\x1b\x85\u2028\u2029<>]", cell), cell
    assert "\\| zz_fake \\|" in cell and "&lt;!--" in cell and "## Per student" in cell
    assert _md_escape("expected 1 & got 2") == "expected 1 &amp; got 2"


def test_a_students_markdown_cannot_run_script_or_restyle_the_page(tmp_path):
    """Cell outputs are cleaned by nbconvert (sanitize_html); markdown cells are the template's,
    and a student writes some (written answers, cells of their own): a red team's ran a script
    and hid the summary's failing rows with a <style>. Markdown itself still renders."""
    import nbformat

    from autograder.feedback import FeedbackExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "## Part 1 <script>document.title='PWNED'</script>\n\n"
            "<style>.ag-fail{display:none}</style>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            "<img src=x onerror=alert(1)> [link](javascript:alert(1)) **bold**"),
        nbformat.v4.new_markdown_cell("Answer: <iframe src='https://example.org'></iframe>")]
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config({"HTMLExporter": {"sanitize_html": True}})  # as the course's config
    config.merge(GenerateFeedback(coursedir=CourseDirectory(root=str(tmp_path)),
                                  config=config).config)  # nbgrader's feedback templates
    scores = {"nbgrader": {"score": 1.0, "max_score": 2.0, "late_penalty": 0.0,
                           "notebook": "page"}}  # what nbgrader's GetGrades leaves
    page, _ = FeedbackExporter(config=config).from_notebook_node(nb, scores)
    body = page[page.index("<body"):]
    for live in ("<script>document.title", "<style>.ag-fail", "onerror", "javascript:", "<iframe"):
        assert live not in body, live
    assert "&lt;script&gt;document.title" in body and "&lt;style&gt;.ag-fail" in body
    assert "<th>a</th>" in body and "<strong>bold</strong>" in body


def test_selfgrade_summary_of_a_failed_cell_without_a_message():
    """A graded cell at 0 with no error output (a written answer left as "YOUR ANSWER HERE":
    nbgrader scores it 0 itself) is summed up with a message, not a crash (the message's
    English was once read after `_` had been rebound to a string)."""
    from types import SimpleNamespace

    cells = [SimpleNamespace(grade_id="ps2-written", score=0.0, max_score=2.0, manual=False,
                             messages=[]),
             SimpleNamespace(grade_id="ps2-test", score=0.0, max_score=1.0, manual=False,
                             messages=["AssertionError: d_exp(x): does not match torch.autograd"])]
    summary = F.summary_from_messages("ps2", cells)
    got = {r.grade_id: r.message for r in summary.rows}
    assert got["ps2-written"].startswith("no message"), got
    assert got["ps2-test"] == "d_exp(x): does not match torch.autograd", got
