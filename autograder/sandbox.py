"""The grading sandbox: what student code can reach and how long it may run.

The security model in plain words is ``docs/security.md``; the processes are drawn
in ``docs/architecture.md``. Verdicts are safe because tests never run in the
student's process (:mod:`autograder.judge`); this module keeps that process small:

1. **The OS sandbox** (:func:`wrap_zygote_argv`). Each grading slot's zygote runs
   under bubblewrap (``bwrap``), started with an empty environment
   (:func:`zygote_env`): read-only binds of only what Python needs (the system's
   ``/usr``, a few files of ``/etc``, the interpreter, the virtual environment, the
   ``autograder`` package), its slot directory read-write (the only writable place
   besides a private ``/tmp``), no network and no other namespace shared with the
   host (``--unshare-all``), its own pid namespace, no capabilities, and it dies
   with the grader. The course directory, ``source/``, the gradebook and the other
   submissions are simply not there; for an assignment graded without torch,
   neither is torch. Without bwrap the grader says so loudly (stderr and the report).
2. **Limits** (:func:`limit_child`, :class:`Limits`). The forked process that runs
   one notebook gets rlimits on address space, CPU time, file size and core dumps;
   wall time per request and per notebook is enforced from both sides, output is
   capped, and every process the notebook left behind is killed (the zygote is a
   subreaper, so even double-forked daemons come back to it).

Bad input (:func:`audit_submission`, run by ``autograder grade`` before nbgrader):
a file that is not a notebook, invalid JSON, an unknown nbformat or nbgrader
schema, a wrong file name or a missing notebook stops that submission only,
with the reason in words; deleted, edited, retyped or reordered test cells,
changed points and stripped metadata become notes in the report, and
:func:`robust_overwrite_cells_class` puts missing test cells back even when their
neighbours are gone too.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Limits",
    "bwrap_argv",
    "limit_child",
    "zygote_env",
    "sandbox_status",
    "unsandboxed_warning",
    "wrap_zygote_argv",
]

# ============================================================================ 1. OS sandbox

#: environment variables a zygote may inherit (everything else is cleared: the
#: grader's environment can hold a database URL with a password)
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "NO_COLOR", "TERM",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
            "PYTHONWARNINGS", "PYTHONUNBUFFERED", "AUTOGRADER_LIMITS")

#: system paths bound read-only (symlinks such as /bin -> usr/bin are recreated as symlinks)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: the few files of /etc that Python, numpy, torch and matplotlib read
ETC_PATHS = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts",
             "/etc/alternatives", "/etc/matplotlibrc", "/etc/mime.types")


@dataclass(frozen=True)
class SandboxStatus:
    ok: bool
    reason: str  # why not, or a one-line description of what is on
    bwrap: str | None = None
    flags: tuple[str, ...] = ()


def _ns_flags(userns: bool) -> list[str]:
    flags = ["--unshare-all", "--die-with-parent", "--new-session"]
    if userns:
        # an unprivileged user inside (no capabilities), who cannot make new namespaces
        flags += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    else:
        flags += ["--cap-drop", "ALL"]
    return flags


@functools.lru_cache(maxsize=None)
def sandbox_status() -> SandboxStatus:
    """Whether bubblewrap works here, and with which flags (probed once per process).

    ``AUTOGRADER_SANDBOX=off`` turns it off (for debugging; the grader then
    warns as loudly as when bwrap is missing).
    """
    if os.environ.get("AUTOGRADER_SANDBOX", "").lower() in ("off", "0", "no", "false"):
        return SandboxStatus(False, "turned off by AUTOGRADER_SANDBOX=off")
    if sys.platform != "linux":
        return SandboxStatus(False, f"bubblewrap needs Linux (this is {sys.platform})")
    path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK)
                                     else None)
    if not path:
        return SandboxStatus(False, "bubblewrap (bwrap) is not installed: run bin/setup, or "
                                    "apt-get install bubblewrap")
    errors = []
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as slot:
        for userns in (True, False):
            flags = tuple(_ns_flags(userns))
            argv = bwrap_argv([sys.executable, "-c", "import sys; sys.exit(0)"], slot,
                              bwrap=path, flags=flags, env={})
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                errors.append(str(e))
                continue
            if proc.returncode == 0:
                what = "user namespace, uid 65534" if userns else "no user namespace, no capabilities"
                return SandboxStatus(True, f"bubblewrap sandbox on ({what})", path, flags)
            errors.append(proc.stderr.strip()[-300:] or f"exit code {proc.returncode}")
    return SandboxStatus(False, "bubblewrap does not work here: " + " | ".join(errors))


def unsandboxed_warning(reason: str) -> str:
    return (f"WARNING: grading WITHOUT the OS sandbox ({reason}). Student code can read "
            f"and write everything this user can (the course directory, source/, the "
            f"gradebook, other submissions) and use the network. Time, memory and output "
            f"limits, process clean-up and the verdict-integrity checks still apply. "
            f"See docs/security.md.")


_WARNED: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    bar = "!" * 78
    print(f"{bar}\n{unsandboxed_warning(reason)}\n{bar}", file=sys.stderr, flush=True)


def _forbidden_roots() -> list[Path]:
    """Directories student code must never see, even if they sit below a bound path."""
    roots = []
    try:
        from .course import repo_root

        roots.append(repo_root())
    except Exception:
        pass
    course = os.environ.get("AUTOGRADER_COURSE")
    if course:
        roots.append(Path(course).resolve())
    return roots


def _python_paths() -> list[str]:
    """What the interpreter needs: its prefixes, the venv, and the autograder package."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    try:
        import site

        paths.update(site.getsitepackages())
    except Exception:
        pass
    return sorted(p for p in paths if p and os.path.isdir(p))


