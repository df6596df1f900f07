"""``autograder grade --scheduler``: ps1 graded on a Dask LocalCluster into a PostgreSQL gradebook.

A throwaway PostgreSQL server (initdb + pg_ctl on a unix socket in a private
temporary directory) holds the gradebook; a LocalCluster of two worker processes
grades a small mixed batch of ps1 (the solution, the blank release, three
one-bug fixtures of tests/bugs_ps1.py and a corrupt notebook). The same
submissions, graded by the one-machine pool into its SQLite gradebook, are the
reference: every autograded cell must score the same.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, e2e_bugs

from autograder import course as C

A = "ps1"
# graded in the session's ps1 batch too (conftest.e2e_bugs), whose scores these are compared with
BUGS = ("mean-square-x-over-2", "tanh-mean-no-1-over-n", "h-is-a-leaf")
CORRUPT = "corrupt"
MANUAL = "ps1-detach-vs-data"  # the manually graded written answer


# ---------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgres():
    """A private PostgreSQL server on a unix socket; yields ``make_db(name) -> URL``."""
    bindir = _pg_bindir()
    if bindir is None:
        msg = ("no PostgreSQL server binaries (initdb, pg_ctl): bin/setup --dev installs them "
               "(apt-get install postgresql)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)  # CI runs bin/setup --dev: a missing server is a set-up failure
        pytest.skip(msg)
    # PostgreSQL refuses to run as root: run it as nobody, in a directory nobody owns
    # (outside pytest's tmp_path, which is private to root)
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(base, "nobody")
    with socket.socket() as s:  # a free port number: it names the socket file
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def pg(tool, *args, timeout=60):
        proc = subprocess.run([*as_user, str(bindir / tool), *args], capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, f"{tool} {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
        return proc

    data = base / "data"
    pg("initdb", "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8", "--no-sync")
    opts = (f"-c listen_addresses='' -c unix_socket_directories={base} -p {port} "
            f"-c fsync=off -c full_page_writes=off")
    pg("pg_ctl", "-D", str(data), "-l", str(base / "server.log"), "-w", "-o", opts, "start")

    def make_db(name: str) -> str:
        pg("createdb", "-h", str(base), "-p", str(port), "-U", "grader", name)
        return f"postgresql+psycopg://grader@/{name}?host={base}&port={port}"

    try:
        yield make_db
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------- the batch


def _hashes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def _gradebook_url(url: str | None):
    """``AUTOGRADER_DB_URL`` (which nbgrader_config.py reads) set to ``url``, or unset, then as before.

    ``grade(db_url=...)`` sets it for the rest of the process: this undoes that too.
    """
    before = os.environ.get("AUTOGRADER_DB_URL")
    if url:
        os.environ["AUTOGRADER_DB_URL"] = url
    else:
        os.environ.pop("AUTOGRADER_DB_URL", None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AUTOGRADER_DB_URL", None)
        else:
            os.environ["AUTOGRADER_DB_URL"] = before


def _scores(course: Path, url: str | None = None) -> dict:
    """The gradebook's scores; ``url``: read this gradebook, not the course's default."""
    with _gradebook_url(url):
        return C.gradebook_scores(course, A)


def _auto_cells(scores: dict) -> dict:
    return {s: {k: tuple(v) for k, v in d["cells"].items() if k != MANUAL}
            for s, d in scores.items()}


def _write_batch(course: Path) -> list[str]:
    release = course / "release" / A / f"{A}.ipynb"
    source = course / "source" / A / f"{A}.ipynb"
    C.write_submission(course, A, "solution", {f"{A}.ipynb": C.solution_submission(release, source)})
    C.write_submission(course, A, "release", {f"{A}.ipynb": release})
    bugs = {b.name: b for b in e2e_bugs(A)}
    for name in BUGS:
        C.write_submission(course, A, f"bug-{name}",
                           {f"{A}.ipynb": C.solution_submission(release, source, bugs[name].edits)})
    C.write_submission(course, A, CORRUPT, {f"{A}.ipynb": b'{"cells": [ this is not JSON'})
    return sorted(["solution", "release", *(f"bug-{b}" for b in BUGS), CORRUPT])


@pytest.fixture(scope="module")
def batch(tmp_path_factory, postgres, graded):
    from autograder.grading import grade

    tmp = tmp_path_factory.mktemp("cluster")
    with _gradebook_url(None):
        course = C.copy_course(tmp / "course", A, root=ROOT)
        C.nbgrader(course, "generate_assignment", A, "--force")  # release/ (SQLite gradebook)
        students = _write_batch(course)
        before = _hashes(course / "submitted")
        url = postgres("gradebook")
        out = io.StringIO()  # grade(db_url=url) sets AUTOGRADER_DB_URL: undone after this block
        run = grade(course, A, jobs=2, scheduler="local", db_url=url, stream=out)
    print(f"\n{len(students)} submissions, 2 workers, start-up included: LocalCluster/PostgreSQL "
          f"{run.autograde_seconds:.1f} s")
    # the same submissions graded by the process pool with a SQLite gradebook: the session's
    # ps1 batch (tests/conftest.py's `graded`), whose students have the same names
    return {"course": course, "url": url, "run": run, "progress": out.getvalue(),
            "pool_scores": graded(A).scores, "before": before,
            "students": students, "scores": _scores(course, url)}


# ---------------------------------------------------------------------------- the tests


def test_grading_without_scheduler_does_not_import_dask(tmp_path):
    course = C.copy_course(tmp_path / "course", A, root=ROOT)  # no submissions: exit status 2
    code = ("import sys, autograder.cli, autograder.cluster\n"
            f"rc = autograder.cli.main(['grade', {A!r}, '--course', {str(course)!r}])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
            "assert not bad, bad\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no submissions of ps1" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_cluster_scores_equal_the_pool_scores_read_from_postgresql(batch):
    ours, pool = _auto_cells(batch["scores"]), _auto_cells(batch["pool_scores"])
    graded = sorted(set(batch["students"]) - {CORRUPT})
    assert sorted(ours) == graded, f"PostgreSQL gradebook has {sorted(ours)}"
    for s in graded:
        assert ours[s] == pool[s], f"{s}: Dask/PostgreSQL {ours[s]} vs pool/SQLite {pool[s]}"
    full = {gid: (mx, mx) for gid, (_, mx) in ours["solution"].items()}
    assert ours["solution"] == full, "the solution must get every autograded point"
    top = batch["scores"]["solution"]["auto_score"]
    for s in graded:
        if s != "solution":
            assert batch["scores"][s]["auto_score"] < top, f"{s} scored like the solution"


@pytest.mark.slow
def test_grades_went_to_postgresql_not_the_sqlite_gradebook(batch):
    from nbgrader.api import Gradebook

    sqlite = f"sqlite:///{batch['course'] / 'gradebook.db'}"
    with Gradebook(sqlite) as gb:
        assert gb.assignment_submissions(A) == [], "the SQLite gradebook got submissions"
    with Gradebook(batch["url"]) as gb:  # ensure_in_gradebook recorded ps1 there from source/
        assert {n.name for n in gb.find_assignment(A).notebooks} == {A}
    csv = (batch["course"] / "reports" / A / "grades.csv").read_text().splitlines()
    rows = {line.split(",")[3]: line.split(",") for line in csv[1:]}
    for s, d in batch["scores"].items():
        assert float(rows[s][-2]) == d["score"], f"grades.csv disagrees with the gradebook for {s}"


@pytest.mark.slow
def test_corrupt_notebook_is_reported_and_the_others_are_graded(batch):
    run, course = batch["run"], batch["course"]
    assert run.jobs == 2
    assert [r.student for r in run.failures] == [CORRUPT]
    assert "JSON" in run.failures[0].reason, run.failures[0].reason
    for s in set(batch["students"]) - {CORRUPT}:
        assert (course / "autograded" / s / A / f"{A}.ipynb").is_file(), s
        assert (course / "feedback" / s / A / f"{A}.html").is_file(), s
    assert not (course / "autograded" / CORRUPT).exists()
    text = batch["progress"]
    n = len(batch["students"])
    assert f"{n}/{n}" in text and "failed=1" in text and f"FAILED {CORRUPT}" in text
    from autograder.sandbox import sandbox_status

    if sandbox_status().ok:  # the workers' probe found the sandbox working there too
        assert "WITHOUT the OS sandbox" not in text, text
    report = (course / "reports" / A / "report.md").read_text()
    assert CORRUPT in report and "JSON" in report
    # the feedback says why a bug lost points (the hidden checks ran in the workers' zygotes)
    page = (course / "feedback" / "bug-tanh-mean-no-1-over-n" / A / f"{A}.html").read_text()
    assert "off by a factor of N" in page


@pytest.mark.slow
def test_rerun_changes_nothing_and_keeps_manual_grades(batch, capsys):
    from nbgrader.api import Gradebook

    from autograder.cli import main

    course, url = batch["course"], batch["url"]
    with Gradebook(url) as gb:
        g = gb.find_grade(MANUAL, A, A, "solution")
        g.manual_score = 1.5
        gb.db.commit()
    env_before = os.environ.get("AUTOGRADER_DB_URL")
    with _gradebook_url(None):  # the command, as the instructor types it; --db-url sets the URL
        # two of the batch again (a re-grade of the whole batch costs as much as the batch)
        rc = main(["grade", A, "--course", str(course), "--jobs", "2", "--scheduler", "local",
                   "--db-url", url, "--no-report", "--student", "solution", CORRUPT])
    assert os.environ.get("AUTOGRADER_DB_URL") == env_before, "the gradebook URL leaked"
    out = capsys.readouterr().out
    assert rc == 1, out  # 1: a submission (the corrupt one) could not be graded
    assert "1/2 submissions graded" in out, out
    assert f"  {CORRUPT}: " in out, out
    after = _scores(course, url)
    assert _auto_cells(after) == _auto_cells(batch["scores"])  # everyone's, the others untouched
    assert after["solution"]["score"] == batch["scores"]["solution"]["auto_score"] + 1.5
    assert _hashes(course / "submitted") == batch["before"], "submitted/ changed"


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_course_is_a_clear_error(tmp_path):
    from autograder.cluster import ClusterError, ClusterPool

    elsewhere = tmp_path / "not-shared"  # as if the workers mounted the course elsewhere
    with pytest.raises(ClusterError, match="same path") as e:
        ClusterPool("local", 1, course=elsewhere, assignment=A, students=["alice"],
                    log_path=str(tmp_path / "grading.log"), feedback=False, db_url=None)
    assert f"cannot see {elsewhere}/nbgrader_config.py" in str(e.value)


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    from autograder.cluster import ClusterError, ClusterPool

    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address}"):
            ClusterPool(address, 1, course=tmp_path, assignment=A, students=["alice"],
                        log_path=str(tmp_path / "grading.log"), feedback=False, db_url=None,
                        connect_timeout=2)
