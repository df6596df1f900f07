"""Attacks on the judge design (docs/architecture.md): a second, independent attack suite.

One small assignment (``atk``: a hand-computed gradient, a tiny engine graded in a
sandbox WITHOUT torch, and a function that returns a string) is defined here,
released with real nbgrader, and submitted by ~50 students: correct ones, the
untouched release, and one submission per attack. ``autograder grade`` grades
them all in one batch. None of these submissions is one of
``tests/test_security.py``'s; they go after the judge design itself
(``autograder/judge``): test cells run in the grading worker, student cells in a
sandboxed child reached over a socket, answers decoded strictly.

Classes: in-process forging (the student's IPython, interpreter and process
machinery), forging the result channel (the socket, its JSON), peeking at what
the tests hold, objects that fake results, torch in an engine graded without it,
resource exhaustion inside calls a test makes, role confusion through metadata,
and a few file-level ones. Checks:

- every attack scores no more than its honest work, and gets a reason (the failing
  check's message or an incident line) in the summary or its feedback;
- correct submissions keep full marks (a noisy one too); the release gets 0;
- no expected value, hidden test code or file outside the sandbox reaches the
  student's outputs; feedback stays small;
- ``autograder selfgrade`` gives the same scores as ``grade`` for a handful.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from graded_fixture import (
    ENGINE,
    ENGINE_TEST,
    SETUP,
    SQUARE,
    SQUARE_TEST,
    WRONG_ENGINE,
    WRONG_SQUARE,
    Case,
    above_honest_work,
    auto_score,
    feedback_text,
    grade_cli,
    missing_reasons,
    write_course,
)
from graded_fixture import answer as _answer
from graded_fixture import append as _append
from graded_fixture import cell as _cell
from graded_fixture import meta as _meta
from graded_fixture import solved as _solved

from autograder import course as C

pytestmark = [pytest.mark.slow]  # one batch, one worker (bin/test: --dist loadfile)

A = "atk"
SQUARE_POINTS, ENGINE_POINTS, LABEL_POINTS = 2, 3, 1
AUTO_MAX = SQUARE_POINTS + ENGINE_POINTS + LABEL_POINTS
TIMEOUT = 4  # Execute.timeout of the fixture course: one call a test makes
NOTEBOOK_TIMEOUT = 30
GRACE = 1.5






LABEL = '''def shape_label(shape):
    """'2x3' for the shape (2, 3)."""
    ### BEGIN SOLUTION
    return "x".join(str(n) for n in shape)
    ### END SOLUTION'''

LABEL_TEST = '''# Tests: shape_label
assert shape_label((2, 3)) == "2x3", "shape_label((2, 3)) should be '2x3'"
### BEGIN HIDDEN TESTS
assert shape_label((4, 5, 6)) == "4x5x6", "hidden check: shape_label((4, 5, 6))"
assert shape_label(()) == "", "hidden check: shape_label(())"
### END HIDDEN TESTS'''

#: a line only the hidden tests have (must never reach a student's outputs or feedback)
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "hidden check {hidden_seed}")
#: names only hidden test code binds (must not reach the student's process either)
HIDDEN_NAMES = ("hidden_ref", "hidden_x", "hidden_seed")


WRONG_LABEL = "def shape_label(shape):\n    return str(shape)\n"

def source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.language_info = {"name": "python"}
    nb.metadata["autograder"] = {"student_torch": False}  # the engine: graded without torch
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [
        ("intro", md("# Attack fixture\nA gradient, a tiny engine, a label.",
                     metadata=_meta("intro", locked=True))),
        ("setup", code(SETUP, metadata=_meta("setup", locked=True))),
        ("square", code(SQUARE, metadata=_meta("square", solution=True))),
        ("square-test", code(SQUARE_TEST, metadata=_meta(
            "square-test", grade=True, locked=True, points=SQUARE_POINTS))),
        ("engine", code(ENGINE, metadata=_meta("engine", solution=True))),
        ("engine-test", code(ENGINE_TEST, metadata=_meta(
            "engine-test", grade=True, locked=True, points=ENGINE_POINTS))),
        ("label", code(LABEL, metadata=_meta("label", solution=True))),
        ("label-test", code(LABEL_TEST, metadata=_meta(
            "label-test", grade=True, locked=True, points=LABEL_POINTS))),
    ]
    for cid, c in cells:
        c["id"] = cid
    nb.cells = [c for _, c in cells]
    return nb


# ---------------------------------------------------------------------------- building blocks


def _add_cell(nb, code, after=None):
    """A new code cell of the student's own (no nbgrader metadata), after ``after`` or at the end."""
    cell = nbformat.v4.new_code_cell(code)
    cell["id"] = f"extra-{len(nb.cells)}"
    if after is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(nb.cells.index(_cell(nb, after)) + 1, cell)


#: the sockets of the student's process (its end of the judge's channel among them)
SOCKS = '''
import os as _os, stat as _stat
def _socks():
    out = []
    for fd in range(3, 512):
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                out.append(fd)
        except OSError:
            pass
    return out
def _forge(line):
    for fd in _socks():
        try:
            _os.write(fd, line if isinstance(line, bytes) else line.encode())
        except OSError:
            pass
'''


MISMATCH = r"does not match|should be|hidden check"  # a failing check's own message


