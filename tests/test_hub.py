"""A whole class on a real JupyterHub: students and an instructor, each a separate account.

The hub is deploy/jupyterhub's (the one ``bin/course hub`` starts): JupyterHub from PyPI,
configurable-http-proxy from npm, PAM logins of local unix accounts made for this test
(unique names, removed afterwards), each user's JupyterLab spawned as that user from the
course environment, nbgrader's exchange and its JupyterHubAuthPlugin. Headless Debian
chromium (Playwright) is each person at their browser:

1. the instructor releases ps1 in the Formgrader;
2. two students each log in, fetch ps1 in the Assignments tab, answer (alice correctly,
   bob with the mean's 1/N forgotten), press Validate and submit;
3. the instructor collects in the Formgrader and grades with ``bin/course grade ps1``
   (as the instructor's account, in the course directory in their home); the
   Formgrader's gradebook shows both;
4. the instructor releases feedback in the Formgrader;
5. each student fetches their own feedback and reads their score and the checks'
   messages: never the hidden tests, never the other student's work.

And a student can reach neither another student's work nor the instructor's course
(``source/``, submissions, gradebook): not through the hub's URLs, not from their own
account's processes (what their kernels and terminals run as).

``test_exchange_load`` then runs bench/bench_hub_load.py's round trip on 2 more
students: concurrent ``nbgrader submit`` as each account, a due date, a late
resubmission, collect and grade; nothing lost, the latest graded, penalties right.

Needs root, useradd and the course environment (``bin/setup --dev``). Where they are
missing the tests say why, and fail under CI (CI=true); elsewhere they skip.
Screenshots: tests/artifacts/hub-*.png (docs/img/hub-*.png are copies).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import browsing
import nbformat
import pytest
from browsing import SCROLL_TO_TEXT as SCROLL_TO_MESSAGE
from conftest import ROOT

from autograder import course as C

sys.path.insert(0, str(ROOT / "deploy" / "jupyterhub"))
sys.path.insert(0, str(ROOT / "bench"))

import bench_hub_load  # noqa: E402
import hub as H  # noqa: E402

pytestmark = [pytest.mark.hub, pytest.mark.browser]

A = "ps1"
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 180_000  # one step (a server spawn, a kernel start, a validation) on 2 busy cores
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# bob's A1: the mean's 1/N forgotten (the visible check catches it)
WRONG_A1 = ("def grad_batch_mean_square(x):\n"
            "    '''Gradient of (x * x).sum(dim=1).mean() with respect to x, a 2-D array (N, D).'''\n"
            "    return 2 * x\n")
WRITTEN = {"alice": "`.detach()` shares the version counter, so autograd raises an error on an "
                    "in-place change; `.data` hides it and the gradient can be silently wrong.",
           "bob": "`.data` skips autograd's checks; `.detach()` keeps them."}
_T0 = time.monotonic()
def _step(what: str) -> None:
    with open(ARTIFACTS / "hub-steps.log", "a") as f:
        f.write(f"{time.monotonic() - _T0:7.1f} s  {what}\n")


def _cannot(why: str):
    """Say why the hub cannot run here: a failure under CI, a skip elsewhere."""
    msg = f"the JupyterHub tests cannot run here:\n  {why}"
    if CI:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def hub():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "hub-steps.log").write_text("")
    if os.geteuid() == 0:
        # the course environment, refreshed from this checkout (fast when nothing changed)
        proc = subprocess.run([str(H.HERE / "setup-env")], capture_output=True, text=True,
                              timeout=1800)
        if proc.returncode != 0:
            _cannot(f"deploy/jupyterhub/setup-env failed:\n{proc.stdout[-2000:]}\n"
                    f"{proc.stderr[-4000:]}")
        _step("course environment ready")
    trouble = H.problems()
    if trouble:
        _cannot("\n  ".join(trouble))
    prefix = f"t{secrets.token_hex(2)}-"
    inst, students = H.make_accounts(
        prefix, ["alice", "bob", *(f"s{i}" for i in range(1, 3))], instructor="prof")
    base = H.workdir("test-")
    h = H.LocalHub(inst, students, state=base / "hub", exchange=base / "exchange")
    try:
        h.prepare((A,))
        _step("accounts, exchange and the instructor's course ready")
        h.start(ARTIFACTS / "jupyterhub.log")
        _step(f"hub answers on {h.url}")
        yield h
    finally:
        h.cleanup()
        shutil.rmtree(base, ignore_errors=True)
        for name in (inst.name, *(s.name for s in students)):
            assert subprocess.run(["id", name], capture_output=True).returncode != 0, (
                f"account {name} was not removed")


@pytest.fixture(scope="module")
def browser():
    with browsing.chromium(TIMEOUT_MS) as chromium:
        yield chromium


# ---------------------------------------------------------------------------- helpers


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"hub-{name}.png"))


def _login(browser, hub: H.LocalHub, acct: H.Account):
    """A fresh browser (no shared cookies) logged in as ``acct``, on its JupyterLab."""
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", acct.name)
    page.fill("#password_input", acct.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{re.escape(acct.name)}/lab.*"), timeout=TIMEOUT_MS)
    expect(page.locator("#jp-main-statusbar")).to_be_visible()
    _step(f"{acct.name} logged in, JupyterLab open")
    return ctx, page


def _assignments_tab(page) -> None:
    """Nbgrader > Assignment List (or back to its tab), its lists fresh."""
    from playwright.sync_api import expect

    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=re.compile("^Assignments$"))
    if tab.count():
        tab.click()
        page.locator("#refresh_assignments_list").click()
    else:
        browsing.menu(page, "Nbgrader", "Assignment List")
    expect(page.locator("#released_assignments_list")).to_be_visible()


def _answer_cells(course: Path) -> list[tuple[int, str, str, str]]:
    """(index in the release, grade_id, cell type, the instructor's answer) per answer cell."""
    release = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / A / f"{A}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: C.strip_solution_markers(c.source)
                 for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    return [(i, c.metadata["nbgrader"]["grade_id"], c.cell_type,
             solutions[c.metadata["nbgrader"]["grade_id"]])
            for i, c in enumerate(release.cells) if c.metadata.get("nbgrader", {}).get("solution")]


def _hidden_test_lines(course: Path) -> list[str]:
    """The hidden tests' own lines (asserts and calls), none of which feedback may show."""
    source = nbformat.read(course / "source" / A / f"{A}.ipynb", as_version=4)
    out = []
    for cell in source.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source,
                                re.S):
            out += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 25]
    assert out, "ps1 has no hidden tests to look for"
    return out


