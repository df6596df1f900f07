"""Validate through the real HTTP route of a running JupyterLab (autograder/validate.py).

JupyterLab is started as ``bin/course`` starts it (:func:`autograder.lab.lab_command`), in
a private copy of the course. The Validate button's request (``POST
/assignments/validate``) is answered by the course's warm executor; these tests check
that its verdicts are nbgrader's own -- the same failing cells, the same check
messages, "Success!" for a correct notebook, an empty written answer still flagged -- by
running nbgrader's stock ``Validator`` (what ``nbgrader validate`` runs: a real kernel)
on the same files, and that the server answers other requests while a validation runs.
No timing is asserted: only which response came first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import browsing
import nbformat
import pytest
from conftest import ROOT, load_bugs

from autograder import course as C

pytestmark = [pytest.mark.slow]

ASSIGNMENT = "ps1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: a bug in an answer that ps1's visible tests catch
VISIBLE_BUG = "product-one-path"
#: seconds the "slow" notebook sleeps in a student cell: a validation still running when, 2 s
#: after the press, the test asks the server for something else
SLOW_CELL_S = 8


class Server:
    """A JupyterLab of the course (tests/browsing.py) and the requests the Validate button makes."""

    def __init__(self, lab: browsing.LabServer):
        self.lab, self.course, self.port, self.token = lab, lab.course, lab.port, lab.token

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def get(self, path: str, timeout: float = 300) -> dict:
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            return json.loads(r.read())

    def validate(self, rel: str, timeout: float = 600) -> dict:
        """What the Validate button sends: POST /assignments/validate?path=<notebook>."""
        req = urllib.request.Request(
            self.url(f"assignments/validate?path={urllib.parse.quote(rel)}"), data=b"",
            method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def log_tail(self) -> str:
        return self.lab.log_tail()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course copy with three ps1 notebooks: correct, one visible bug, as released (blank)."""
    tmp = tmp_path_factory.mktemp("validate")
    course = C.copy_course(tmp / "course", ASSIGNMENT, root=ROOT, with_release=True)
    release = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    source = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    bug = next(b for b in load_bugs(ASSIGNMENT) if b.name == VISIBLE_BUG)
    nbs = {"pass": C.solution_submission(release, source),
           "fail": C.solution_submission(release, source, bug.edits),
           "blank": nbformat.read(release, as_version=4)}
    # ps2 is graded without torch: a correct ps2 whose d_exp hands its work to torch
    # (conftest.PS2_D_EXP_BY_TORCH) passes the visible tests here, where torch exists
    from conftest import PS2_D_EXP_BY_TORCH

    nbs["torch"] = C.solution_submission(ROOT / "release" / "ps2" / "ps2.ipynb",
                                         ROOT / "source" / "ps2" / "ps2.ipynb", PS2_D_EXP_BY_TORCH)
    # ps1 has torch, but its part A is checked again without it (integrity.check_by_hand)
    from conftest import PS1_TANH_BY_TORCH

    nbs["torch-a"] = C.solution_submission(release, source, PS1_TANH_BY_TORCH)
    slow = C.solution_submission(release, source)  # correct, with a student cell that takes a while
    slow.cells.insert(1, nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLOW_CELL_S})"))
    nbs["slow"] = slow
    for name, nb in nbs.items():
        d = course / "work" / name
        d.mkdir(parents=True)
        nbformat.write(nb, d / ("ps2.ipynb" if name == "torch" else f"{ASSIGNMENT}.ipynb"))
    return course