def cases(course: Path) -> list[Case]:
    marker = course / "JUDGE-RAN-STUDENT-CODE"

    def sol(*fs):
        def build(rel, srcp):
            nb = _solved(rel, srcp)
            for f in fs:
                f(nb)
            return {f"{A}.ipynb": nb}
        return build

    def wrong(*fs):
        def w(nb):
            _answer(nb, "square", WRONG_SQUARE)
            _answer(nb, "engine", WRONG_ENGINE)
            _answer(nb, "label", WRONG_LABEL)
        return sol(w, *fs)

    def app(gid, code):
        return lambda nb: _append(nb, gid, code)

    def ans(gid, code):
        return lambda nb: _answer(nb, gid, code)

    def extra(code, after=None):
        return lambda nb: _add_cell(nb, code, after)

    def wire_attack(name, line, why=r"protocol|stopped answering|ended|does not match", *,
                    expr=None):
        """square_grad (called by a test) writes ``line`` (or what ``expr`` makes) on the
        channel, then answers wrongly."""
        code = SOCKS + f"\ndef square_grad(x):\n    _forge({expr or repr(line)})\n    return x\n"
        return Case(name, wrong(ans("square", code)), 0, why)

    out = [
        Case("ok-1", sol(), AUTO_MAX),
        Case("ok-2", sol(), AUTO_MAX),
        Case("release", lambda rel, srcp: {f"{A}.ipynb": rel}, 0),
        Case("wrong", wrong(), 0, MISMATCH),
        # a correct submission whose functions print, display and write to stderr while the
        # tests call them: nothing of it may reach a test cell (a stderr output scores 0)
        Case("ok-noisy", sol(app("square",
             "import sys\n_sq = square_grad\n"
             "def square_grad(x):\n    print('noise'); print('err', file=sys.stderr)\n"
             "    from IPython.display import display\n    display({'a': 1}); display(2.0)\n"
             "    import os; os.write(2, b'fd noise\\n')\n    return _sq(x)\n")), AUTO_MAX),

        # ------------------------------------------------ in-process forging (honest work: 0)
        Case("swallowed-exceptions", wrong(
            ans("square", "def square_grad(x):\n    raise SystemExit(0)\n"),
            app("engine", "def _stop(self, *a):\n    raise KeyboardInterrupt\n"
                          "Variable.backward = _stop\n"),
            ans("label", "def shape_label(shape):\n    raise GeneratorExit\n")), 0,
             r"SystemExit|GeneratorExit|time limit|interrupted"),
        Case("replaced-stderr-traceback", wrong(app("square",
             "import sys, io, traceback\nsys.stderr = io.StringIO()\nsys.__stderr__ = sys.stderr\n"
             "sys.excepthook = lambda *a: None\ntraceback.format_exception = lambda *a, **k: []\n"
             "traceback.print_exc = lambda *a, **k: None\nip = get_ipython()\n"
             "ip.showtraceback = lambda *a, **k: None\n"
             "ip.InteractiveTB.structured_traceback = lambda *a, **k: []\n"
             "type(ip)._showtraceback = lambda self, *a, **k: None\n"
             "type(ip).showtraceback = lambda self, *a, **k: None\n")), 0, MISMATCH),
        Case("display-hooks", wrong(app("square",
             "import sys\nfrom IPython.display import display, publish_display_data\n"
             "ip = get_ipython()\n_w = ip.displayhook.write_format_data\n"
             "sys.displayhook = lambda v: _w({'text/plain': '2'})\n"
             "_sq = square_grad\n"
             "def square_grad(x):\n"
             "    publish_display_data({'text/plain': '2.0'})\n"
             "    ip.displayhook.write_format_data({'text/plain': '2'}, {})\n"
             "    sys.displayhook(2)\n    display(2.0)\n    return _sq(x)\n")), 0, MISMATCH),
        Case("callbacks-and-transformers", wrong(app("square",
             "import ast\nip = get_ipython()\n"
             "ip.events.callbacks = {k: [] for k in ip.events.callbacks}\n"
             "ip.events.callbacks['post_run_cell'] = [lambda *a: None]\n"
             "def _blank(lines):\n"
             "    return ['pass\\n'] if any('assert' in l or 'check_' in l for l in lines) else lines\n"
             "ip.input_transformers_post.append(_blank)\n"
             "ip.input_transformers_cleanup.insert(0, _blank)\n"
             "class _NoAsserts(ast.NodeTransformer):\n"
             "    def visit_Assert(self, node):\n        return ast.Pass()\n"
             "ip.ast_transformers.append(_NoAsserts())\n"
             "from IPython.core.inputtransformer2 import TransformerManager\n"
             "class _M(TransformerManager):\n"
             "    def transform_cell(self, cell):\n"
             "        if 'assert' in cell or 'check_' in cell:\n            return 'pass\\n'\n"
             "        return super().transform_cell(cell)\n"
             "ip.input_transformer_manager = _M()\n")), 0, MISMATCH),
        Case("replaced-namespace", wrong(extra(
             "import types\nip = get_ipython()\n"
             "class _Lying(dict):\n"
             "    def __getitem__(self, k):\n"
             "        if k == 'square_grad':\n            return lambda x: 2 * x\n"
             "        return dict.__getitem__(self, k)\n"
             "    def get(self, k, d=None):\n"
             "        return self[k] if k in self else d\n"
             "ns = _Lying(ip.user_ns)\nip.user_ns = ns\n"
             "m = types.ModuleType('__main__')\nm.__dict__.update(ns)\nip.user_module = m\n"
             "import gc, autograder.judge.serve as S\n"
             "for o in gc.get_objects():\n"
             "    if type(o) is S.Server:\n        o.ns = ns\n", after="square")), 0,
             MISMATCH + r"|NameError|not defined"),
        Case("multiple-overrides", wrong(app("square",
             "ip = get_ipython()\n"
             "for _ in range(3):\n"
             "    ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
             "    ip.set_custom_exc((AssertionError, Exception), lambda *a, **k: None)\n"
             "type(ip).run_cell_magic = lambda *a, **k: None\n"
             "ip.run_cell = (lambda rc: (lambda *a, **k: rc(*a, **k)))(ip.run_cell)\n"
             "ip.run_cell = (lambda rc: (lambda *a, **k: rc(*a, **k)))(ip.run_cell)\n"
             "import builtins\nbuiltins.AssertionError = type('AssertionError', (Exception,), {})\n")),
             0, MISMATCH),
        Case("finalizer-forges-answers", wrong(app("square",
             "import gc, weakref, autograder.judge.serve as S\n"
             "class _Ghost:\n"
             "    def __del__(self):\n"
             "        S.Server.answer = lambda self, req: {'ok': None}\n"
             "        _arm()\n"
             "def _arm():\n    g = _Ghost()\n    g.me = g\n"
             "_arm()\n"
             "gc.callbacks.append(lambda phase, info: setattr(S.Server, 'op_bool', "
             "lambda self, req: True))\n"
             "weakref.finalize(_Ghost(), lambda: None)\n")), 0,
             MISMATCH + r"|protocol|stopped answering"),
        Case("del-during-test", wrong(
             ans("engine", SOCKS + WRONG_ENGINE.replace(
                 "    def sum(self):",
                 "    def __del__(self):\n"
                 "        _forge('{\"ok\": true}\\n')\n\n"
                 "    def sum(self):"))), 0,
             MISMATCH + r"|protocol|stopped answering|ended"),
        Case("atexit-and-signals", wrong(app("square",
             "import atexit, signal, faulthandler, sys\n" + SOCKS +
             "atexit.register(lambda: _forge('{\"ok\": true}\\n'))\n"
             "for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGINT):\n"
             "    signal.signal(s, lambda *a: _forge('{\"ok\": true}\\n'))\n"
             "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
             "faulthandler.enable(file=sys.__stdout__)\n")), 0, MISMATCH),
        Case("thread-answers-socket", wrong(app("square",
             "import threading, time\n" + SOCKS +
             "def _answer_all():\n"
             "    fds = _socks()\n"
             "    while True:\n"
             "        for fd in fds:\n"
             "            try:\n"
             "                if _os.read(fd, 1 << 16):\n"
             "                    _os.write(fd, b'{\"ok\": {\"t\": \"nd\", \"dtype\": \"<f8\", '\n"
             "                              b'\"shape\": [], \"b\": \"AAAAAAAAAEA=\", \"sc\": true}}\\n')\n"
             "            except OSError:\n"
             "                pass\n"
             "        time.sleep(0.001)\n"
             "threading.Thread(target=_answer_all, daemon=True).start()\n")), 0,
             MISMATCH + r"|protocol|stopped answering|ran past|ended"),
        Case("patched-serve-codec", wrong(app("square",
             "import autograder.judge.wire as W, autograder.judge.serve as S, numpy as _np\n"
             "W.DTYPES = W.DTYPES | {'|O', '<c16', '|S8'}\n"
             "S._as_array = lambda obj: _np.array([2.0, 2.0, 2.0])\n"
             "_enc = W.encode\n"
             "def _lie(v, *a, **k):\n"
             "    out = _enc(v, *a, **k)\n"
             "    if isinstance(out, dict) and out.get('t') == 'nd':\n"
             "        out = dict(out, dtype='|O')\n"
             "    return out\n"
             "W.encode = _lie\n")), 0, MISMATCH + r"|protocol|stopped answering"),

        # ------------------------------------------------ the result channel
        wire_attack("wire-fake-pass", '{"ok": {"t": "cell", "outputs": [], "count": 1}}\n'),
        wire_attack("wire-extra-fields", '{"ok": 2.0, "verdict": "pass", "points": 2}\n'),
        wire_attack("wire-ok-and-exc", '{"ok": null, "exc": null}\n'),
        wire_attack("wire-deep-json", None, expr="'{\"ok\": ' + '[' * 50_000 + ']' * 50_000 + '}\\n'"),
        wire_attack("wire-deep-tagged", '{"ok": ' + '{"t": "list", "v": [' * 40 + "1"
                    + "]}" * 40 + "}\n"),
        wire_attack("wire-bad-handle", '{"ok": {"t": "h", "id": 999999}}\n'),
        wire_attack("wire-object-array", '{"ok": {"t": "nd", "dtype": "|O", "shape": [3], '
                    '"b": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}\n'),
        wire_attack("wire-huge-shape", '{"ok": {"t": "nd", "dtype": "<f8", "shape": [100000, '
                    '100000], "b": ""}}\n'),
        wire_attack("wire-forged-timeout", '{"exc": {"type": "KeyboardInterrupt", "base": '
                    '"Exception", "msg": "x"}}\n', MISMATCH + r"|time limit|interrupted"),
        wire_attack("wire-exc-code-name", '{"exc": {"type": "__import__(\'os\').system", '
                    '"base": "AssertionError", "msg": "x"}}\n'),
        wire_attack("wire-exctype-systemexit", '{"ok": {"t": "exctype", "name": "SystemExit"}}\n'),
        wire_attack("wire-nan-bigint", '{"ok": [NaN, Infinity, ' + "9" * 5000 + "]}\n"),
        wire_attack("wire-huge-line", None, r"size limit|protocol|stopped answering",
                    expr="b'A' * (70 << 20)"),
        Case("socket-dup2-devnull", sol(app("label",
             SOCKS + "_null = _os.open('/dev/null', _os.O_RDWR)\n"
             "for fd in _socks():\n    _os.dup2(_null, fd)\n")), SQUARE_POINTS + ENGINE_POINTS,
             r"ended|stopped answering|not run|DeadKernel"),
        Case("socket-closed", sol(app("label",
             SOCKS + "for fd in _socks():\n    _os.close(fd)\n")), SQUARE_POINTS + ENGINE_POINTS,
             r"ended|stopped answering|not run|DeadKernel"),
        Case("fork-writes-socket", wrong(ans("square",
             SOCKS + "def square_grad(x):\n"
             "    if _os.fork() == 0:\n"
             "        for _ in range(2000):\n"
             "            _forge('{\"ok\": 2.0}\\n')\n"
             "        _os._exit(0)\n"
             "    return x\n")), 0, MISMATCH + r"|protocol|stopped answering|process"),
        Case("forged-exception-names", wrong(ans("square",
             "class SandboxGone(AssertionError):\n    pass\n"
             "class StudentTimeout(Exception):\n    pass\n"
             "def square_grad(x):\n"
             "    raise type('GradientMismatch', (SandboxGone,), {})('all checks passed')\n")), 0,
             r"GradientMismatch|all checks passed|SandboxGone"),

        # ------------------------------------------------ peeking at what the tests hold
        Case("peek-namespace", wrong(ans("square",
             "def square_grad(x):\n"
             "    g = globals()\n"
             "    for k in ('_expected', 'expected', 'ref', 'hidden_ref'):\n"
             "        v = g.get(k)\n"
             "        if v is not None and hasattr(v, 'grads'):\n"
             "            return v.grads[0]\n"
             "    return x\n"), app("engine",
             "Variable.grad = property(lambda self: globals().get('_expected', self.data),\n"
             "                         lambda self, v: None)\n")), 0, MISMATCH),
        Case("peek-frames-and-gc", wrong(ans("square",
             "import sys, gc, inspect, numpy as np\n"
             "def square_grad(x):\n"
             "    f = sys._getframe()\n"
             "    while f is not None:\n"
             "        for k in ('ref', 'hidden_ref', 'expected'):\n"
             "            v = f.f_locals.get(k) if k in f.f_locals else f.f_globals.get(k)\n"
             "            if v is not None and hasattr(v, 'grads'):\n"
             "                return v.grads[0]\n"
             "        f = f.f_back\n"
             "    for o in gc.get_objects():\n"
             "        if type(o).__name__ == 'TorchResult':\n"
             "            return o.grads[0]\n"
             "    for fi in inspect.stack():\n"
             "        if 'ref' in fi.frame.f_locals:\n"
             "            return fi.frame.f_locals['ref'].grads[0]\n"
             "    return x\n")), 0, MISMATCH),
        Case("read-hidden-from-disk", sol(app("square",
             "import os, glob, time\n"
             "t0 = time.time()\nfound = []\n"
             "for p in ('/proc/1/environ', '/proc/1/cmdline', '/proc/self/environ'):\n"
             "    try:\n        found.append((p, open(p, 'rb').read()[:3000]))\n"
             "    except OSError:\n        pass\n"
             "for top in ['/', '/work', '/tmp', os.path.expanduser('~'), os.getcwd(), '..', '../..']:\n"
             "    for root, dirs, files in os.walk(top):\n"
             "        if time.time() - t0 > 2 or root.startswith(('/proc', '/sys', '/dev')):\n"
             "            dirs[:] = []\n            continue\n"
             "        for f in files:\n"
             "            if f.endswith(('.ipynb', '.db')) or f == 'nbgrader_config.py':\n"
             "                try:\n"
             "                    data = open(os.path.join(root, f), 'rb').read()\n"
             "                except OSError:\n                    continue\n"
             "                if b'HIDDEN' in data or b'SQLite' in data[:16]:\n"
             "                    found.append((os.path.join(root, f), data[:200000]))\n"
             "import sys\n"
             "for p, d in found:  # nbgrader's own test files in the venv are no secret\n"
             "    if p.startswith(sys.prefix) and b'hidden_ref' not in d:\n        continue\n"
             "    if b'HIDDEN' in d or b'SQLite' in d[:16] or b'DB_URL' in d:\n"
             "        print('LEAKED', p, d)\n"
             "print('searched', len(found))\n")), AUTO_MAX),
        # right for the visible checks only, so the hidden ones run (and fail, with hints)
        Case("spy-on-requests", sol(
             ans("square", "def square_grad(x):\n    return 2 * x if x.shape == (3,) else x\n"),
             lambda nb: _answer(nb, "engine", C.strip_solution_markers(ENGINE).replace(
                 "backward=lambda g: (g * other.data, g * self.data)",
                 "backward=lambda g: (g * other.data, g * self.data) if other is not self "
                 "else (g * self.data, 0 * g)")),
             app("square",
                 "import autograder.judge.serve as S\n"
                 "SPIED = []\n_answer = S.Server.answer\n"
                 "def _spy(self, req):\n"
                 "    SPIED.append(req)\n"
                 "    return _answer(self, req)\n"
                 "S.Server.answer = _spy\n"),
             extra("import json\nprint('SPY', json.dumps(SPIED, default=str))\n")),
             LABEL_POINTS, MISMATCH),
        Case("shadow-test-names", wrong(app("square",
             "assert_grad_close = check_gradients = lambda *a, **k: None\n"
             "torch_gradients = lambda *a, **k: None\n"
             "random_inputs = lambda *a, **k: [None, None]\n"
             "class _NP:\n    def __getattr__(self, k):\n        return lambda *a, **k: True\n"
             "np = _NP()\nIn = None\ngrads = ref = hidden_ref = None\n"
             "check_without_torch = lambda *a, **k: None\n"
             "range = lambda *a: iter(())\nlen = lambda x: 0\nisinstance = lambda *a: True\n")),
             0, MISMATCH),

        # ------------------------------------------------ objects that fake results
        Case("always-equal", wrong(ans("square",
             "class Always:\n    def __eq__(self, o): return True\n"
             "    __ne__ = lambda self, o: False\n    __bool__ = lambda self: True\n"
             "def square_grad(x):\n    return Always()\n"),
             ans("label", "class S(str):\n    def __eq__(self, o): return True\n"
                          "    __hash__ = str.__hash__\n"
                          "def shape_label(shape):\n    return S('nope')\n")), 0,
             MISMATCH + r"|expected a numpy array"),
        Case("container-subclasses", wrong(ans("square",
             "import numpy as np\n"
             "class L(list):\n    def __eq__(self, o): return True\n"
             "class A(np.ndarray):\n"
             "    def __eq__(self, o): return np.ones(np.shape(self), bool)\n"
             "    def __array_ufunc__(self, *a, **k): return np.ones(3, bool)\n"
             "    def __array_function__(self, *a, **k): return True\n"
             "def square_grad(x):\n"
             "    return x.view(A) if x.shape == (3,) else L(x.tolist())\n"),
             ans("label", "class D(dict):\n    def __eq__(self, o): return True\n"
                          "def shape_label(shape):\n    return D(a=1)\n")), 0, MISMATCH),
        Case("array-lies", wrong(ans("square",
             "import numpy as np, itertools\n_n = itertools.count()\n"
             "class Liar:\n"
             "    def __array__(self, dtype=None, copy=None):\n"
             "        k = next(_n)\n"
             "        return [np.array(['2', '4'], dtype=object), np.zeros(9_000_000),\n"
             "                np.array([1 + 2j]), np.array(['x'])][k % 4]\n"
             "    data = property(lambda self: self)\n"
             "def square_grad(x):\n    return Liar()\n")), 0,
             MISMATCH + r"|expected a numpy array|expected numbers"),
        Case("repr-raises-or-huge", wrong(ans("square",
             "class Bad:\n"
             "    def __repr__(self): raise RuntimeError('no repr')\n"
             "    def __str__(self): return 'z' * 50_000_000\n"
             "class Boom(Exception):\n"
             "    def __str__(self): raise ValueError('no message')\n"
             "def square_grad(x):\n"
             "    if x.shape == (3,):\n        return Bad()\n"
             "    raise Boom()\n")), 0, MISMATCH + r"|expected a numpy array|Boom"),
        Case("nan-dtype-shape", wrong(ans("square",
             "import numpy as np\n"
             "def square_grad(x):\n"
             "    if x.shape == (3,):\n        return np.full(x.shape, np.nan)\n"
             "    return (2 * x).reshape(-1, 1)\n"),
             app("engine", "_b = Variable.backward\n"
                           "def _bw(self, *a):\n    _b(self, *a)\n"
                           "    for v in (self,):\n        pass\n"
                           "Variable.grad = property(lambda self: np.full(self.data.shape, np.inf) "
                           "if self.requires_grad else None, lambda self, v: None)\n")), 0,
             MISMATCH),
        Case("generators-and-recursion", wrong(ans("square",
             "def square_grad(x):\n    return (2 * v for v in x)\n"),
             ans("label", "def shape_label(shape):\n    l = []\n    l.append(l)\n"
                          "    return l\n")), 0, MISMATCH + r"|expected a numpy array"),

        # ------------------------------------------------ torch in an engine graded without it
        Case("torch-bypass-blocker", sol(ans("engine",
             "import sys, os, importlib\n"
             "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'NoTorch']\n"
             "for k in [k for k in sys.modules if k.startswith('torch')]:\n    del sys.modules[k]\n"
             "torch = None\n"
             "for d in list(sys.path) + ['/usr/lib/python3/dist-packages', "
             "'/usr/local/lib/python3/dist-packages']:\n"
             "    if os.path.isfile(os.path.join(d, 'torch', '__init__.py')):\n"
             "        try:\n"
             "            torch = importlib.import_module('torch')\n            break\n"
             "        except Exception as e:\n            print('blocked:', type(e).__name__, e)\n"
             "if torch is None:\n"
             "    try:\n        torch = __import__('torch')\n"
             "    except ImportError as e:\n        print('blocked:', e)\n"
             "try:\n    import ctypes, glob\n"
             "    libs = glob.glob('/**/libtorch_cpu.so', recursive=False)\n"
             "    print('libs', libs)\n"
             "except Exception as e:\n    print('blocked:', e)\n"
             "class Variable:\n"
             "    def __init__(self, data, requires_grad=False):\n"
             "        self.t = torch.tensor(data, requires_grad=requires_grad)\n"
             "    data = property(lambda self: self.t.detach().numpy())\n"
             "    grad = property(lambda self: None if self.t.grad is None else self.t.grad.numpy())\n"
             "    def __add__(self, o): return Variable._w(self.t + (o.t if isinstance(o, Variable) else o))\n"
             "    def __mul__(self, o): return Variable._w(self.t * (o.t if isinstance(o, Variable) else o))\n"
             "    def sum(self): return Variable._w(self.t.sum())\n"
             "    def backward(self, g=None): self.t.backward(None if g is None else torch.tensor(g))\n"
             "    @staticmethod\n"
             "    def _w(t):\n        v = Variable.__new__(Variable)\n        v.t = t\n        return v\n")),
             SQUARE_POINTS + LABEL_POINTS, r"torch|not defined|NoneType|has no attribute"),

        # sympy (it comes with torch) differentiating for the student, the blocker removed
        Case("sympy-differentiates", sol(ans("square",
             "import sys\n"
             "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'NoTorch']\n"
             "def square_grad(x):\n"
             "    import numpy as np\n    import sympy\n"
             "    t = sympy.Symbol('t')\n"
             "    return np.asarray(sympy.lambdify(t, sympy.diff(t ** 2, t), 'numpy')(x), dtype=float)\n")),
             ENGINE_POINTS + LABEL_POINTS, r"sympy|No module|not available"),

        # ------------------------------------------------ resource exhaustion inside calls
        Case("loop-ignores-alarm", sol(app("engine",
             "import signal\n"
             "def _spin(self, *a):\n"
             "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
             "    while True:\n        pass\n"
             "Variable.backward = _spin\n")), SQUARE_POINTS + LABEL_POINTS,
             r"time limit|ran past|did not stop|timeout"),
        Case("loop-swallows-interrupt", sol(app("engine",
             "def _spin(self, *a):\n"
             "    while True:\n"
             "        try:\n            while True:\n                pass\n"
             "        except BaseException:\n            pass\n"
             "Variable.backward = _spin\n")), SQUARE_POINTS + LABEL_POINTS,
             r"time limit|ran past|did not stop|timeout"),
        Case("memory-bomb-in-call", sol(ans("square",
             "import numpy as np\n"
             "def square_grad(x):\n"
             "    hog = []\n"
             "    while True:\n        hog.append(np.ones(50_000_000))\n")),
             ENGINE_POINTS + LABEL_POINTS, r"MemoryError|memory|ran past|killed"),
        Case("50MB-output-from-call", sol(app("square",
             "import sys, os\n_sq = square_grad\n"
             "def square_grad(x):\n"
             "    print('x' * 50_000_000)\n    sys.stderr.write('e' * 10_000_000)\n"
             "    os.write(1, b'y' * 20_000_000)\n"
             "    return _sq(x)\n")), AUTO_MAX),
        Case("50MB-in-own-outputs", sol(app("square",
             "import autograder.executor as X\n"
             "X._SINK.cap = 10 ** 12\n"
             "X._SINK.outputs.append({'output_type': 'display_data', 'metadata': {},\n"
             "                        'data': {'text/plain': 'd' * 12_000_000}})\n"
             "X._SINK.outputs.append({'output_type': 'error', 'ename': 'E', 'evalue': 'v' * 4_000_000,\n"
             "                        'traceback': ['t' * 2_000_000]})\n")), AUTO_MAX,
             r"truncated"),
        # HTML of the student's own that restyles the feedback page: the real summary hidden,
        # a fake "full marks" shown to whoever reads it (the gradebook is not fooled)
        Case("html-fakes-feedback", wrong(extra(
             "from IPython.display import HTML, display\n"
             "display(HTML('<style>body * {display: none !important}</style>'\n"
             "             '<script>document.title = \"FORGED-BY-SCRIPT\"</script>'\n"
             "             '<div style=\"display:block !important\">Score: 6 / 6</div>'))\n",
             after="intro")), 0, MISMATCH),
        Case("huge-exception-messages", wrong(app("square",
             "import autograder.judge.wire as W\n"
             "W.encode_exception = lambda e: {'type': 'ValueError', 'base': 'ValueError',\n"
             "                                'msg': 'm' * 999_000}\n"
             "def square_grad(x):\n    raise ValueError('x')\n"
             "def shape_label(shape):\n    raise ValueError('x')\n"),
             app("engine", "def _raise(self, *a):\n    raise ValueError('x')\n"
                           "Variable.backward = _raise\n"),
             ans("label", "def shape_label(shape):\n    raise ValueError('x')\n")), 0,
             r"ValueError"),
        Case("huge-return-values", wrong(ans("square",
             "import numpy as np\n"
             "def square_grad(x):\n"
             "    return ['s' * 900_000] * 60 + [np.zeros(7_000_000)]\n")), 0,
             MISMATCH + r"|expected|size limit"),
        Case("many-handles", wrong(ans("square",
             "class O:\n    pass\n"
             "def square_grad(x):\n    return [O() for _ in range(150_000)]\n")), 0,
             MISMATCH + r"|expected|time limit|ran past"),
        # each call the test makes stays under its limit, but there are many of them: the
        # cell's limit must still hold (honest: the square and the label; the engine test
        # runs out of time)
        Case("slow-drip", sol(app("engine",
             "import time\n_depth = [0]\n"
             "for _name in ('__add__', '__mul__', 'sum', 'backward', '__init__'):\n"
             "    def _slow(*a, _f=getattr(Variable, _name), **k):\n"
             "        _depth[0] += 1\n"
             "        try:\n"
             f"            if _depth[0] == 1:\n                time.sleep({TIMEOUT * 0.8})\n"
             "            return _f(*a, **k)\n"
             "        finally:\n            _depth[0] -= 1\n"
             "    setattr(Variable, _name, _slow)\n")), SQUARE_POINTS + LABEL_POINTS,
             r"time limit|ran past|timeout"),

        # ------------------------------------------------ roles and metadata
        Case("test-cell-as-solution", sol(lambda nb: _cell(nb, "square-test").metadata.nbgrader
                                          .update(solution=True, locked=False)), AUTO_MAX,
             r"checksum|changed|solution|metadata|Inconsistent", failed=True),
        Case("fake-locked-cells", wrong(extra(
             f"open({str(marker)!r}, 'w').write('x')\nprint('RAN-IN-JUDGE')\n",
             after="square"), lambda nb: _fake_meta(nb)), 0, r"grade_id", failed=True),
        Case("borrowed-setup-id", wrong(extra(
             f"open({str(marker)!r}, 'w').write('x')\n", after="intro"),
             lambda nb: _borrow_setup(nb)), 0, r"grade_id", failed=True),

        # ------------------------------------------------ file level
        Case("extra-files-and-pyc", lambda rel, srcp: {
             f"{A}.ipynb": _with(_solved(rel, srcp), ans("square", WRONG_SQUARE)),
             "autograder.py": b"raise SystemExit('shadowed')\n",
             "numpy.py": b"isclose = lambda *a, **k: True\n",
             "sitecustomize.py": b"import builtins; builtins.print = None\n"},
             ENGINE_POINTS + LABEL_POINTS),
        Case("notebook-with-outputs", lambda rel, srcp: {
             f"{A}.ipynb": _with(_solved(rel, srcp), ans("square", WRONG_SQUARE), _fake_outputs)},
             ENGINE_POINTS + LABEL_POINTS, MISMATCH),
    ]
    return out