def _formgrader(page, hub: H.LocalHub, path: str = "manage_assignments"):
    from playwright.sync_api import expect

    page.goto(f"{hub.url}/user/{hub.instructor.name}/formgrader/{path}")
    row = page.locator("tr", has=page.locator("td a", has_text=re.compile(f"^{A}$")))
    expect(row).to_have_count(1)
    return row


def _formgrader_action(page, row, cls: str, expect_text: str) -> str:
    """Click a Formgrader action of the ps1 row (release, collect ...); its dialog's text."""
    from playwright.sync_api import expect

    row.locator(f".{cls} a").click()
    body = page.locator(".modal.in .modal-body")
    expect(body).to_contain_text(expect_text)
    page.wait_for_timeout(600)  # the dialog's fade-in, for the screenshot only
    return body.inner_text()


def _close_modal(page) -> None:
    page.locator(".modal.in .modal-footer button").first.click()
    page.locator(".modal.in").wait_for(state="detached")


# ---------------------------------------------------------------------------- the class loop


def _prespawn(hub: H.LocalHub, accts: list) -> Future:
    """Start ``accts``' servers through the hub's REST API (each with its own token, as its
    browser's login would), in the background: the students' logins later find them started
    instead of waiting for a spawn each, one after the other."""
    def spawn():
        tokens = hub.tokens(accts)
        for acct in accts:
            req = urllib.request.Request(f"{hub.url}/hub/api/users/{acct.name}/server",
                                         method="POST",
                                         headers={"Authorization": f"token {tokens[acct.name]}"})
            with urllib.request.urlopen(req, timeout=TIMEOUT_MS / 1000) as resp:
                _step(f"{acct.name}'s server asked for through the hub API: {resp.status}")

    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(spawn)  # .result(): its error, if it failed
    finally:
        pool.shutdown(wait=False)


