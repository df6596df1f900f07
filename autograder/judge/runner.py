"""Runs one notebook for grading: student cells in the sandbox, test cells in the judge.

For each code cell, in notebook order, its *role* decides where it runs:

* ``student`` -- the student's answer cells, and any cell the gradebook does not
  know: in the sandboxed process (:mod:`autograder.judge.sandboxed`);
* ``judge`` -- nbgrader grade cells (the tests) and instructor cells marked
  ``"autograder": {"role": "judge"}`` in ``source/`` (test set-up, pictures
  that need torch): here, in this trusted process, in a namespace of their own;
* ``program`` -- instructor cells that are part of the student's program
  (ps3's set-up, the given ``add``): in the sandbox only;
* ``both`` -- other instructor cells (imports): in both.

Roles come from the instructor's ``source/`` notebook (or the defaults above),
never from the submitted file. A test cell's outputs are written here and only
here: its prints, its error (name, message; no code), a figure it draws.
Before a judge cell runs, the names it uses that the judge did not define are
looked up in the student's namespace; plain data arrives as values, everything
else as proxies (:mod:`autograder.judge.proxy`).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import io
import time
from dataclasses import dataclass, field

from ..testing import ACTIVE_JUDGE
from .proxy import Channel, SandboxGone, Session, StudentTimeout

ROLES = ("student", "judge", "program", "both")
NOT_RUN = "DeadKernelError"
_BUILTIN_NAMES = frozenset(dir(builtins))
_PROFILE = bool(__import__("os").environ.get("AUTOGRADER_JUDGE_PROFILE"))


def default_role(cell) -> str:
    """The role of a cell by its nbgrader metadata alone."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    if not meta.get("grade_id") or meta.get("solution"):
        return "student"
    if meta.get("grade"):
        return "judge"
    return "both" if meta.get("locked") else "student"


def cell_role(cell, trusted: dict) -> str:
    """Where a cell runs, from its nbgrader metadata and the instructor's ``trusted`` notebook.

    ``trusted`` is :func:`trusted_cells` of the ``source/`` notebook. A locked instructor
    cell takes its role from there; a cell whose metadata was stripped but whose code is
    exactly an instructor cell's is that cell (so a test's set-up still runs in the judge).
    """
    role = default_role(cell)
    if role == "both":
        gid = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        role = trusted.get("roles", {}).get(gid, "both")
    elif role == "student":
        role = trusted.get("by_source", {}).get(_norm(cell.get("source", "")), "student")
    return role if role in ROLES else "both"


def _norm(source) -> str:
    if isinstance(source, list):
        source = "".join(source)
    return "\n".join(line.rstrip() for line in str(source).strip().splitlines())


def trusted_cells(source_nb) -> dict:
    """What the instructor's notebook says about its cells (never read from a submission).

    ``roles``: grade_id -> role of each locked instructor code cell
    (``metadata.autograder.role``, default ``both``); ``by_source``: the same, keyed by the
    cell's code; ``owned``: every name a test or a judge-side instructor cell binds -- the
    judge never looks those up in the student's namespace, whatever the submission did to
    its cells.
    """
    roles, by_source, owned = {}, {}, set()
    for cell in source_nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        gid, src = meta.get("grade_id"), "".join(cell.get("source") or "")
        if meta.get("grade") and not meta.get("solution"):
            owned |= bound_names(_strip_markers(src))
            continue
        if not (gid and meta.get("locked") and not meta.get("solution")):
            continue
        role = ((cell.get("metadata") or {}).get("autograder") or {}).get("role", "both")
        role = role if role in ("judge", "program", "both") else "both"
        roles[gid] = role
        by_source[_norm(src)] = role
        if role in ("judge", "both"):
            owned |= bound_names(src)
    return {"roles": roles, "by_source": by_source, "owned": owned}


def _strip_markers(src: str) -> str:
    return "\n".join(line for line in src.splitlines()
                     if line.strip() not in ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))


def _error(ename: str, evalue: str, line: int | None = None) -> dict:
    tb = [f"{ename}: {evalue}"]
    if line is not None:  # where in the test cell, not its code (hidden tests stay hidden)
        tb.insert(0, f'File "<test cell>", line {line}')
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": tb}