def _is_under(path: str | Path, root: str | Path) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=None)
def _bwrap_sizes(bwrap: str) -> bool:
    """Whether this bubblewrap sizes a tmpfs (``--size``: bubblewrap 0.7 and newer)."""
    try:
        proc = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in proc.stdout + proc.stderr


def bwrap_argv(argv: list[str], slot_dir: str | os.PathLike, *, bwrap: str | None = None,
               flags: tuple[str, ...] | None = None, env: dict | None = None) -> list[str]:
    """The bubblewrap command line that runs ``argv`` with only ``slot_dir`` writable."""
    slot = os.path.realpath(slot_dir)
    out = [bwrap or "/usr/bin/bwrap", *(flags if flags is not None else _ns_flags(True))]
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP} if env is None else env
    out += ["--clearenv"]
    for k, v in sorted(env.items()):
        out += ["--setenv", k, v]
    out += ["--setenv", "HOME", slot, "--setenv", "TMPDIR", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    # /tmp and /dev/shm are memory: sized, where this bwrap can (a notebook filled 2 GB of /tmp)
    size = ["--size", str(Limits.from_env().scratch_mb << 20)] if _bwrap_sizes(out[0]) else []
    out += ["--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", "/tmp", *size, "--tmpfs", "/dev/shm"]
    bound: list[str] = []
    for p in SYSTEM_PATHS:
        if os.path.islink(p):
            out += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            out += ["--ro-bind", p, p]
            bound.append(p)
    for p in ETC_PATHS:
        out += ["--ro-bind-try", p, p]
    if os.path.isdir("/sys/devices/system/cpu"):  # torch and numpy count cores here
        out += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    for p in _python_paths():
        if not any(_is_under(p, b) for b in bound):
            out += ["--ro-bind", p, p]
            bound.append(p)
    # a course directory below a bound path (a venv at /, a course inside the venv) is masked
    for root in _forbidden_roots():
        if any(_is_under(root, b) and not _is_under(b, root) for b in bound):
            out += ["--tmpfs", str(root), "--remount-ro", str(root)]
    pkg = str(Path(__file__).resolve().parent)  # the autograder package itself (no solutions)
    if not any(_is_under(pkg, b) for b in bound):
        out += ["--ro-bind", pkg, pkg]
    out += ["--bind", slot, slot, "--chdir", slot]
    return out + ["--", *argv]


#: what a zygote started WITHOUT bwrap also keeps: where Python finds its packages and a
#: home; never the grader's other variables (a database URL, tokens)
ENV_KEEP_UNSANDBOXED = ("HOME", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH", "AUTOGRADER_SANDBOX")


def zygote_env() -> dict[str, str]:
    """The environment to start a zygote's process with (``Popen(env=...)``), never the grader's.

    Under bubblewrap that process is bwrap itself, which becomes pid 1 of the sandbox:
    its environment is readable there as ``/proc/1/environ``, so it gets only ``PATH``
    (bwrap ``--clearenv``s and ``--setenv``s the allow-list :data:`ENV_KEEP` for the
    zygote). Without bwrap the zygote gets :data:`ENV_KEEP` and
    :data:`ENV_KEEP_UNSANDBOXED` only.
    """
    path = os.environ.get("PATH") or os.defpath
    if sandbox_status().ok:
        return {"PATH": path}
    keep = set(ENV_KEEP) | set(ENV_KEEP_UNSANDBOXED)
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = path
    return env


def torch_paths() -> list[str]:
    """Where torch and the other libraries that differentiate for you are installed (hidden
    in a sandbox without torch: :data:`autograder.judge.sandboxed.WITHOUT_TORCH`)."""
    import importlib.util

    from .judge.sandboxed import WITHOUT_TORCH

    out = []
    for name in WITHOUT_TORCH:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isdir(loc):
                out.append(os.path.realpath(loc))
    return out


def wrap_zygote_argv(argv: list[str], slot_dir: str | os.PathLike, *,
                     torch: bool | str = True) -> list[str]:
    """``argv`` under the OS sandbox, or unchanged (with a loud warning) where bwrap is unavailable.

    ``torch=False``: torch's package directories are covered by empty read-only
    directories, so that in the sandbox torch does not exist.
    """
    st = sandbox_status()
    if not st.ok:
        _warn_once(st.reason)
        return list(argv)
    wrapped = bwrap_argv(argv, slot_dir, bwrap=st.bwrap, flags=st.flags)
    if not torch:
        hide = []
        for p in torch_paths():
            hide += ["--tmpfs", p, "--remount-ro", p]
        i = wrapped.index("--")
        wrapped[i:i] = hide
    # the executor starts the zygote with cwd=slot_dir/work: keep that inside too
    i = wrapped.index("--chdir")
    wrapped[i + 1] = os.path.join(os.path.realpath(slot_dir), "work")
    return wrapped


# ============================================================================ 2. limits


@dataclass(frozen=True)
class Limits:
    """Per-notebook resource limits of the forked child (``AUTOGRADER_LIMITS`` overrides).

    ``AUTOGRADER_LIMITS="memory_mb=2048,cpu_s=60"`` changes them for one run.
    """

    memory_mb: int = 3072  # address space; torch alone maps ~650 MB of it
    cpu_s: int = 300  # CPU seconds per notebook (SIGXCPU, then SIGKILL 5 s later)
    file_mb: int = 64  # largest file the notebook may write
    # what rlimits do not count (enforced by the sandbox: bwrap's tmpfs sizes, and the zygote's
    # watch over the notebook: autograder.judge.sandboxed):
    scratch_mb: int = 512  # each of /tmp and /dev/shm, and all System V shared memory at once
    disk_mb: int = 1024  # what the slot's file system may lose while one notebook runs
    files: int = 100_000  # files (inodes) one notebook may make there
    procs: int = 64  # processes of this user at once, where the kernel counts them (non-root)
    output_chars: int = 100_000  # output kept per cell (a 50 MB line becomes 100 kB + a note)

    @classmethod
    def from_env(cls) -> Limits:
        spec = os.environ.get("AUTOGRADER_LIMITS", "")
        kw = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            k, _, v = part.partition("=")
            if k in cls.__dataclass_fields__:
                kw[k] = int(v)
        return cls(**kw)


def _setrlimit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    try:
        cur_soft, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass


def limit_child(limits: Limits | None = None) -> Limits:
    """Apply rlimits in the forked child that runs one notebook (call before any student code)."""
    lim = limits or Limits.from_env()
    mb = 1 << 20
    _setrlimit(resource.RLIMIT_AS, lim.memory_mb * mb)
    _setrlimit(resource.RLIMIT_CPU, lim.cpu_s, lim.cpu_s + 5)
    _setrlimit(resource.RLIMIT_FSIZE, lim.file_mb * mb)
    _setrlimit(resource.RLIMIT_CORE, 0)
    if os.getuid() != 0:  # the kernel counts per real user and exempts root
        _setrlimit(resource.RLIMIT_NPROC, _user_processes() + lim.procs)
    return lim


def _user_processes() -> int:
    uid, n = os.getuid(), 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def describe_signal(sig: int, limits: Limits | None = None) -> str:
    """Why a notebook's process died of signal ``sig``, in words for the report."""
    import signal

    lim = limits or Limits.from_env()
    if sig == signal.SIGXCPU:
        return f"used more than its {lim.cpu_s} s of CPU time"
    if sig == signal.SIGXFSZ:
        return f"wrote a file larger than {lim.file_mb} MB"
    if sig == signal.SIGKILL:
        return "was killed (SIGKILL: out of memory, the CPU limit, or the notebook killed itself)"
    try:
        return f"was killed by {signal.Signals(sig).name}"
    except ValueError:
        return f"was killed by signal {sig}"


# ============================================================================ 3. warm-up


LAZY_PATCHERS = ("torch._dynamo", "torch.optim")


def _settle_lazy_imports() -> None:
    if "torch" not in sys.modules:
        return
    import importlib

    for name in LAZY_PATCHERS:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (an optional speed-up and de-noising)
            pass


# ============================================================================ bad input


def notebook_problem(path: str | os.PathLike) -> str | None:
    """Why the file at ``path`` cannot be graded as a notebook, or None if it can.

    Checks, in order: it exists and is a file, it is UTF-8 JSON, it is a
    notebook (an object with ``cells``), its nbformat is 4, its nbgrader
    metadata has a known ``schema_version``.
    """
    import json

    p = Path(path)
    if not p.exists():
        return "missing: the notebook was not submitted"
    if not p.is_file():
        return "not a file"
    try:
        raw = p.read_bytes()
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not a notebook: the file is not UTF-8 text (a binary file?)"
    except json.JSONDecodeError as e:
        return f"not a notebook: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return "not a notebook: valid JSON, but it has no cells"
    major = data.get("nbformat")
    if major != 4:
        return (f"old or unknown notebook format (nbformat {major!r}; this course grades "
                f"nbformat 4: open it in JupyterLab and save it again)")
    known = {1, 2, 3}
    for cell in data.get("cells", []):
        if not isinstance(cell, dict):
            return "not a notebook: a cell is not an object"
        nbg = (cell.get("metadata") or {}).get("nbgrader")
        if isinstance(nbg, dict) and "schema_version" in nbg and nbg["schema_version"] not in known:
            return (f"unknown nbgrader schema_version {nbg['schema_version']!r} in cell "
                    f"{nbg.get('grade_id', cell.get('id'))!r} (metadata edited by hand?)")
    return None


def audit_submission(course: str | os.PathLike, assignment: str, student: str,
                     db_url: str, submission_dir: str | os.PathLike | None = None,
                     ) -> tuple[str | None, list[dict]]:
    """Check one student's submission against the gradebook before nbgrader grades it.

    Returns ``(fatal, notes)``: ``fatal`` is why nothing can be graded (no usable
    notebook), or None; ``notes`` are incidents for the report (a wrong file
    name, an old format, deleted, edited, retyped or reordered test cells,
    changed points, stripped metadata), each ``{"kind", "notebook", "grade_id",
    "detail"}``. Reads only; the submission is never changed. ``submission_dir``: read
    the submission there instead (``autograder grade`` passes its cleaned staging copy,
    :mod:`autograder.submissions`, so no link is ever followed).
    """
    import json

    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import compute_checksum

    sub = Path(submission_dir) if submission_dir else \
        Path(course) / "submitted" / student / assignment
    notes: list[dict] = []

    def note(kind, detail, notebook="", grade_id=None):
        notes.append({"kind": kind, "notebook": notebook, "grade_id": grade_id, "detail": detail})

    with Gradebook(db_url) as gb:
        try:
            nbs = gb.find_assignment(assignment).notebooks
        except MissingEntry:
            return None, notes
        expected = {nb.name: nb for nb in nbs}
        present = sorted(p.name[:-6] for p in sub.glob("*.ipynb")) if sub.is_dir() else []
        strays = [n for n in present if n not in expected]
        missing = [n for n in expected if n not in present]
        for n in strays:
            note("file", f"{n}.ipynb is not part of the assignment (it has "
                         f"{', '.join(e + '.ipynb' for e in expected)}): not graded", n)
        for n in missing:
            hint = f" (found {', '.join(s + '.ipynb' for s in strays)}: renamed?)" if strays else ""
            note("file", f"missing: {n}.ipynb was not submitted{hint}", n)
        usable = []
        for n in expected:
            if n not in present:
                continue
            path = sub / f"{n}.ipynb"
            problem = notebook_problem(path)
            if problem and not problem.startswith("old or unknown notebook format (nbformat 3"):
                note("file", f"{n}.ipynb: {problem}", n)
                continue
            if problem:
                note("file", f"{n}.ipynb: nbformat 3 (an old format): converted to 4 for grading", n)
            usable.append(n)
            try:
                import nbformat

                nbk = nbformat.read(path, as_version=4)
            except Exception as e:  # noqa: BLE001  (nbgrader will report it too)
                note("file", f"{n}.ipynb cannot be read: {type(e).__name__}: {e}", n)
                continue
            _audit_cells(gb, assignment, n, nbk, Path(course), note, compute_checksum, json)
        if not usable:
            others = [p.name for p in sorted(sub.iterdir())] if sub.is_dir() else []
            bad = [d["detail"] for d in notes if d["kind"] == "file"]
            reason = "; ".join(bad) or "no notebook"
            if not present:
                reason = (f"no notebook submitted (expected "
                          f"{', '.join(e + '.ipynb' for e in expected)}; found "
                          f"{', '.join(others) or 'nothing'})")
                if strays:
                    reason = "; ".join(bad)
            return reason, notes
    return None, notes


def _visible(source: str) -> str:
    """A cell's source as released: hidden test regions removed, trailing space ignored."""
    from .feedback import strip_hidden

    return "\n".join(line.rstrip() for line in strip_hidden(source or "").splitlines()).strip()


def _audit_cells(gb, assignment, n, nbk, course, note, compute_checksum, json) -> None:
    cells = {}
    order = []
    for c in nbk.cells:
        meta = c.metadata.get("nbgrader") or {}
        gid = meta.get("grade_id")
        if gid:
            if gid in cells:
                note("cells", f"grade_id {gid!r} appears twice (a copied cell?)", n, gid)
            cells[gid] = c
            order.append(gid)
    source = gb.find_notebook(n, assignment)
    src_order = [c.name for c in source.source_cells]
    src_path = course / "source" / assignment / f"{n}.ipynb"
    if src_path.is_file():
        try:
            src_nb = json.loads(src_path.read_text())
            src_order = [(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
                         for c in src_nb.get("cells", [])]
            src_order = [g for g in src_order if g]
        except (OSError, ValueError):
            pass
    with_meta = sum(1 for c in nbk.cells if c.metadata.get("nbgrader"))
    if not with_meta and src_order:
        note("cells", "all nbgrader metadata was removed from the notebook: its test cells "
                      "were restored from the gradebook and graded", n)
    source_cells = {sc.name: sc for sc in source.source_cells}  # one query, not one per cell
    for gc in source.grade_cells:
        gid = gc.name
        sc = source_cells.get(gid)
        if sc is None:
            continue
        c = cells.get(gid)
        if c is None:
            if with_meta:
                note("cells", f"{'test' if sc.cell_type == 'code' else 'graded'} cell {gid!r} is "
                              f"missing (deleted, or its nbgrader metadata removed): restored "
                              f"from the gradebook and graded", n, gid)
            continue
        if c.cell_type != sc.cell_type:
            note("cells", f"cell {gid!r} was changed from {sc.cell_type} to {c.cell_type} "
                          f"(cell_type): restored as {sc.cell_type}", n, gid)
        pts = (c.metadata.get("nbgrader") or {}).get("points")
        try:
            changed_pts = pts is not None and float(pts) != float(gc.max_score)
        except (TypeError, ValueError):
            changed_pts = True
        if changed_pts:
            note("cells", f"points of {gid!r} changed to {pts!r}: the gradebook's "
                          f"{gc.max_score:g} are used", n, gid)
        if sc.locked and c.cell_type == sc.cell_type and \
                _visible(c.source) != _visible(sc.source):  # the release has no hidden tests
            note("cells", f"read-only cell {gid!r} was edited: the original was restored", n, gid)
    # order: the submission's grade ids must follow the source's order
    pos = {g: i for i, g in enumerate(src_order)}
    seen = [g for g in order if g in pos]
    for a, b in zip(seen, seen[1:]):
        if pos[a] > pos[b]:
            note("cells", f"cells out of order: {a!r} comes before {b!r} in the submission "
                          f"(cells run top to bottom, so a test placed before its answer fails)",
                 n, a)
            break


@functools.lru_cache(maxsize=None)
def robust_overwrite_cells_class():
    """nbgrader's OverwriteCells, able to put back test cells whose neighbours are gone too.

    Stock ``add_missing_grade_cells`` inserts a missing grade cell after the
    previous cell of the source notebook and fails with a ``KeyError`` when that
    cell is missing as well (all nbgrader metadata stripped, or an answer cell
    deleted with its test). Here a missing cell goes after the nearest earlier
    source cell that is present, or at the end of the notebook if none is, so
    the tests still run after the student's code.
    """
    from nbgrader import utils
    from nbgrader.preprocessors import OverwriteCells

    class RobustOverwriteCells(OverwriteCells):
        def add_missing_grade_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            source_ids = [c.name for c in source_nb.source_cells]
            grade_cells = {c.name: c for c in source_nb.grade_cells}
            solution_ids = {c.name for c in source_nb.solution_cells}

            def present():
                return {c["metadata"]["nbgrader"]["grade_id"]: k for k, c in enumerate(nb.cells)
                        if (utils.is_grade(c) or utils.is_solution(c))
                        and c["metadata"]["nbgrader"].get("grade_id")}

            for gid in source_ids:
                if gid not in grade_cells or gid in present():
                    continue
                self.log.warning(f"Missing grade cell {gid} encountered, adding to notebook")
                idx = source_ids.index(gid)
                cell = self.missing_cell_transform(
                    source_nb.source_cells[idx], grade_cells[gid].max_score,
                    is_solution=gid in solution_ids)
                where = present()
                before = [where[p] for p in source_ids[:idx] if p in where]
                nb.cells.insert(max(before) + 1 if before else len(nb.cells), cell)
            return nb, resources

    return RobustOverwriteCells