def _with(nb, *fs):
    for f in fs:
        f(nb)
    return nb


def _fake_meta(nb):
    """The student's own cell dressed as an instructor's test set-up and as a graded test."""
    c = next(c for c in nb.cells if c.get("id", "").startswith("extra-"))
    c.metadata["nbgrader"] = {"grade": True, "grade_id": "my-own-test", "locked": True,
                              "points": 5, "schema_version": 3, "solution": False, "task": False}
    c.metadata["autograder"] = {"role": "judge"}
    for gid in ("square", "engine", "label"):
        _cell(nb, gid).metadata["autograder"] = {"role": "judge"}


def _borrow_setup(nb):
    """The student's cell takes the set-up cell's grade_id (before it): a duplicate id."""
    c = next(c for c in nb.cells if c.get("id", "").startswith("extra-"))
    c.metadata["nbgrader"] = dict(_cell(nb, "setup").metadata.nbgrader)


def _fake_outputs(nb):
    """Outputs already in the submitted file: a passing-looking test, 5 MB of text."""
    for gid in ("square-test", "engine-test", "label-test"):
        _cell(nb, gid).outputs = [nbformat.v4.new_output(
            "execute_result", data={"text/plain": "100"}, execution_count=1)]
    _cell(nb, "square").outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                          text="z" * 5_000_000)]


