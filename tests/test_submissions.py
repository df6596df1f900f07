"""Submissions cleaned before nbgrader touches them; no secret inside the sandbox (docs/security.md).

Two parts:

1. :func:`autograder.submissions.clean_submission` on hand-made directories:
   links (to a file, a folder, the notebook itself), a fifo, a socket, a device,
   too many files, too many bytes, strays; the original is only read.
2. One real ``autograder grade`` batch of a tiny assignment (``subs``: one
   notebook and a shipped ``helper.py``), with one submission per file-level
   attack next to correct ones. Each attack scores no more than its honest
   work and gets a reason; every other submission is graded; nothing but the
   notebook and the shipped files reaches ``autograded/`` or ``feedback/``;
   nothing in ``submitted/`` changes; a re-run gives the same grades and keeps a
   manual grade; no secret of the grader's environment is visible inside the
   sandbox (``/proc/*/environ``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import course as C
from autograder.submissions import SubmissionLimits, clean_submission

A = "subs"
POINTS = 2

# ---------------------------------------------------------------------------- 1. the cleaning


def _snapshot(d: Path) -> dict:
    """Everything about a tree that must never change: types, link targets, contents."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):  # never follows links
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(p.relative_to(d))] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                big = st.st_size > 8 << 20  # a sparse 300 MB file: its size and times
                out[str(p.relative_to(d))] = (
                    "file", (st.st_size, st.st_mtime_ns, st.st_ino) if big else
                    hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[str(p.relative_to(d))] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return out


def _course(tmp: Path) -> Path:
    course = tmp / "course"
    (course / "release" / "a").mkdir(parents=True)
    (course / "release" / "a" / "helper.py").write_text("SCALE = 3\n")
    (course / "release" / "a" / "data").mkdir()
    (course / "release" / "a" / "data" / "table.csv").write_text("1,2\n")
    return course


def _sub(course: Path, student: str = "bob") -> Path:
    d = course / "submitted" / student / "a"
    d.mkdir(parents=True)
    (d / "a.ipynb").write_text('{"cells": []}')
    return d


def _details(cleaned) -> str:
    return "\n".join(n["detail"] for n in cleaned.notes)


def test_only_regular_declared_files_are_taken_and_nothing_is_followed(tmp_path):
    course = _course(tmp_path)
    d = _sub(course)
    (d / "helper.py").write_text("SCALE = 2\n")  # declared: taken (nbgrader puts source's back)
    (d / "data").mkdir()
    (d / "data" / "table.csv").write_text("9,9\n")
    (d / "timestamp.txt").write_text("2030-01-01 00:00:00.000000 UTC")
    (d / "notes.txt").write_text("stray")
    (d / "Copy of a.ipynb").write_text('{"cells": []}')
    (d / ".ipynb_checkpoints").mkdir()
    (d / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    (d / "passwd").symlink_to("/etc/passwd")
    (d / "up").symlink_to(course)  # a folder: never entered
    (d / "data" / "secret.csv").symlink_to(course / "release" / "a" / "helper.py")
    os.mkfifo(d / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    short = Path(f"/tmp/ag-sock-{os.getpid()}")
    try:
        sock.bind(str(short))
        os.rename(short, d / "sock")
    except OSError:  # a path too long for a socket name: bound elsewhere, moved in
        pass
    finally:
        sock.close()
    device = False
    try:
        os.mknod(d / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        device = True
    except (PermissionError, OSError):
        pass
    before = _snapshot(d)

    c = clean_submission(course, "a", "bob", ["a"])
    try:
        assert c.fatal is None, c.fatal
        got = sorted(str(p.relative_to(c.directory)) for p in c.directory.rglob("*")
                     if p.is_file())
        assert got == ["a.ipynb", "data/table.csv", "helper.py", "timestamp.txt"], got
        assert not any(p.is_symlink() for p in c.directory.rglob("*"))
        assert (c.directory / "helper.py").read_text() == "SCALE = 2\n"  # the student's copy
        text = _details(c)
        assert re.search(r"'passwd' is a symbolic link \(to '/etc/passwd'\): refused", text)
        assert re.search(r"'up' is a symbolic link .*refused", text)
        assert re.search(r"'data/secret.csv' is a symbolic link", text)
        assert "'pipe' is a fifo (named pipe): refused" in text
        if (d / "sock").exists():
            assert "'sock' is a socket: refused" in text
        if device:
            assert "'null' is a character device: refused" in text
        assert "'Copy of a.ipynb' is not part of the assignment (it has a.ipynb)" in text
        assert re.search(r"left out 1 file\(s\) .*'notes.txt'", text)
        assert "checkpoint" not in text  # nbgrader's ignore list: left out silently
    finally:
        c.remove()
    assert not c.directory and not any(tmp_path.glob("autograder-submission-*"))
    assert _snapshot(d) == before


def test_a_linked_notebook_or_folder_is_refused(tmp_path):
    course = _course(tmp_path)
    other = _sub(course, "alice")
    d = course / "submitted" / "bob" / "a"
    d.mkdir(parents=True)
    (d / "a.ipynb").symlink_to(other / "a.ipynb")  # another student's notebook
    c = clean_submission(course, "a", "bob", ["a"])
    assert c.fatal is None and c.taken == []  # nothing to grade: the audit says "missing"
    assert re.search(r"'a.ipynb' is a symbolic link .*alice.*refused", _details(c))
    assert c.notes[0]["notebook"] == "a"
    c.remove()

    (course / "submitted" / "carol").mkdir()
    (course / "submitted" / "carol" / "a").symlink_to(other)  # the whole submission
    (course / "submitted" / "dave").symlink_to(course / "submitted" / "alice")
    for student in ("carol", "dave"):
        c = clean_submission(course, "a", student, ["a"])
        assert c.fatal and "is a symbolic link: refused" in c.fatal, c.fatal
        assert c.staging is None

    (course / "submitted" / "erin" / "a" / "a.ipynb").mkdir(parents=True)  # a folder
    c = clean_submission(course, "a", "erin", ["a"])
    assert "'a.ipynb' is a folder, not a notebook file: refused" in _details(c)
    assert c.taken == []
    c.remove()


def test_the_instructors_submitted_directory_may_be_a_link(tmp_path):
    course = _course(tmp_path)
    shared = tmp_path / "shared-volume"
    (shared / "bob" / "a").mkdir(parents=True)
    (shared / "bob" / "a" / "a.ipynb").write_text('{"cells": []}')
    (course / "collected").symlink_to(shared)
    c = clean_submission(course, "a", "bob", ["a"], submitted="collected")
    assert c.fatal is None and c.taken == ["a.ipynb"], c.fatal
    c.remove()


def test_too_many_files_are_refused_after_reading_only_the_limit(tmp_path):
    course = _course(tmp_path)
    d = _sub(course)
    many = d / "many"
    many.mkdir()
    for i in range(20_000):
        (many / f"f{i:05d}").touch()
    before = _snapshot(d)
    c = clean_submission(course, "a", "bob", ["a"])
    assert c.fatal and "too many files: more than 200 files and folders" in c.fatal, c.fatal
    assert c.entries == 201  # stopped at the limit: 20,000 names were never read
    assert c.staging is None
    assert _snapshot(d) == before
    # the limit is configurable
    c = clean_submission(course, "a", "bob", ["a"], limits=SubmissionLimits(files=30_000))
    assert c.fatal is None and c.taken == ["a.ipynb"]
    assert "left out 20000 file(s)" in _details(c)
    c.remove()


def test_too_many_bytes_are_refused_without_reading_them(tmp_path, monkeypatch):
    course = _course(tmp_path)
    d = _sub(course)
    with open(d / "helper.py", "wb") as f:  # a declared file, 300 MB (sparse: costs no disk)
        f.truncate(300 << 20)
    before = _snapshot(d)
    c = clean_submission(course, "a", "bob", ["a"])
    assert c.fatal and "too large: more than 50 MB" in c.fatal and "'helper.py' alone is 300.0 MB" \
        in c.fatal, c.fatal
    assert c.staging is None
    assert _snapshot(d) == before
    monkeypatch.setenv("AUTOGRADER_SUBMISSION_LIMITS", "files=10, mb=400")
    assert SubmissionLimits.from_env() == SubmissionLimits(files=10, mb=400)
    c = clean_submission(course, "a", "bob", ["a"])
    assert c.fatal is None and sorted(c.taken) == ["a.ipynb", "helper.py"]
    assert (c.directory / "helper.py").stat().st_size == 300 << 20
    c.remove()


def test_file_names_cannot_forge_report_lines(tmp_path):
    course = _course(tmp_path)
    d = _sub(course)
    (d / "x\n  mallory: full marks").write_text("")
    c = clean_submission(course, "a", "bob", ["a"])
    assert "\n" not in _details(c) and r"'x\n  mallory: full marks'" in _details(c)
    c.remove()


def test_the_zygote_process_never_gets_the_graders_environment(monkeypatch):
    from autograder.sandbox import ENV_KEEP, ENV_KEEP_UNSANDBOXED, sandbox_status, zygote_env

    monkeypatch.setenv("AUTOGRADER_DB_URL", "postgresql://grader:S3CRET@db/gradebook")
    monkeypatch.setenv("GITHUB_TOKEN", "S3CRET")
    env = zygote_env()
    assert "S3CRET" not in json.dumps(env)
    allowed = {"PATH"} if sandbox_status().ok else set(ENV_KEEP) | set(ENV_KEEP_UNSANDBOXED)
    assert set(env) <= allowed and "PATH" in env


# ---------------------------------------------------------------------------- 2. the batch

SECRET = "s3cret-3f1d9a"  # in the grader's environment only

SETUP = "from helper import SCALE"
ANSWER = '''def triple(x):
    """x times three."""
    ### BEGIN SOLUTION
    return SCALE * x
    ### END SOLUTION'''
TEST = '''assert triple(2) == 6, "triple(2) should be 6"
### BEGIN HIDDEN TESTS
assert triple(-5) == -15, "hidden: triple(-5)"
### END HIDDEN TESTS'''
WRONG = "def triple(x):\n    return 2 * x\n"

#: what student code prints of every file it manages to read (the tests look for it)
READ_ALL = '''
import os
for name in sorted(os.listdir(".")):
    for p in (name, os.path.join(name, "subs", "subs.ipynb"), os.path.join(name, "subs.ipynb")):
        try:
            print("READ", p, open(p, "rb").read()[:3000])
        except OSError:
            pass
'''
PROC_ENV = '''
import os
seen = {}
for pid in sorted(os.listdir("/proc")):
    if pid.isdigit() or pid == "self":
        for what in ("environ", "cmdline"):
            try:
                seen[f"{pid}/{what}"] = open(f"/proc/{pid}/{what}", "rb").read()
            except OSError:
                pass
print("SEEN", " ".join(seen))
for name, data in seen.items():
    print(f"PROC {name}:", data.decode("latin-1")[:5000])
'''


def source_notebook():
    return C.new_notebook([
        C.nbgrader_cell("markdown", "# Submissions\nTriple a number.", "intro", locked=True),
        C.nbgrader_cell("code", SETUP, "setup", locked=True),
        C.nbgrader_cell("code", ANSWER, "triple", solution=True),
        C.nbgrader_cell("code", TEST, "triple-test", grade=True, locked=True, points=POINTS),
    ])


class Case:
    def __init__(self, name, build, honest, reason, failed=False):
        self.name, self.build, self.honest, self.reason, self.failed = \
            name, build, honest, reason, failed


def _cases(course: Path) -> list[Case]:
    rel = course / "release" / A / f"{A}.ipynb"
    src = course / "source" / A / f"{A}.ipynb"

    def solved(extra: str = "", wrong: bool = False):
        nb = C.solution_submission(rel, src)
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == "triple":
                c.source = (WRONG if wrong else c.source) + extra
        return nb

    def put(d: Path, nb, helper=True):
        nbformat.write(nb, d / f"{A}.ipynb")
        if helper:
            (d / "helper.py").write_text((course / "release" / A / "helper.py").read_text())

    def ok(d):
        put(d, solved())

    def release(d):
        put(d, nbformat.read(rel, as_version=4))

    def link_passwd(d):
        put(d, solved(READ_ALL, wrong=True))
        (d / "passwd.txt").symlink_to("/etc/passwd")

    def link_source(d):
        put(d, solved(READ_ALL, wrong=True))
        (d / "src").symlink_to(course / "source")  # a folder
        (d / "answers.ipynb").symlink_to(src)  # the solutions, by a notebook's name

    def link_gradebook(d):
        put(d, solved(READ_ALL, wrong=True))
        (d / "gradebook.db").symlink_to(course / "gradebook.db")

    def link_other(d):
        put(d, solved(READ_ALL, wrong=True))
        (d / "ok-1").symlink_to(course / "submitted" / "ok-1")

    def link_notebook(d):  # the notebook IS another student's notebook
        (d / f"{A}.ipynb").symlink_to(course / "submitted" / "ok-1" / A / f"{A}.ipynb")
        (d / "helper.py").write_text("SCALE = 3\n")

    def fifo(d):  # real work plus a fifo (stock nbgrader would block or fail on it)
        put(d, solved())
        os.mkfifo(d / "pipe")

    def many_files(d):
        put(d, solved())
        (d / "many").mkdir()
        for i in range(20_000):
            (d / "many" / f"{i:05d}.txt").touch()

    def huge_file(d):
        put(d, solved())
        with open(d / "weights.bin", "wb") as f:
            f.truncate(300 << 20)  # sparse: costs no disk

    def junk(d):  # real work, plus files that are no part of the assignment
        put(d, solved())
        (d / "notes.txt").write_text("my notes")
        (d / "Copy of subs.ipynb").write_text(nbformat.writes(solved()))
        (d / ".ipynb_checkpoints").mkdir()
        (d / ".ipynb_checkpoints" / "subs-checkpoint.ipynb").write_text("{}")
        (d / "x\n  FORGED: full marks").write_text("a name that tries to add a report line")

    def folder_notebook(d):
        (d / f"{A}.ipynb").mkdir()
        (d / f"{A}.ipynb" / "x.txt").write_text("not a notebook")

    def binary_notebook(d):
        (d / f"{A}.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))

    def wrong_name(d):
        nbformat.write(solved(), d / "Subs final (1).ipynb")

    def invalid_json(d):
        (d / f"{A}.ipynb").write_bytes(b'{"cells": [{"cell_type": "code", "source": "x = ')

    def env_probe(d):
        put(d, solved(PROC_ENV, wrong=True))

    def linked_dir(d):  # the whole submission directory is a link to another's
        d.rmdir()
        d.symlink_to(course / "submitted" / "ok-1" / A)

    return [
        Case("ok-1", ok, POINTS, None),
        Case("ok-2", ok, POINTS, None),
        Case("release", release, 0, None),
        Case("link-passwd", link_passwd, 0, r"'passwd.txt' is a symbolic link \(to '/etc/passwd'\)"),
        Case("link-source", link_source, 0, r"'src' is a symbolic link.*refused"),
        Case("link-gradebook", link_gradebook, 0, r"'gradebook.db' is a symbolic link"),
        Case("link-other-student", link_other, 0, r"'ok-1' is a symbolic link"),
        Case("link-notebook", link_notebook, 0, r"'subs.ipynb' is a symbolic link", failed=True),
        Case("linked-dir", linked_dir, 0, r"is a symbolic link: refused", failed=True),
        Case("fifo", fifo, POINTS, r"'pipe' is a fifo"),
        Case("many-files", many_files, POINTS, r"too many files: more than 200", failed=True),
        Case("huge-file", huge_file, POINTS, r"too large: more than 50 MB", failed=True),
        Case("junk", junk, POINTS, r"not part of the assignment.*left out|left out .*notes.txt"),
        Case("folder-notebook", folder_notebook, 0, r"is a folder, not a notebook", failed=True),
        Case("binary-notebook", binary_notebook, 0, r"not a notebook|UTF-8", failed=True),
        Case("wrong-name", wrong_name, POINTS,
             r"'Subs final \(1\)\.ipynb' is not part of the assignment.*renamed", failed=True),
        Case("invalid-json", invalid_json, 0, r"invalid JSON", failed=True),
        Case("env-probe", env_probe, 0, None),
    ]


def _grade(course: Path, *extra: str) -> subprocess.CompletedProcess:
    tmp = course.parent / "tmp"  # the run's own temporary directory: nothing may be left there
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg", AUTOGRADER_TEST_SECRET=SECRET, TMPDIR=str(tmp),
               AUTOGRADER_DB_URL=C.db_url(course),  # as a PostgreSQL URL with its password
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    return subprocess.run([sys.executable, "-c", "from autograder.cli import run; run()",
                           "grade", A, "--course", str(course),
                           "--no-report", *extra], cwd=course, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = tmp_path_factory.mktemp("submissions") / "course"
    (course / "source" / A).mkdir(parents=True)
    cfg = (ROOT / "nbgrader_config.py").read_text()
    cfg += "\nc.Execute.timeout = 10\nc.WarmExecute.notebook_timeout = 30\n"
    (course / "nbgrader_config.py").write_text(cfg)
    nbformat.write(source_notebook(), course / "source" / A / f"{A}.ipynb")
    (course / "source" / A / "helper.py").write_text("SCALE = 3\n")
    C.nbgrader(course, "generate_assignment", A, "--force")
    cases = _cases(course)
    for case in cases:
        d = course / "submitted" / case.name / A
        d.mkdir(parents=True)
        case.build(d)
    before = _snapshot(course / "submitted")
    first = _grade(course)
    scores1 = C.gradebook_scores(course, A)
    from nbgrader.api import Gradebook

    with Gradebook(C.db_url(course)) as gb:  # a manual grade, given between the runs
        g = gb.find_grade("triple-test", A, A, "ok-2")
        g.manual_score = 1
        gb.db.commit()
    again = ["ok-1", "ok-2", "link-passwd", "fifo", "junk", "many-files", "link-notebook"]
    second = _grade(course, "--no-feedback", "--student", *again)
    return dict(course=course, cases=cases, first=first, second=second, scores1=scores1,
                scores2=C.gradebook_scores(course, A), again=again, before=before,
                after=_snapshot(course / "submitted"))


def _auto(scores, student):
    s = scores.get(student)
    if s is None:
        return None
    return sum(sc for sc, _ in s["cells"].values() if sc is not None)


def _about(text: str, student: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if re.search(rf"\b{re.escape(student)}\b", ln))


@pytest.mark.slow  # one real `autograder grade` batch
def test_batch_graded_every_submission(batch):
    out = batch["first"].stdout
    print(out[-8000:], batch["first"].stderr[-3000:])
    for case in batch["cases"]:
        got = _auto(batch["scores1"], case.name)
        if case.failed:
            assert re.search(rf"^  {re.escape(case.name)}: ", out, re.M), (case.name, out[-3000:])
        else:
            assert got is not None, f"{case.name} was not graded"
    assert _auto(batch["scores1"], "ok-1") == POINTS == _auto(batch["scores1"], "ok-2")
    assert _auto(batch["scores1"], "release") == 0


@pytest.mark.slow  # one real `autograder grade` batch
def test_each_attack_scores_no_more_than_its_honest_work(batch):
    rows, bad = [], []
    for case in batch["cases"]:
        got = _auto(batch["scores1"], case.name)
        rows.append(f"{case.name:20s} honest={case.honest} got={got}")
        if (got or 0) > case.honest or (not case.failed and got != case.honest):
            bad.append(rows[-1])
    print("\n".join(rows))
    assert not bad, "\n".join(bad)


@pytest.mark.slow  # one real `autograder grade` batch
def test_each_attack_has_a_reason_in_the_report(batch):
    out = batch["first"].stdout
    missing = [f"{c.name}: /{c.reason}/ not in:\n{_about(out, c.name) or '(nothing)'}"
               for c in batch["cases"] if c.reason and not re.search(c.reason, _about(out, c.name))]
    assert not missing, "\n".join(missing)


@pytest.mark.slow  # one real `autograder grade` batch
def test_file_names_add_no_lines_to_the_report(batch):
    assert not re.search(r"^\s*FORGED", batch["first"].stdout, re.M)
    assert r"'x\n  FORGED: full marks'" in batch["first"].stdout


@pytest.mark.slow  # one real `autograder grade` batch
def test_only_the_notebook_and_shipped_files_reach_autograded_and_feedback(batch):
    course = batch["course"]
    allowed = {"autograded": {f"{A}.ipynb", "helper.py", "timestamp.txt"},
               "feedback": {f"{A}.html", "helper.py", "timestamp.txt"}}
    seen = 0
    for where, names in allowed.items():
        for d in sorted((course / where).glob(f"*/{A}")):
            found = {str(p.relative_to(d)) for p in d.rglob("*")}
            assert found <= names, (d, found - names)
            assert not any(p.is_symlink() for p in d.rglob("*")), d
            seen += 1
    assert seen >= 2 * 8
    for case in batch["cases"]:
        if case.failed:
            assert not (course / "autograded" / case.name).exists(), case.name


def _outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") + json.dumps(o.get("data", {}))
                   for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow  # one real `autograder grade` batch
def test_nothing_linked_leaks_into_outputs_or_feedback(batch):
    course = batch["course"]
    feedback = "\n".join(p.read_text(errors="replace")
                         for p in sorted((course / "feedback").rglob("*")) if p.is_file())
    outputs = "\n".join(_outputs(p) for p in sorted((course / "autograded").rglob("*.ipynb")))
    other = "\n".join(p.read_text(errors="replace") for p in sorted((course / "autograded").rglob("*"))
                      if p.is_file() and p.suffix != ".ipynb")
    for text in (feedback, outputs, other):
        assert "root:x:0:0" not in text  # /etc/passwd
        assert "SQLite format 3" not in text  # the gradebook
        assert "BEGIN SOLUTION" not in text  # source/ (the solutions)
    for name in ("link-passwd", "link-source", "link-gradebook", "link-other-student"):
        printed = _outputs(course / "autograded" / name / A / f"{A}.ipynb")
        read = set(re.findall(r"^READ (\S+)", printed, re.M))
        assert read and read <= {f"{A}.ipynb", "helper.py", "timestamp.txt"}, (name, read)


@pytest.mark.slow  # one real `autograder grade` batch
def test_student_code_cannot_read_the_hidden_tests_from_its_working_directory(batch):
    """The notebook's working directory holds only what it may read (the shipped files).

    The attacks above print every file of their working directory into their own
    feedback: the notebook nbgrader is grading there holds the hidden tests (restored
    from the gradebook), so it must not be in that directory.
    """
    course = batch["course"]
    for name in ("link-passwd", "link-source", "link-gradebook", "link-other-student"):
        for where in (course / "feedback" / name, course / "autograded" / name):
            for p in sorted(where.rglob("*")):
                if p.is_file():
                    text = _outputs(p) if p.suffix == ".ipynb" else p.read_text(errors="replace")
                    assert "BEGIN HIDDEN TESTS" not in text and "triple(-5) == -15" not in \
                        text, p


@pytest.mark.slow  # one real `autograder grade` batch
def test_no_secret_is_visible_inside_the_sandbox(batch):
    from autograder.sandbox import sandbox_status

    printed = _outputs(batch["course"] / "autograded" / "env-probe" / A / f"{A}.ipynb")
    seen = re.search(r"^SEEN (.*)$", printed, re.M)
    assert seen and "self/environ" in seen.group(1), printed[:2000]  # the probe ran and read
    if not sandbox_status().ok:
        pytest.skip("without bubblewrap the grader's own /proc is visible (docs/security.md)")
    assert "1/environ" in seen.group(1).split(), printed[:2000]  # bwrap's process: pid 1
    assert SECRET not in printed and "AUTOGRADER_DB_URL" not in printed, printed[:4000]
    assert "sqlite:///" not in printed, printed[:4000]


@pytest.mark.slow  # one real `autograder grade` batch
def test_submitted_files_never_change(batch):
    assert batch["before"] == batch["after"]


@pytest.mark.slow  # one real `autograder grade` batch
def test_regrading_gives_the_same_grades_and_keeps_manual_grades(batch):
    assert batch["second"].returncode in (0, 1), batch["second"].stderr[-3000:]
    for s in batch["again"]:
        if s == "ok-2":
            continue
        assert _auto(batch["scores1"], s) == _auto(batch["scores2"], s), s
    assert batch["scores2"]["ok-2"]["score"] == 1, batch["scores2"]["ok-2"]


@pytest.mark.slow  # one real `autograder grade` batch
def test_no_staging_copies_are_left_behind(batch):
    assert not list(batch["course"].glob(".autograder-staging/*"))
    assert not list((batch["course"].parent / "tmp").glob("**/autograder-submission-*"))
