"""Submissions cleaned before nbgrader touches them (docs/security.md).

nbgrader reads ``submitted/<student>/<assignment>/`` itself: it globs the
notebooks, opens them, and copies every other file into ``autograded/`` (and
from there into ``feedback/``) with ``shutil.copy``, which follows symbolic
links, reads fifos and devices, and checks each name against its ignore globs
in time quadratic in the size of a directory. So a link to ``/etc/passwd``, to
``source/``, to the gradebook or to another student's notebook was copied
outside the sandbox and shown in the attacker's feedback; 20,000 small files
stalled a worker for a quarter of an hour; a 300 MB file was copied three times.

:func:`clean_submission` makes a *staging copy* of one submission, and
``autograder grade`` (:func:`autograder.grading.grade_submission`) points
nbgrader's ``submitted_directory`` at it, so nbgrader never sees the original:

- the submission is scanned without following anything (``lstat``, directories
  opened with ``O_NOFOLLOW`` relative to their parent); the scan stops as soon
  as the submission has more entries than :attr:`SubmissionLimits.files` or
  more bytes than :attr:`SubmissionLimits.mb`, and the submission is then not
  graded, with the reason (20,000 files are refused after reading ~200 names;
  a 300 MB file is never read);
- only regular files are taken: symbolic links (to a file or a directory, the
  notebook itself included), fifos, sockets and devices are refused, each with
  a note in the report, and never opened;
- only what the assignment consists of is copied: its notebooks (the names the
  gradebook knows), the files ``release/<assignment>/`` ships (``source/`` too,
  e.g. ps5's ``minigrad.py``) and nbgrader's ``timestamp.txt`` and
  ``submission_secret.txt`` (``nbgrader release_feedback`` needs it in
  ``feedback/``: it names the student's released feedback). Anything else
  is left out with a note, so it never reaches ``autograded/`` or
  ``feedback/``;
- the original files are only read, never changed, so re-grading gives the
  same result and nothing is lost.

Limits: ``SubmissionLimits()`` (200 files and folders, 50 MB), changed by
``AUTOGRADER_SUBMISSION_LIMITS="files=500,mb=100"``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cleaned", "SubmissionLimits", "clean_submission", "declared_files",
           "staged_submission"]

#: nbgrader's own file in a submission (the time it was collected: late penalties)
TIMESTAMP = "timestamp.txt"
#: nbgrader's per-submission secret (``nbgrader submit``): ``release_feedback`` reads it
#: from ``feedback/<student>/<assignment>/`` to name the feedback only that student fetches
SUBMISSION_SECRET = "submission_secret.txt"
TIMESTAMP_MAX = 4096
#: names nbgrader ignores anyway (CourseDirectory.ignore's defaults): left out silently
DEFAULT_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")
_SHOWN = 5  # names listed per note


@dataclass(frozen=True)
class SubmissionLimits:
    """What one submission may hold (``AUTOGRADER_SUBMISSION_LIMITS`` overrides)."""

    files: int = 200  # files and folders, at every depth
    mb: float = 50.0  # bytes of all regular files together

    @property
    def bytes(self) -> int:
        return int(self.mb * (1 << 20))

    @classmethod
    def from_env(cls) -> SubmissionLimits:
        spec = os.environ.get("AUTOGRADER_SUBMISSION_LIMITS", "")
        kw: dict = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            k, _, v = part.partition("=")
            k = k.strip()
            if k == "files":
                kw[k] = int(v)
            elif k == "mb":
                kw[k] = float(v)
        return cls(**kw)


@dataclass
class Cleaned:
    """The outcome of :func:`clean_submission`.

    ``staging``: the directory to hand nbgrader as ``submitted_directory`` (it holds
    ``<student>/<assignment>/``), None if nothing may be graded; ``directory``: the
    cleaned copy itself; ``fatal``: why the submission cannot be graded at all;
    ``notes``: incidents for the report (``{"kind", "notebook", "grade_id", "detail"}``);
    ``taken``: the relative paths copied; ``entries``/``bytes``: what the scan read.
    """

    staging: Path | None = None
    directory: Path | None = None
    fatal: str | None = None
    notes: list[dict] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    entries: int = 0
    bytes: int = 0

    def nbgrader_directory(self, root: str | os.PathLike) -> str:
        """``staging`` as nbgrader's ``submitted_directory`` (relative to the course if inside)."""
        rel = os.path.relpath(self.staging, os.path.realpath(root))
        return str(self.staging) if rel.startswith("..") else rel

    def remove(self) -> None:
        """Delete the staging copy (the original submission is not touched)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = self.directory = None


def _show(name: str) -> str:
    """A file name as the report shows it: quoted, control characters escaped, bounded."""
    s = repr(name)
    return s if len(s) <= 120 else s[:100] + "...'"


def _ignored(rel: str, ignore) -> bool:
    return any(fnmatch.fnmatch(part, pat) for part in rel.split("/") for pat in ignore)


def declared_files(course: str | os.PathLike, assignment: str,
                   ignore=DEFAULT_IGNORE) -> set[str]:
    """Relative paths of the non-notebook files the assignment ships (release/ and source/)."""
    out: set[str] = set()
    for where in ("release", "source"):
        root = Path(course) / where / assignment
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):  # the instructor's tree
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames if not _ignored(d, ignore)]
            for f in filenames:
                rel = f if rel_dir == "." else f"{rel_dir}/{f}"
                if not f.endswith(".ipynb") and not _ignored(rel, ignore) \
                        and os.path.isfile(os.path.join(dirpath, f)):
                    out.add(rel.replace(os.sep, "/"))
    return out


_KINDS = {stat.S_IFIFO: "fifo (named pipe)", stat.S_IFSOCK: "socket",
          stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _safe_for_nbgrader(path: str) -> bool:
    """nbgrader puts ``submitted_directory`` into a glob and, when absolute, a regex unescaped."""
    return re.fullmatch(r"[A-Za-z0-9_./-]+", path) is not None


def _staging_root(course: Path, staging_dir: str | None) -> Path:
    base = staging_dir or tempfile.gettempdir()
    if not _safe_for_nbgrader(os.path.realpath(base)):
        base = str(course / ".autograder-staging")  # nbgrader escapes the course root itself
        os.makedirs(base, exist_ok=True)
    return Path(os.path.realpath(tempfile.mkdtemp(prefix="autograder-submission-", dir=base)))


def clean_submission(course: str | os.PathLike, assignment: str, student: str,
                     notebooks: list[str] | None, *, limits: SubmissionLimits | None = None,
                     ignore=DEFAULT_IGNORE, declared: set[str] | None = None,
                     staging_dir: str | None = None, submitted: str = "submitted") -> Cleaned:
    """A cleaned staging copy of ``submitted/<student>/<assignment>`` (see the module docstring).

    ``notebooks``: the assignment's notebook names without ``.ipynb`` (from the gradebook);
    None takes every top-level ``*.ipynb``. ``submitted``: nbgrader's submitted directory
    (the instructor's: it may be a link, what is below it may not). The original is only read.
    """
    course = Path(course)
    lim = limits or SubmissionLimits.from_env()
    declared = declared_files(course, assignment, ignore) if declared is None else set(declared)
    out = Cleaned()

    def note(detail: str, notebook: str = "") -> None:
        out.notes.append({"kind": "file", "notebook": notebook, "grade_id": None,
                          "detail": detail})

    where = f"{submitted}/{student}/{assignment}"
    fds: dict[str, int] = {}  # open directories by relative path ("": the submission)
    opened: list[int] = []  # every fd to close
    try:
        # the student's and the assignment's directories: real directories, never links
        try:
            parent = os.open(course / submitted, _O_DIR & ~os.O_NOFOLLOW)
            opened.append(parent)
            for i, part in enumerate((student, assignment)):
                st = os.stat(part, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    out.fatal = (f"{where if i else f'{submitted}/{student}'} is a symbolic "
                                 f"link: refused, links are never followed (not graded)")
                    return out
                if not stat.S_ISDIR(st.st_mode):
                    out.fatal = f"{where} is not a directory (not graded)"
                    return out
                parent = os.open(part, _O_DIR, dir_fd=parent)
                opened.append(parent)
        except OSError as e:
            out.fatal = f"{where} cannot be read ({e.strerror or e}): not graded"
            return out
        fds[""] = parent

        # 1. scan: names and lstat only, stopping at the limits
        regular: dict[str, os.stat_result] = {}
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            with os.scandir(fds[rel_dir]) as it:
                for entry in it:
                    out.entries += 1
                    if out.entries > lim.files:
                        out.fatal = (f"too many files: more than {lim.files} files and folders "
                                     f"in {where} (the limit; AUTOGRADER_SUBMISSION_LIMITS): "
                                     f"not graded")
                        return out
                    rel = entry.name if not rel_dir else f"{rel_dir}/{entry.name}"
                    st = entry.stat(follow_symlinks=False)
                    mode = st.st_mode
                    if _ignored(rel, ignore):
                        continue  # nbgrader's ignore list (checkpoints, caches): never taken
                    if stat.S_ISLNK(mode):
                        try:
                            target = os.readlink(entry.name, dir_fd=fds[rel_dir])
                        except OSError:
                            target = "?"
                        note(f"{_show(rel)} is a symbolic link (to {_show(target)}): refused, "
                             f"links are never followed", _nb_of(rel, notebooks))
                    elif stat.S_ISDIR(mode):
                        if not rel_dir and _is_notebook_name(entry.name, notebooks):
                            note(f"{_show(rel)} is a folder, not a notebook file: refused",
                                 entry.name[:-6])
                            continue
                        try:
                            fds[rel] = os.open(entry.name, _O_DIR, dir_fd=fds[rel_dir])
                            opened.append(fds[rel])
                        except OSError as e:
                            note(f"folder {_show(rel)} cannot be read ({e.strerror}): left out")
                            continue
                        stack.append(rel)
                    elif stat.S_ISREG(mode):
                        out.bytes += st.st_size
                        if out.bytes > lim.bytes:
                            out.fatal = (f"too large: more than {lim.mb:g} MB of files in "
                                         f"{where} (the limit; AUTOGRADER_SUBMISSION_LIMITS; "
                                         f"{_show(rel)} alone is {st.st_size / (1 << 20):.1f} "
                                         f"MB): not graded")
                            return out
                        regular[rel] = st
                    else:
                        what = _KINDS.get(stat.S_IFMT(mode), "special file")
                        note(f"{_show(rel)} is a {what}: refused, only regular files are taken",
                             _nb_of(rel, notebooks))

        # 2. what the assignment consists of
        take, strays, stray_nbs = [], [], []
        for rel, st in sorted(regular.items()):
            if "/" not in rel and _is_notebook_name(rel, notebooks):
                take.append(rel)
            elif rel in declared:
                take.append(rel)
            elif rel in (TIMESTAMP, SUBMISSION_SECRET) and st.st_size <= TIMESTAMP_MAX:
                take.append(rel)
            elif "/" not in rel and rel.endswith(".ipynb"):
                stray_nbs.append(rel)
            else:
                strays.append(rel)
        expected = ", ".join(f"{n}.ipynb" for n in notebooks or [])
        missing = [n for n in notebooks or [] if f"{n}.ipynb" not in take]
        for rel in stray_nbs:
            hint = " (renamed?)" if missing else ""
            note(f"{_show(rel)} is not part of the assignment (it has {expected}): not "
                 f"graded{hint}", rel[:-6])
        if strays:
            shown = ", ".join(_show(s) for s in strays[:_SHOWN])
            more = f" and {len(strays) - _SHOWN} more" if len(strays) > _SHOWN else ""
            note(f"left out {len(strays)} file(s) that are not part of the assignment "
                 f"(only its notebooks and the files it ships are graded): {shown}{more}")

        # 3. the staging copy: each file opened without following links, checked unchanged
        out.staging = _staging_root(course, staging_dir)
        out.directory = out.staging / student / assignment
        out.directory.mkdir(parents=True)
        for rel in take:
            rel_dir, _, name = rel.rpartition("/")
            st = regular[rel]
            try:
                fd = os.open(name, _O_FILE, dir_fd=fds[rel_dir])
            except OSError as e:
                note(f"{_show(rel)} cannot be read ({e.strerror}): left out", _nb_of(rel, notebooks))
                continue
            try:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != \
                        (st.st_dev, st.st_ino) or now.st_size > st.st_size:
                    note(f"{_show(rel)} changed while it was read: left out",
                         _nb_of(rel, notebooks))
                    continue
                dest = out.directory / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with os.fdopen(fd, "rb", closefd=False) as src, open(dest, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
                out.taken.append(rel)
            finally:
                os.close(fd)
        return out
    except OSError as e:  # unreadable: that submission is not graded, never the original
        out.remove()
        out.fatal = f"{where} cannot be read ({e}): not graded"
        return out
    except BaseException:
        out.remove()
        raise
    finally:
        for fd in opened:
            os.close(fd)


def _is_notebook_name(name: str, notebooks: list[str] | None) -> bool:
    if not name.endswith(".ipynb"):
        return False
    return notebooks is None or name[:-6] in notebooks


def _nb_of(rel: str, notebooks: list[str] | None) -> str:
    return rel[:-6] if "/" not in rel and _is_notebook_name(rel, notebooks) else ""


def assignment_notebooks(db_url: str, assignment: str) -> list[str] | None:
    """The notebook names of ``assignment`` in the gradebook, or None if it has none recorded."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            return [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            return None


@contextmanager
def staged_submission(coursedir, student: str, *, limits: SubmissionLimits | None = None,
                      staging_dir: str | None = None):
    """nbgrader's ``coursedir`` reads a cleaned copy of ``student``'s submission inside the block.

    Yields the :class:`Cleaned` result; while it is open ``coursedir.submitted_directory``
    points at the staging copy (unless ``fatal`` is set: then nothing may be graded).
    Afterwards the setting is restored and the copy deleted. ``staging_dir``: where the
    copy is made (default: the system's temporary directory); ``autograder grade`` uses
    its run's slot root, which it removes even when a worker was killed.
    """
    try:
        try:
            names = assignment_notebooks(coursedir.db_url, coursedir.assignment_id)
        except Exception:  # noqa: BLE001  (nbgrader will say what is wrong with the gradebook)
            names = None
        cleaned = clean_submission(coursedir.root, coursedir.assignment_id, student, names,
                                   limits=limits, ignore=tuple(coursedir.ignore),
                                   staging_dir=staging_dir,
                                   submitted=coursedir.submitted_directory)
    except Exception as e:  # noqa: BLE001  (fail closed: that submission only, not the batch)
        cleaned = Cleaned(fatal=f"could not check the files of submitted/{student}/"
                                f"{coursedir.assignment_id} ({type(e).__name__}: {e}): not graded")
    saved = coursedir.submitted_directory
    try:
        if cleaned.staging is not None and not cleaned.fatal:
            coursedir.submitted_directory = cleaned.nbgrader_directory(coursedir.root)
        yield cleaned
    finally:
        coursedir.submitted_directory = saved
        cleaned.remove()