def test_class_loop_in_the_browser(hub, browser):
    from playwright.sync_api import expect

    inst = hub.instructor
    alice, bob = hub.students[0], hub.students[1]
    answers = _answer_cells(hub.course)
    hidden = _hidden_test_lines(hub.course)
    spawning = _prespawn(hub, [alice, bob])  # while the instructor logs in and releases

    # 1. the instructor releases ps1 in the Formgrader (a tab of its own: JupyterHub >= 4.1
    #    forbids framing a user's server, docs/jupyterhub.md)
    ictx, ipage = _login(browser, hub, inst)
    browsing.menu(ipage, "Nbgrader", "Formgrader")  # the instructor's menu has it
    row = _formgrader(ipage, hub)
    expect(row).to_contain_text("draft")
    text = _formgrader_action(ipage, row, "release", f"Successfully released '{A}'")
    assert str(hub.exchange / H.COURSE / "outbound" / A) in text, text
    _shot(ipage, "instructor-released")
    _close_modal(ipage)
    expect(row).to_contain_text("released")
    _step("instructor released ps1 in the Formgrader")

    # 2. each student: fetch, answer, Validate, submit
    spawning.result()
    pages = {}
    for acct, wrong in ((alice, False), (bob, True)):
        ctx, page = _login(browser, hub, acct)
        pages[acct.name] = page
        # a student's Nbgrader menu has the assignment list, not the Formgrader
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
        menu = page.locator(".lm-Menu-content").inner_text()
        assert "Assignment List" in menu and "Formgrader" not in menu, menu
        page.keyboard.press("Escape")
        _assignments_tab(page)
        released = page.locator("#released_assignments_list .list_item", has_text=A)
        expect(released).to_contain_text(H.COURSE)
        if acct is alice:
            _shot(page, "student-assignments")
        released.locator("button", has_text="Fetch").click()
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=A).first
        expect(fetched.locator("button", has_text="Submit")).to_be_visible()
        fetched.locator(".assignment-notebooks-link").click()
        page.locator("#fetched_assignments_list a", has_text=re.compile(f"^{A}$")).last.click()
        panel = page.locator(".jp-NotebookPanel:visible")
        release_nb = nbformat.read(hub.course / "release" / A / f"{A}.ipynb", as_version=4)
        cells = panel.locator(".jp-Notebook .jp-Cell")
        expect(cells).to_have_count(len(release_nb.cells))
        expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")
        _step(f"{acct.name} fetched and opened ps1")

        for idx, gid, kind, text in answers:
            if kind == "markdown":
                text = WRITTEN[acct.name.split("-", 1)[1]]
            elif wrong and gid == "ps1-grad-mean-square":
                text = WRONG_A1
            browsing.type_into_cell(page, cells.nth(idx), text, kind)
        panel.locator(".validate-button").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results")
        result = dialog.locator(".jp-Dialog-body").inner_text()
        if wrong:
            assert "d (x*x).sum(dim=1).mean()/dx for x of shape (3, 2): does not match torch.autograd" in result, result
            assert "likely cause" in result, result
            dialog.locator(".jp-Dialog-body").evaluate(SCROLL_TO_MESSAGE, "does not match torch.autograd")
            _shot(page, "student-validate-bug")
        else:
            assert "Success! Your notebook passes all the tests." in result, result
            _shot(page, "student-validate")
        dialog.locator("button", has_text=re.compile("^ok$", re.I)).click()
        dialog.wait_for(state="detached")
        _step(f"{acct.name} validated")
        # Validate saved the notebook: what the browser typed is the student's file
        saved = nbformat.read(acct.home / H.COURSE / A / f"{A}.ipynb", as_version=4)
        got = saved.cells[answers[0][0]].source
        assert ("return 2 * x\n" in got + "\n") == wrong, got

        _assignments_tab(page)
        page.locator("#fetched_assignments_list .list_item", has_text=A).first.locator(
            "button", has_text="Submit").click()
        submitted = page.locator("#submitted_assignments_list .list_item", has_text=A).first
        expect(submitted.locator("button", has_text="Fetch Feedback")).to_be_visible()
        expect(page.locator("#submitted_assignments_list")).to_contain_text(
            re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))
        if acct is alice:
            _shot(page, "student-submitted")
        _step(f"{acct.name} submitted")

    # 3. the instructor collects (Formgrader) and grades (bin/course grade ps1, their account)
    row = _formgrader(ipage, hub)
    text = _formgrader_action(ipage, row, "collect", f"Successfully collected submissions of '{A}'")
    _close_modal(ipage)
    for s in (alice, bob):
        assert (hub.course / "submitted" / s.name / A / f"{A}.ipynb").is_file(), s.name
    _step("instructor collected")
    # AUTOGRADER_JOBS: bin/test's one grading worker per run (as_user starts from `env -i`)
    jobs = {k: os.environ[k] for k in ("AUTOGRADER_JOBS",) if k in os.environ}
    proc = hub.as_user(inst, "bin/course", "grade", A, cwd=hub.course,
                       extra={**hub.role_environ(inst), **jobs})
    (ARTIFACTS / "hub-grade.log").write_text(proc.stdout + proc.stderr)
    # bin/course grade started the course's grading daemon, as the instructor, for the next run;
    # stopped here (it would idle for 15 minutes): its answer says it was running
    assert "started the course's grading daemon" in proc.stderr, proc.stderr[-3000:]
    stop = hub.as_user(inst, "bin/course", "daemon", "stop", cwd=hub.course,
                       extra=hub.role_environ(inst))
    assert "grading daemon stopped (pid" in stop.stdout, stop.stdout + stop.stderr
    _step("instructor graded with bin/course grade ps1")
    scores = bench_hub_load.gradebook_scores(hub)
    assert set(scores) == {alice.name, bob.name}, scores
    release_nb = nbformat.read(hub.course / "release" / A / f"{A}.ipynb", as_version=4)
    code_points = sum(c.metadata["nbgrader"].get("points", 0) for c in release_nb.cells
                      if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    assert scores[alice.name]["auto_score"] == code_points, scores
    assert scores[bob.name]["cells"]["ps1-grad-mean-square-test"][0] == 0, scores[bob.name]
    assert scores[bob.name]["auto_score"] == code_points - scores[bob.name]["cells"][
        "ps1-grad-mean-square-test"][1], scores[bob.name]

    # the Formgrader's gradebook shows both
    ipage.goto(f"{hub.url}/user/{inst.name}/formgrader/manage_submissions/{A}")
    for s in (alice, bob):
        sc = scores[s.name]
        sub = ipage.locator("tr", has_text=s.name)
        expect(sub.locator(".score")).to_have_text(
            f"{_js_number(sc['score'])} / {_js_number(sc['max_score'])}")
        expect(sub).to_contain_text(f"Example, {s.first}")
    _shot(ipage, "formgrader-submissions")

    # 4. the instructor releases feedback (Formgrader)
    row = _formgrader(ipage, hub)
    _formgrader_action(ipage, row, "release-feedback", "Successfully released feedback")
    _shot(ipage, "instructor-released-feedback")
    _close_modal(ipage)
    _step("instructor released feedback")
    ictx.close()

    # 5. each student fetches their own feedback and reads it
    for s in (alice, bob):
        page = pages[s.name]
        _assignments_tab(page)
        submitted = page.locator("#submitted_assignments_list .list_item", has_text=A).first
        expect(page.locator("#submitted_assignments_list")).to_contain_text(
            "feedback available to fetch")
        submitted.locator("button", has_text="Fetch Feedback").click()
        link = page.locator("#submitted_assignments_list a", has_text="view feedback")
        expect(link).to_be_visible()
        link.click()  # the file browser goes to the feedback's folder
        item = page.locator(".jp-DirListing-item", has_text=f"{A}.html")
        expect(item).to_be_visible()
        item.dblclick()
        frame = page.frame_locator(".jp-HTMLViewer:visible iframe")
        own = scores[s.name]
        # their score as the gradebook has it, e.g. "19 / 24"
        expect(frame.locator("body")).to_contain_text(
            f"{_js_number(own['score'])} / {_js_number(own['max_score'])}")
        html_text = frame.locator("body").inner_text()
        _shot(page, f"student-feedback-{s.name.split('-', 1)[1]}")
        _step(f"{s.name} read the feedback")

        files = sorted(f for f in (s.home / H.COURSE / A / "feedback").rglob("*.html")
                       if ".ipynb_checkpoints" not in f.parts)  # JupyterLab's, from opening it
        assert len(files) == 1, files
        fetched = files[0].read_text()
        # their own feedback, as the instructor's grading wrote it for them
        assert fetched == (hub.course / "feedback" / s.name / A / f"{A}.html").read_text()
        other = bob if s is alice else alice
        for shown in (fetched, html_text):
            assert other.name not in shown and WRITTEN[other.name.split("-", 1)[1]] not in shown
            for line in hidden:
                assert line not in shown, f"hidden test shown to {s.name}: {line}"
        if s is bob:
            assert "does not match torch.autograd" in html_text, html_text[:3000]
        else:
            assert "does not match torch.autograd" not in html_text, html_text[:3000]

    # a student reaches neither another student's work nor the instructor's course
    _isolation(hub, pages[alice.name], alice, bob)
    for page in pages.values():
        page.context.close()


def _js_number(x: float) -> str:
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else repr(x)


def _isolation(hub: H.LocalHub, page, me: H.Account, other: H.Account) -> None:
    inst = hub.instructor
    # through the hub's URLs, with my own logged-in session
    for url in (f"/user/{other.name}/api/contents/{H.COURSE}/{A}/{A}.ipynb",
                f"/user/{other.name}/files/{H.COURSE}/{A}/{A}.ipynb",
                f"/user/{inst.name}/api/contents/{H.COURSE}/source/{A}/{A}.ipynb",
                f"/user/{inst.name}/files/{H.COURSE}/submitted/{other.name}/{A}/{A}.ipynb",
                f"/user/{inst.name}/formgrader/manage_submissions/{A}",
                f"/user/{inst.name}/formgrader/api/submissions/{A}",
                f"/user/{me.name}/api/contents/..%2F{other.name}",
                f"/user/{me.name}/files/..%2F{inst.name}%2F{H.COURSE}%2Fsource%2F{A}%2F{A}.ipynb"):
        resp = page.request.get(hub.url + url, max_redirects=0)
        assert resp.status in (302, 400, 403, 404), (url, resp.status, resp.text()[:500])
        assert "BEGIN HIDDEN TESTS" not in resp.text() and "BEGIN SOLUTION" not in resp.text(), url
    _step("no other account's files through the hub's URLs")

    # as my own account: what my kernels and terminals can do on the machine
    inbound = hub.exchange / H.COURSE / "inbound"
    theirs = [d for d in inbound.iterdir() if d.name.startswith(f"{other.name}+")]
    assert theirs, f"no submission of {other.name} in the exchange"
    # nbgrader's inbound is write-only for students (mode 2733): no listing, and each
    # submission's name ends in 12 random characters, so knowing the student, the
    # assignment and even the exact timestamp does not find it
    guessed = "+".join(theirs[0].name.split("+")[:3])
    targets = {
        "other's home": str(other.home),
        "other's notebook": str(other.home / H.COURSE / A / f"{A}.ipynb"),
        "exchange inbound listing": str(inbound),
        "other's submission, all but its random part": str(inbound / guessed / f"{A}.ipynb"),
        "instructor's source": str(hub.course / "source" / A / f"{A}.ipynb"),
        "instructor's submitted": str(hub.course / "submitted" / other.name / A / f"{A}.ipynb"),
        "instructor's gradebook": str(hub.course / "gradebook.db"),
        "other's feedback in the exchange": str(hub.exchange / H.COURSE / "feedback"),
    }
    probe = ("import json, os, sys\n"
             "out = {}\n"
             "for name, path in json.loads(sys.argv[1]).items():\n"
             "    try:\n"
             "        if os.path.isdir(path):\n"
             "            os.listdir(path)\n"
             "        else:\n"
             "            open(path, 'rb').read(1)\n"
             "        out[name] = 'READ'\n"
             "    except PermissionError:\n"
             "        out[name] = 'denied'\n"
             "    except FileNotFoundError:\n"
             "        out[name] = 'missing'\n"
             "print(json.dumps(out))\n")
    proc = hub.as_user(me, "python", "-c", probe, json.dumps(targets))
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    want = {k: "denied" for k in targets}
    want["other's submission, all but its random part"] = "missing"
    assert seen == want, seen
    _step("no other account's files from the student's own processes")


# ---------------------------------------------------------------------------- load


def test_exchange_load(hub):
    """bench/bench_hub_load.py's round trip on 2 students, submitting at once, one of them
    late (the bench runs it on 30)."""
    students = hub.students[2:]
    assert len(students) == 2
    out = bench_hub_load.run_load(hub, students, log=_step)
    assert out["students"] == 2 and out["late"] == 1
    assert set(out["rows"]) == {s.name for s in students}
    late = [n for n, r in out["rows"].items() if r["penalty"] > 0]
    assert late == [students[0].name], out["rows"]
    _step(f"load: {json.dumps({k: v if not isinstance(v, tuple) else v[0] for k, v in out['times'].items()})}")