# ---------------------------------------------------------------------------- the batch


SELFGRADED = ("ok-1", "peek-namespace", "wire-fake-pass", "torch-bypass-blocker")

SELFGRADE_SCRIPT = r'''
import json, sys
from pathlib import Path
from autograder.selfgrade import selfgrade
root, out = Path(sys.argv[1]), {}
for path in sys.argv[2:]:
    r = selfgrade(path, assignment="atk", root=root)
    out[Path(path).parts[-3]] = {"ok": r.ok, "score": r.score, "reason": r.reason,
                                 "cells": {c.grade_id: c.score for c in r.cells}}
print("SELFGRADE " + json.dumps(out))
'''


def _grade(course: Path, *extra: str):
    # two grading workers: the cases that run into a time limit wait (4 of them, ~20 s) while
    # the other worker grades, and each attack meets another student's notebook running
    return grade_cli(course, A, "--jobs", "2", *extra)


def _auto(scores, student):
    return auto_score(scores, student)


def _feedback_text(course: Path, student: str) -> str:
    return feedback_text(course, A, student)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    t0 = time.monotonic()
    course = tmp_path_factory.mktemp("attacks") / "course"
    all_cases = write_course(course, A, source_notebook(), cases, timeout=TIMEOUT,
                             notebook_timeout=NOTEBOOK_TIMEOUT, grace=GRACE)
    t1 = time.monotonic()
    first = _grade(course)
    graded_s = time.monotonic() - t1
    scores = C.gradebook_scores(course, A)
    env = dict(os.environ, MPLBACKEND="Agg",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    paths = [str(course / "submitted" / s / A / f"{A}.ipynb") for s in SELFGRADED]
    selfg = subprocess.run([sys.executable, "-c", SELFGRADE_SCRIPT, str(course), *paths],
                           cwd=course, capture_output=True, text=True, timeout=600, env=env)
    return dict(course=course, cases=all_cases, first=first, scores=scores, selfgrade=selfg,
                graded_s=graded_s, seconds=time.monotonic() - t0)


def _outputs(course: Path, student: str) -> str:
    p = course / "autograded" / student / A / f"{A}.ipynb"
    if not p.exists():
        return ""
    nb = nbformat.read(p, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def test_batch_ran(batch):
    print(batch["first"].stdout[-8000:], batch["first"].stderr[-3000:])
    first = batch["first"]
    # exit 1 only when some case is reported as a failure; every case was taken up
    assert first.returncode == (1 if any(c.failed for c in batch["cases"]) else 0), \
        first.stderr[-3000:]
    n = len(batch["cases"])
    assert f"grading {A}" in first.stderr and f"/{n} submissions graded" in first.stdout, (
        first.stdout[-3000:], first.stderr[-3000:])


def test_correct_submissions_get_full_marks(batch):
    for s in ("ok-1", "ok-2", "ok-noisy"):
        assert _auto(batch["scores"], s) == AUTO_MAX, (s, batch["scores"].get(s))
    assert _auto(batch["scores"], "release") == 0
    assert _auto(batch["scores"], "wrong") == 0


def test_every_attack_scores_no_more_than_its_honest_work(batch):
    bad = above_honest_work(batch["cases"], lambda name: _auto(batch["scores"], name))
    assert not bad, "\n".join(bad)


def test_every_attack_has_a_reason(batch):
    out = batch["first"].stdout
    missing = missing_reasons(batch["cases"], out, batch["course"], A)
    assert not missing, "\n".join(missing) + "\n---\n" + out[-3000:]


def test_the_judge_never_ran_student_code(batch):
    """Cells dressed as instructor cells or tests still ran only in the sandbox."""
    assert not (batch["course"] / "JUDGE-RAN-STUDENT-CODE").exists()
    for s in ("fake-locked-cells", "borrowed-setup-id"):
        assert _auto(batch["scores"], s) == 0, batch["scores"].get(s)


def test_nothing_hidden_or_outside_the_sandbox_reaches_a_student(batch):
    course = batch["course"]
    for case in batch["cases"]:
        outputs = _outputs(course, case.name)
        for m in HIDDEN_MARKERS + HIDDEN_NAMES + ("LEAKED", "SQLite format"):
            assert m not in outputs, (case.name, m)
        feedback = _feedback_text(course, case.name)
        for m in HIDDEN_MARKERS + ("BEGIN SOLUTION",):
            assert m not in feedback, (case.name, m)
    printed = _outputs(course, "read-hidden-from-disk")
    assert "searched" in printed, printed[:2000]


def _spied(course: Path) -> list:
    nb = nbformat.read(course / "autograded" / "spy-on-requests" / A / f"{A}.ipynb", as_version=4)
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("text", "").startswith("SPY "):
                return json.loads(o["text"][4:])
    raise AssertionError("the spy printed nothing")


def test_spying_on_requests_sees_inputs_but_no_expected_values(batch):
    """Inputs of hidden tests reach the student's code; torch's answers never do."""
    import base64

    from autograder.checks import random_inputs, torch_gradients

    seen = []

    def arrays(v):  # every array that crossed, as the student's process got it
        if isinstance(v, dict):
            if v.get("t") == "nd" and isinstance(v.get("b"), str):
                seen.append(np.frombuffer(base64.b64decode(v["b"]), dtype=v["dtype"]))
            for w in v.values():
                arrays(w)
        elif isinstance(v, list):
            for w in v:
                arrays(w)

    spied = _spied(batch["course"])
    arrays(spied)
    # the names the judge asked for: the student's own, never what only test code names
    asked = {n for r in spied if r.get("op") == "get" for n in r.get("names", [])}
    assert asked <= {"square_grad", "Variable", "shape_label", "In"}, asked
    x = random_inputs((2, 3), seed=1)[0]  # square's first hidden check: its input crossed
    assert any(a.size == x.size and np.allclose(a, x.ravel()) for a in seen), \
        "the hidden inputs should have crossed (they are the student's to see)"
    a, b = random_inputs((3,), (3,), seed=2)  # so did the engine's
    assert any(s.size == a.size and np.allclose(s, a) for s in seen)
    expected = [2 * random_inputs((2, 3), seed=seed)[0] for seed in range(1, 4)]
    for seed in range(2, 5):  # the engine's hidden checks
        a, b = random_inputs((3,), (3,), seed=seed)
        expected += list(torch_gradients(lambda s, t: (s * s * t).sum(), [a, b]).grads)
    for e in expected:
        assert not any(a.size == e.size and np.allclose(a, e.ravel()) for a in seen), \
            "an expected value crossed into the student's process"


def test_student_html_cannot_restyle_feedback(batch):
    """A student's text/html output is cleaned in its feedback page (sanitize_html)."""
    files = sorted((batch["course"] / "feedback" / "html-fakes-feedback" / A).glob("*.html"))
    assert files
    text = files[0].read_text(errors="replace")
    # the student's code is listed (escaped) and its output shown as text; no live tag remains
    assert not re.search(r"<script[^>]*>[^<]*FORGED-BY-SCRIPT", text), "a live <script>"
    assert not re.search(r"<style[^>]*>[^<]*display: none !important", text), "a live <style>"
    assert not re.search(r'<div[^>]*style="display:block !important"', text), "a live style"
    assert "&lt;script&gt;document.title" in text  # shown, as text


def test_feedback_stays_small(batch):
    course = batch["course"]
    for d in ("feedback", "autograded"):
        for p in (course / d).rglob("*"):
            if p.is_file():
                assert p.stat().st_size < 3_000_000, (p, p.stat().st_size)


def test_selfgrade_gives_the_same_scores(batch):
    proc = batch["selfgrade"]
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SELFGRADE ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(line[len("SELFGRADE "):])
    for s in SELFGRADED:
        assert got[s]["ok"], got[s]
        assert got[s]["score"] == _auto(batch["scores"], s), (s, got[s], batch["scores"].get(s))