def _line_of(e: BaseException) -> int | None:
    """The line of the test cell at which ``e`` came out of the cell's own code."""
    line, tb = None, e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<test cell>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------------- the judge


#: byte-code operations that look a name up in (or bind it to) the module's namespace
_GLOBAL_OPS = frozenset({"LOAD_NAME", "LOAD_GLOBAL", "LOAD_FROM_DICT_OR_GLOBALS", "STORE_NAME",
                         "STORE_GLOBAL", "DELETE_NAME", "DELETE_GLOBAL"})


def used_names(code) -> set[str]:
    """Every global name a code object (and the functions and classes in it) may look up.

    Only names looked up as globals: attribute and module names (``ref.grads``,
    ``import numpy``) are not, so the names the judge asks the student's process for
    say nothing of hidden test code beyond the student's own names it uses.
    """
    import dis

    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(ins.argval for ins in dis.get_instructions(c)
                     if ins.opname in _GLOBAL_OPS and type(ins.argval) is str)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    return names


@functools.lru_cache(maxsize=2048)
def bound_names(source: str) -> frozenset[str]:
    """The names a cell binds at module level (assignments, defs, imports, loop targets ...).

    The judge owns every name any of its cells binds, from the start: a test that failed
    before it defined a helper must not find the student's object of that name instead.
    """
    return frozenset(_bound_names(source))


def _bound_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    out: set[str] = set()

    def targets(node):
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                out.add(n.id)

    def visit(stmts):
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(st.name)
                continue
            if isinstance(st, (ast.Import, ast.ImportFrom)):
                for a in st.names:
                    out.add(a.asname or a.name.split(".")[0])
                continue
            if isinstance(st, ast.Assign):
                for t in st.targets:
                    targets(t)
            elif isinstance(st, (ast.AugAssign, ast.AnnAssign)):
                targets(st.target)
            elif isinstance(st, (ast.For, ast.AsyncFor)):
                targets(st.target)
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                for item in st.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            elif isinstance(st, ast.Try):
                for h in st.handlers:
                    if h.name:
                        out.add(h.name)
            for n in ast.walk(st):
                if isinstance(n, ast.NamedExpr):
                    targets(n.target)
            for part in ("body", "orelse", "finalbody"):
                visit(getattr(st, part, []) or [])
            for h in getattr(st, "handlers", []) or []:
                visit(h.body)
            for case in getattr(st, "cases", []) or []:
                visit(case.body)

    visit(tree.body)
    return out


class _Capped(io.StringIO):
    def __init__(self, cap: int):
        super().__init__()
        self.cap, self.n = cap, 0

    def write(self, s):
        if self.n < self.cap:
            super().write(s[: self.cap - self.n])
        self.n += len(s)
        return len(s)


_COMPILED: dict = {}


def _compiled(source: str):
    """A judge cell's code, the code of its last expression (or None) and the global names
    they use; kept per source in this process (the same test cells run for every notebook
    a worker grades). Raises SyntaxError."""
    hit = _COMPILED.get(source)
    if hit is None:
        tree = ast.parse(source, "<test cell>")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        code = compile(tree, "<test cell>", "exec")
        last_code = compile(last, "<test cell>", "eval") if last is not None else None
        want = frozenset(used_names(code) | (used_names(last_code) if last_code else set()))
        if len(_COMPILED) >= 1024:
            _COMPILED.clear()
        hit = _COMPILED[source] = (code, last_code, want)
    return hit