@pytest.fixture(scope="module")
def server(course, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter")
    with browsing.jupyterlab(course, home, home / "jupyterlab.log") as lab:
        yield Server(lab)


def _stock(course: Path, rel: str) -> dict:
    """nbgrader's own Validator (what ``nbgrader validate`` runs), with the course's config."""
    code = ("import json, sys\n"
            "from nbgrader.validator import Validator\n"
            "from autograder.validate import load_config\n"
            "print(json.dumps(Validator(config=load_config('.')).validate(sys.argv[1])))\n")
    proc = subprocess.run([sys.executable, "-c", code, rel], cwd=course, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _last_error(raw: str) -> str:
    """The exception a failing cell ended with ("Name: message", message lines included)."""
    lines = ANSI.sub("", raw).rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"^[A-Za-z_][\w.]*(: |:?$)", lines[i]) and not lines[i].startswith("Cell "):
            return "\n".join(lines[i:]).strip()
    return ANSI.sub("", raw).strip()


def _verdict(result: dict) -> dict:
    """Which cells failed (by their code) and the error each ended with."""
    assert set(result) <= {"failed"}, result.keys()
    return {cell["source"]: _last_error(cell["raw_error"]) for cell in result.get("failed", [])}


@pytest.mark.parametrize("which", ["pass", "fail", "blank"])
def test_same_verdict_as_nbgrader_validate(server, course, which):
    rel = f"work/{which}/{ASSIGNMENT}.ipynb"
    ours = server.validate(rel)
    assert ours["success"] is True, ours["value"]
    stock = _stock(course, rel)
    assert _verdict(ours["value"]) == _verdict(stock)
    # what the dialog shows: nbgrader's HTML of the same error text
    for cell in ours["value"].get("failed", []):
        assert cell["error"] and cell["raw_error"]
    if which == "pass":
        assert ours["value"] == {}  # the dialog says "Success! Your notebook passes all the tests."
    elif which == "fail":
        errors = "\n".join(_verdict(ours["value"]).values())
        assert len(ours["value"]["failed"]) == 1, errors
        assert "likely cause" in errors, errors  # the check's own message reaches the student
    else:
        errors = list(_verdict(ours["value"]).values())
        assert "You did not provide a response." in errors  # the empty written answer
        assert any(e.startswith("NotImplementedError") for e in errors), errors


def test_server_answers_while_validating(server, course):
    server.validate(f"work/pass/{ASSIGNMENT}.ipynb")  # the warm process is up
    done: dict = {}

    def press():
        try:
            done["result"] = server.validate(f"work/slow/{ASSIGNMENT}.ipynb")
        finally:
            done["at"] = time.monotonic()

    t = threading.Thread(target=press)
    t.start()
    time.sleep(2)  # the request is in; its notebook sleeps SLOW_CELL_S in its second cell
    listing = server.get("api/contents/work/pass?content=1")
    status = server.get("api/status")
    answered_at = time.monotonic()
    still_running = t.is_alive()
    t.join(600)
    assert listing["type"] == "directory" and status
    assert still_running and answered_at < done["at"], \
        "the contents API was not answered until the validation finished"
    assert done["result"] == {"success": True, "value": {}}, done["result"]


def test_outside_root_refused(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        server.validate("../outside.ipynb")
    assert e.value.code == 403


def test_ours_answers_even_with_nbgrader_validate_enabled():
    """On a server that also loads nbgrader's validate_assignment extension (a JupyterHub
    whose config turns it on), the course's handlers still answer the Validate route."""
    import logging
    from types import SimpleNamespace

    from nbgrader.server_extensions.validate_assignment import handlers as stock
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
    from tornado.web import Application

    import autograder.validate as V

    app = Application([], base_url="/")
    server = SimpleNamespace(web_app=app, root_dir=str(ROOT), log=logging.getLogger(__name__))
    stock.load_jupyter_server_extension(server)  # nbgrader's first, then ours
    V._load_jupyter_server_extension(server)
    for path, method in (("/assignments/validate", "POST"), ("/nbgrader_version", "GET")):
        req = HTTPServerRequest(start_line=RequestStartLine(method, path, "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "127.0.0.1"}))
        cls = app.find_handler(req).handler_class
        assert cls.__module__ == "autograder.validate", (path, cls)
        assert issubclass(cls, stock.ValidateAssignmentHandler if "validate" in path
                          else stock.NbGraderVersionHandler)


def test_validate_flags_torch_where_grading_has_none():
    """ps2, ps3 and ps5 are graded without torch in the student's process: Validate, which
    runs every cell where torch exists, names each answer or student cell that uses it; the
    tests, the instructor's cells and assignments graded with torch (ps1) are left alone."""
    from autograder.validate import torch_in_student_cells

    def notebook(assignment, edits=None, extra=None):
        name = f"{assignment.split('-')[0]}.ipynb"  # ps2-zh-CN/ps2.ipynb
        nb = C.solution_submission(ROOT / "release" / assignment / name,
                                   ROOT / "source" / assignment / name, edits)
        if extra:
            nb.cells.append(nbformat.v4.new_code_cell(extra))
        return nb

    for assignment in ("ps2", "ps3", "ps5", "ps1", "ps2-zh-CN"):
        assert torch_in_student_cells(notebook(assignment)) == [], assignment  # tests use torch
    from conftest import PS2_D_EXP_BY_TORCH

    flagged = torch_in_student_cells(notebook("ps2", PS2_D_EXP_BY_TORCH))
    assert [c.metadata["nbgrader"]["grade_id"] for c, _ in flagged] == ["ps2-local-derivatives"]
    assert "graded without torch" in flagged[0][1]
    for extra in ("import torch.nn as nn", "from torch import autograd", "y = torch.ones(3)",
                  "__import__('torch')", "%time x = 1\nimport functorch"):
        assert len(torch_in_student_cells(notebook("ps3", extra=extra))) == 1, extra
    for extra in ("# torch would do this for me", "s = 'torch.tensor'", "x.torch_like = 1",
                  "import torchy_not_torch"):
        assert torch_in_student_cells(notebook("ps5", extra=extra)) == [], extra
    assert torch_in_student_cells(notebook("ps1", extra="import torch")) == []
    zh = torch_in_student_cells(notebook("ps2-zh-CN", PS2_D_EXP_BY_TORCH))
    assert len(zh) == 1 and "torch" in zh[0][1] and "graded without torch" not in zh[0][1]


def test_command_line_quick_path(course):
    """``autograder validate`` and ``autograder selfgrade --quick``: the same warm path from a
    terminal, printing what ``nbgrader validate`` prints."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=course,
                              capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, AUTOGRADER_COURSE=str(course)))

    both = run("validate", f"work/pass/{ASSIGNMENT}.ipynb", f"work/fail/{ASSIGNMENT}.ipynb",
               "work/torch/ps2.ipynb", f"work/torch-a/{ASSIGNMENT}.ipynb")
    assert both.returncode == 1, both.stderr[-3000:]  # three of them fail
    first, _, rest = both.stdout.partition("Success! Your notebook passes all the tests.")
    second, _, third = rest.partition("VALIDATION FAILED ON 1 CELL(S)!")
    assert not first.strip() and not second.strip(), both.stdout
    assert "likely cause" in third, both.stdout
    # the answers that use torch fail Validate as they would fail grading: ps2's answer
    # cell, and ps1's test of part A (its functions run again where torch does not exist)
    assert third.count("VALIDATION FAILED ON 1 CELL(S)!") == 2, both.stdout
    assert "This assignment is graded without torch" in third and "def d_exp" in third, both.stdout
    assert "grad_tanh_mean (your code run in a Python without torch)" in third, both.stdout
    blank = run("selfgrade", "--quick", f"work/blank/{ASSIGNMENT}.ipynb")
    assert blank.returncode == 1, blank.stderr[-3000:]
    assert "You did not provide a response." in blank.stdout, blank.stdout
    assert "NotImplementedError" in blank.stdout, blank.stdout