def compile_instructor_cells(course, assignment: str) -> None:
    """Compile the instructor's code cells of ``source/<assignment>`` as the judge runs them
    (:func:`_compiled`'s cache; nbgrader's OverwriteCells restores the test cells from the
    gradebook, which holds the same source), before the processes that judge are forked."""
    import json
    from pathlib import Path

    for path in sorted((Path(course) / "source" / assignment).glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if cell.get("cell_type") != "code" or not meta or meta.get("solution"):
                continue
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            if src.strip():
                with contextlib.suppress(SyntaxError, ValueError):  # the judge reports it
                    _compiled(src)                                   # when the cell runs


@dataclass
class Judge:
    """The test cells of one notebook, run in this process against one student session."""

    session: Session
    ns: dict = field(default_factory=lambda: {"__name__": "__main__", "__builtins__": builtins})
    owned: set = field(default_factory=set)  # names the judge's own cells defined
    student: set = field(default_factory=set)  # names looked up in the student's namespace
    max_output_chars: int = 100_000
    count: int = 0
    #: seconds a judge cell may run, its own work included (a test looping over a size
    #: the student chose must not hold the grading worker forever); None: no limit
    time_limit: float | None = None

    def run(self, source: str, *, keep_outputs: bool = True) -> list[dict]:
        self.count += 1
        try:
            code, last_code, want = _compiled(source)
        except SyntaxError as e:
            return [_error("SyntaxError", str(e))]
        self.student |= {n for n in want if n not in self.owned and n not in _BUILTIN_NAMES
                         and not n.startswith("__")}
        outputs: list[dict] = []
        out, err = _Capped(self.max_output_chars), _Capped(self.max_output_chars)
        token = ACTIVE_JUDGE.set(self.session)
        result = None
        before: dict = {}
        try:
            before = self._refresh()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                    _figures(outputs), _watchdog(self.time_limit):
                exec(code, self.ns)
                if last_code is not None:
                    result = eval(last_code, self.ns)
        except SandboxGone as e:
            outputs.append(_error("SandboxGone", f"student code stopped answering: {e}"))
        except (StudentTimeout, JudgeTimeout) as e:
            outputs.append(_error("CellTimeoutError", str(e)))
        except (Exception, SystemExit) as e:  # a failing test, recorded as a kernel would
            outputs.append(_error(type(e).__name__, _text(e), _line_of(e)))
        finally:
            ACTIVE_JUDGE.reset(token)
        # names this cell (re)bound are the judge's from now on
        for k in list(self.ns):
            if k in ("__name__", "__builtins__"):
                continue
            if k not in before or self.ns[k] is not before[k]:
                self.owned.add(k)
                self.student.discard(k)
        streams = [{"output_type": "stream", "name": n, "text": _cut(b, self.max_output_chars)}
                   for n, b in (("stdout", out), ("stderr", err)) if b.getvalue()]
        if not keep_outputs:
            return []
        # a number as the cell's last value is nbgrader's partial credit; a string never is
        if result is not None and type(result) in (int, float):
            outputs.append({"output_type": "execute_result", "execution_count": self.count,
                            "data": {"text/plain": repr(result)}, "metadata": {}})
        errors = [o for o in outputs if o["output_type"] == "error"]
        others = [o for o in outputs if o["output_type"] != "error"]
        return streams + others + errors

    def _refresh(self) -> dict:
        """Bind the student's current values of the names the judge uses but does not own."""
        names = sorted(self.student - self.owned)
        got = self.session.get(names) if names else {}
        for n in names:
            if n in got:
                self.ns[n] = got[n]
            else:
                self.ns.pop(n, None)
        return {n: self.ns[n] for n in got}


#: characters of a failing test's message kept (it may quote what student code sent)
ERROR_CHARS = 20_000


def _text(e: BaseException) -> str:
    try:
        text = str(e)
    except Exception:  # noqa: BLE001
        return "<unprintable exception>"
    if len(text) > ERROR_CHARS:
        text = text[:ERROR_CHARS] + "\n... message truncated by the autograder ..."
    return text


def _cut(buf: _Capped, cap: int) -> str:
    text = buf.getvalue()
    if buf.n > cap:
        text += "\n... output truncated by the autograder ...\n"
    return text


class JudgeTimeout(BaseException):
    """A judge cell ran past its time limit (its own work, not only the student's calls)."""


@contextlib.contextmanager
def _watchdog(seconds: float | None):
    """Interrupt the judge's own work after ``seconds`` (main thread only: signals)."""
    import signal
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise JudgeTimeout(f"the test cell ran past its {seconds:.0f} s limit")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _figures(outputs: list):
    """Figures a judge cell draws become PNG display outputs (as the inline backend would)."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    before = set(plt.get_fignums()) if plt else set()
    try:
        yield
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            import base64

            for num in plt.get_fignums():
                if num in before:
                    continue
                fig = plt.figure(num)
                buf = io.BytesIO()
                try:
                    # a figure laid out with fixed margins needs no tight crop (which draws
                    # it twice); autograder.graph's pictures are
                    fig.savefig(buf, format="png", bbox_inches=None if getattr(
                        fig, "_autograder_fixed_margins", False) else "tight")
                    outputs.append({"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": base64.b64encode(buf.getvalue()).decode(),
                                             "text/plain": "<Figure>"}})
                except Exception:  # noqa: BLE001
                    pass
                plt.close(fig)


# ---------------------------------------------------------------------------- one notebook


@dataclass
class Plan:
    cells: list[tuple[int, str, str]]  # (index, source, role)
    cell_timeout: float | None = 60
    notebook_timeout: float | None = 600
    error_on_timeout: dict | None = None
    max_output_chars: int = 100_000
    student_torch: bool = True
    owned: frozenset = frozenset()  # names the judge owns from the start (trusted_cells)
    lang: str = "en"  # the language of the checks' messages (the source notebook's metadata)
    grace: float = 5.0  # seconds a timed-out call gets to report its interrupt (WarmExecute.grace)


def run_notebook(zygote, plan: Plan, files_dir=None) -> dict:
    """Run ``plan`` with a fresh child of ``zygote``: ``{"cells", "error", "leftover", ...}``.

    The result has the shape :func:`autograder.executor.apply_result` expects. The tests'
    messages are in ``plan.lang`` (autograder.i18n).
    """
    from ..i18n import using

    with using(plan.lang):
        return _run_notebook(zygote, plan, files_dir)


def _run_notebook(zygote, plan: Plan, files_dir=None) -> dict:
    t0 = time.monotonic()
    cells: dict[int, dict] = {}
    error = None
    sock, _pid = zygote.open_child(files_dir, lang=plan.lang)
    channel = Channel(sock, call_timeout=plan.cell_timeout or 3600, grace=plan.grace)
    session = Session(channel, student_torch=plan.student_torch)
    judge = Judge(session, max_output_chars=plan.max_output_chars)
    judge.owned |= set(plan.owned)
    for _i, source, role in plan.cells:
        if role in ("judge", "both"):
            judge.owned |= bound_names(source)
    stopped = None  # why the student's process stopped answering
    replay: list[tuple[str, str]] = []  # (source, role) of the cells the student's process ran
    spare: dict = {}
    session.torch_free = lambda: _torch_free(spare, zygote, files_dir, plan, session, replay)
    try:
        for i, source, role in plan.cells:
            started = time.monotonic()
            left = None
            if plan.notebook_timeout:
                left = plan.notebook_timeout - (started - t0)
                if left <= 0:
                    stopped = stopped or ("timeout", f"the notebook ran past its "
                                                     f"{plan.notebook_timeout} s limit")
            if stopped:
                error = error or {"kind": stopped[0], "cell": i, "detail": stopped[1],
                                  "outputs": [_timeout_output(plan) if stopped[0] == "timeout"
                                              else _error(NOT_RUN, stopped[1])]}
                break
            limit = min(x for x in (plan.cell_timeout, left) if x) if (plan.cell_timeout or left) \
                else 3600
            channel.call_timeout = limit
            outputs: list[dict] = []
            count = None
            if role in ("student", "program", "both"):
                try:
                    ans = channel.request({"op": "cell", "i": i, "src": source,
                                           "error_on_timeout": plan.error_on_timeout}, limit)
                    outputs, count = _cell_answer(ans, _output_cap(plan))
                    replay.append((source, role))
                except SandboxGone as e:
                    stopped = _why(e)
                    error = {"kind": stopped[0], "cell": i, "detail": stopped[1],
                             "outputs": [_timeout_output(plan) if stopped[0] == "timeout"
                                         else _error(NOT_RUN, f"{stopped[1]} while running "
                                                              f"this cell")]}
                    break
            if role in ("judge", "both"):
                channel.deadline = started + limit  # the whole test cell, not each call
                judge.time_limit = limit + 10  # and the judge's own work, with some slack
                try:
                    judge_out = judge.run(source, keep_outputs=(role == "judge"))
                finally:
                    channel.deadline = None
                if role == "judge":
                    outputs, count = judge_out, judge.count
                else:  # what this shared cell could not bind here (`from minigrad import
                    # Variable`: the student's module) is the student's
                    judge.owned -= {n for n in bound_names(source) if n not in judge.ns}
                if channel.dead and not stopped:
                    stopped = _why(SandboxGone(channel.dead))
            cells[i] = {"outputs": outputs, "execution_count": count,
                        "seconds": round(time.monotonic() - started, 4)}
            if _PROFILE:
                import sys

                print(f"judge profile: cell {i} {role}: {cells[i]['seconds']:.3f} s, "
                      f"{channel.requests} requests so far", file=sys.stderr)
    finally:
        try:
            status = _close(zygote, channel)
        finally:  # the torch-free process too, whatever became of the main one (its zygote
            # serves the next notebook)
            if spare.get("channel") is not None:
                try:
                    _close(spare["zygote"], spare["channel"])
                except Exception:  # noqa: BLE001  (executor.ExecutorError: that zygote is gone)
                    pass  # the next notebook gets a new one
    over = status.get("over")
    if over:  # the zygote ended it over a limit rlimits do not count: say which, not "it died"
        why = f"the notebook's process {over}"
        if error is not None:
            error = dict(error, kind="limits", detail=why,
                         outputs=[_error(NOT_RUN, f"{why} while running this cell")])
        elif stopped:
            stopped = ("limits", why)
        else:
            error = {"kind": "limits", "cell": None, "detail": why}
    if error is None and stopped and len(cells) < len(plan.cells):
        nxt = next(i for i, _, _ in plan.cells if i not in cells)
        error = {"kind": stopped[0], "cell": nxt, "detail": stopped[1],
                 "outputs": [_error(NOT_RUN, stopped[1])]}
    return {"cells": cells, "error": error, "seconds": round(time.monotonic() - t0, 4),
            "leftover": status.get("leftover", 0), "clean": status.get("clean", True),
            "requests": channel.requests}


def _torch_free(spare: dict, zygote, files_dir, plan: Plan, session: Session,
                replay: list[tuple[str, str]]) -> Session:
    """A session with the student's cells run so far replayed in a second process, started
    from a zygote in which torch does not exist; made on first use, kept for the notebook.

    For an assignment whose student code has torch (ps1) but one of whose answers must be
    computed without it (part A: gradients by hand): :func:`autograder.integrity.check_by_hand`.
    The replayed cells' outputs are not the notebook's; a cell that needs torch just fails
    there. Where the student's process has no torch anyway, it is ``session`` itself.
    """
    if not plan.student_torch:
        return session
    from .. import executor

    channel = session.channel
    if spare.get("session") is None:
        z = executor.shared_zygote(str(zygote.slot_dir.parent), zygote.log_path, torch=False)
        sock, _pid = z.open_child(files_dir, lang=plan.lang)
        spare.update(zygote=z, channel=Channel(sock, call_timeout=channel.call_timeout,
                                               grace=plan.grace), sent=0)
        spare["session"] = Session(spare["channel"], student_torch=False)
        spare["session"].replay_errors = []  # what failed there: said with a failing check
    spare_channel, free = spare["channel"], spare["session"]
    spare_channel.deadline = channel.deadline  # within the test cell's time
    for source, role in replay[spare["sent"]:]:
        outputs, _count = _cell_answer(
            spare_channel.request({"op": "cell", "i": -1, "src": source}), 10_000)
        spare["sent"] += 1
        if role != "student":
            continue  # the instructor's cells (set-up that imports torch): not the student's doing
        first = (source.strip().splitlines() or [""])[0][:60]
        free.replay_errors += [f"your cell starting {first!r} raised {o.get('ename')}: "
                               f"{str(o.get('evalue'))[:200]}"
                               for o in outputs if o.get("output_type") == "error"]
    return free


def _timeout_output(plan: Plan) -> dict:
    return dict(plan.error_on_timeout) if plan.error_on_timeout else \
        _error("CellTimeoutError", "the cell ran past its time limit and did not stop")


def _why(e: SandboxGone) -> tuple[str, str]:
    text = str(e)
    if "limit" in text and "ran past" in text:
        return "timeout", text
    if "size limit" in text:
        return "output", text
    if "protocol" in text:
        return "integrity", text
    return "died", text


def _close(zygote, channel: Channel) -> dict:
    try:
        if not channel.dead:
            channel.sock.sendall(b'{"op":"bye"}\n')
    except OSError:
        pass
    channel.close()
    return zygote.close_child(kill=bool(channel.dead))


def _clean_output(o) -> dict | None:
    """One output of a student cell, kept only if it is a well-formed nbformat output."""
    if type(o) is not dict:
        return None
    kind = o.get("output_type")

    def strs(v):
        return type(v) is str or (type(v) is list and all(type(x) is str for x in v))
    if kind == "stream":
        if o.get("name") in ("stdout", "stderr") and type(o.get("text")) is str:
            return {"output_type": "stream", "name": o["name"], "text": o["text"]}
    elif kind in ("display_data", "execute_result"):
        data, md = o.get("data"), o.get("metadata", {})
        if type(data) is dict and all(type(k) is str and strs(v) for k, v in data.items()) \
                and type(md) is dict:
            out = {"output_type": kind, "data": data, "metadata": json_safe(md)}
            if kind == "execute_result":
                count = o.get("execution_count")
                out["execution_count"] = count if type(count) is int else None
            return out
    elif kind == "error":
        tb = o.get("traceback", [])
        if type(o.get("ename")) is str and type(o.get("evalue")) is str and strs(tb):
            return {"output_type": "error", "ename": o["ename"], "evalue": o["evalue"],
                    "traceback": tb if type(tb) is list else [tb]}
    return None


def json_safe(md: dict) -> dict:
    """Display metadata, kept only if it is plain JSON (it came from the student's process)."""
    import json

    try:
        return json.loads(json.dumps(md))
    except (TypeError, ValueError):
        return {}


def _cell_answer(ans: dict, cap: int) -> tuple[list[dict], int | None]:
    """A student cell's outputs, checked: they become the notebook's outputs for that cell."""
    if "exc" in ans:
        info = ans["exc"] if isinstance(ans["exc"], dict) else {}
        if info.get("type") == "KeyboardInterrupt":
            raise SandboxGone("the cell ran past its time limit")
        raise SandboxGone(f"the student's process broke the protocol: {str(info)[:200]}")
    val = ans["ok"]
    if type(val) is not dict or val.get("t") != "cell" or type(val.get("outputs")) is not list:
        raise SandboxGone("the student's process broke the protocol: cell answer")
    outs = [c for c in (_clean_output(o) for o in val["outputs"][:1000]) if c is not None]
    count = val.get("count")
    return _capped_outputs(outs, cap), count if type(count) is int else None


def _output_cap(plan: Plan) -> int:
    """Characters a student cell's outputs may hold (what the child itself keeps)."""
    from ..sandbox import Limits

    return min(plan.max_output_chars, Limits.from_env().output_chars)


def _size(o: dict) -> int:
    if o["output_type"] == "stream":
        return len(o["text"])
    if o["output_type"] == "error":
        return len(o["evalue"]) + sum(len(t) for t in o["traceback"])
    return sum(len(v) if type(v) is str else sum(map(len, v)) for v in o["data"].values())


def _capped_outputs(outs: list[dict], cap: int) -> list[dict]:
    """At most ``cap`` characters of a student cell's outputs (the student's process may
    send its own, bypassing the child's output cap): the rest is cut, with a note."""
    kept, used, cut = [], 0, False
    for o in outs:
        n = _size(o)
        if not cut and used + n <= cap:
            kept.append(o)
            used += n
            continue
        room = 0 if cut else max(0, cap - used)
        if o["output_type"] == "stream" and room:
            kept.append(dict(o, text=o["text"][:room]))
        elif o["output_type"] == "error":  # kept, short: the cell's failure must show
            short = max(room, 2000)
            kept.append(dict(o, evalue=o["evalue"][:short],
                             traceback=[t[:short] for t in o["traceback"][:20]]))
        if not cut:
            kept.append({"output_type": "stream", "name": "stdout",
                         "text": "\n... output truncated by the autograder ...\n"})
        used, cut = cap, True
    return kept
