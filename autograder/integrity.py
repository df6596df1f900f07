"""Does the student's engine work without torch? (docs/design.md, the engine contract: "the engine does not use torch at all")

An engine that quietly hands its work to ``torch.autograd`` would pass every
comparison with torch. :func:`check_without_torch` rebuilds the engine in a
fresh Python process in which ``import torch`` fails, from the code cells the
notebook has run so far (IPython's input history ``In``; test and judge
cells, known by their metadata in the notebook, left out), runs a few expressions there, and compares the values and
gradients it sends back with torch.autograd's, computed here in the test cell.

In a test cell::

    from autograder.integrity import check_without_torch
    check_without_torch(In, [("a * b", "lambda a, b: (a * b).sum()",
                              random_inputs((3,), (3,), seed=1))])
"""

from __future__ import annotations

import os
import pickle
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .checks import (
    GradientMismatch,
    assert_close,
    assert_close_explained,
    to_array,
    torch_gradients,
)

__all__ = ["BLOCKED", "check_by_hand", "check_without_torch", "engine_sources",
           "run_without_torch", "test_cell_sources"]

# top-level modules the engine may not import (torch and the packages that wrap it)
BLOCKED = ("torch", "functorch", "torchgen", "torchvision", "torchaudio", "jax", "jaxlib",
           "autograd", "sympy", "mpmath")  # = judge.sandboxed.WITHOUT_TORCH (a test checks)

_DRIVER = r'''
import atexit, importlib.abc, os, pickle, shutil, signal, struct, sys

# this process's working directory is its own temporary one: it goes when we do, however the
# kernel that started us ended (a shut-down kernel never calls _Worker.close: we see the end
# of stdin, or the kernel's process group is interrupted or terminated)
atexit.register(shutil.rmtree, os.getcwd(), True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

# the protocol runs on a private copy of stdout: the engine's prints must not corrupt it
channel = os.fdopen(os.dup(1), "wb")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
sys.stdout = open(os.devnull, "w")
requests = sys.stdin.buffer


def recv():
    head = requests.read(8)
    if len(head) < 8:
        sys.exit(0)  # the test's kernel is gone: so are we
    return pickle.loads(requests.read(struct.unpack("<Q", head)[0]))


def send(obj):
    data = pickle.dumps(obj)
    channel.write(struct.pack("<Q", len(data)) + data)
    channel.flush()


setup = recv()
sys.path[:0] = [p for p in setup["sys_path"] if p not in sys.path]
import numpy as np  # noqa: E402  (before the block: numpy never needs torch)

BLOCKED = set(setup["blocked"])


class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {name!r}: your engine must work without torch", name=name)
        return None


sys.meta_path.insert(0, NoTorch())
for mod in list(sys.modules):
    if mod.split(".")[0] in BLOCKED:
        del sys.modules[mod]

ns = {"__name__": "__main__"}
cell_errors = []
replayed = 0
while True:
    payload = recv()  # the cells run since the last request, then the cases
    for src in payload["sources"]:
        replayed += 1
        try:
            exec(compile(src, f"<cell {replayed}>", "exec"), ns)
        except BaseException as e:  # a failing cell must not stop the others (nor exit)
            first = (src.strip().splitlines() or [""])[0][:60]
            cell_errors.append(f"the cell starting {first!r} raised {type(e).__name__}: {e}")
    results = []
    engine = ns.get(payload["engine"]) if payload["engine"] else None
    for case in payload["cases"]:
        try:
            if "call" in case:  # check_by_hand: a function of arrays, called as it is
                fn = ns.get(case["call"])
                if fn is None:
                    raise NameError(f"{case['call']} is not defined")
                out = fn(*[np.array(a, dtype=np.float64) for a in case["inputs"]])
                many = isinstance(out, (tuple, list))
                results.append({"value": [np.array(v, dtype=np.float64)
                                          for v in (out if many else [out])],
                                "many": many, "grads": None, "error": None})
                continue
            if engine is None:
                raise NameError(f"{payload['engine']} is not defined")
            fn = eval(case["expr"], dict(ns))
            leaves = [engine(np.array(a, dtype=np.float64), requires_grad=True)
                      for a in case["inputs"]]
            out = fn(*leaves)
            value = np.array(getattr(out, "data", out), dtype=np.float64)
            if case["grad_output"] is None:
                out.backward()
            else:
                out.backward(case["grad_output"].copy())
            grads = [None if leaf.grad is None else
                     np.array(getattr(leaf.grad, "data", leaf.grad), dtype=np.float64)
                     for leaf in leaves]
            results.append({"value": value, "grads": grads, "error": None})
        except BaseException as e:
            results.append({"value": None, "grads": None, "error": f"{type(e).__name__}: {e}"})
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    send({"results": results, "cell_errors": list(cell_errors), "loaded": loaded})
'''


def _norm(src: str) -> str:
    return "\n".join(ln.rstrip() for ln in src.strip().splitlines())


def test_cell_sources(nb) -> set[str]:
    """The code of a notebook's test and judge cells, by their metadata: nbgrader grade cells
    that are not answers, and cells marked ``"autograder": {"role": "judge"}``."""
    out = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") or {}
        nbg, own = meta.get("nbgrader") or {}, meta.get("autograder") or {}
        if (nbg.get("grade") and not nbg.get("solution")) or own.get("role") == "judge":
            src = cell.get("source", "")
            out.add(_norm("".join(src) if isinstance(src, list) else src))
    return out


def _notebook_of(current: str, where: str | None = None) -> dict | None:
    """The notebook (in the kernel's directory) that holds the cell running now."""
    import glob
    import json

    want = _norm(current)
    for path in sorted(glob.glob(os.path.join(where or os.getcwd(), "*.ipynb"))):
        try:
            with open(path, encoding="utf-8") as f:
                nb = json.load(f)
        except (OSError, ValueError):
            continue
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            if _norm("".join(src) if isinstance(src, list) else src) == want:
                return nb
    return None


def engine_sources(history: Sequence[str], tests: set[str] | None = None) -> list[str]:
    """The code cells run so far that define the engine: all but test and judge cells.

    ``history`` is IPython's ``In`` (every executed cell, in order; ``In[0]`` is empty; the
    last is the cell running now). ``tests``: the code of the notebook's test and judge cells
    (:func:`test_cell_sources`); by default read from the notebook in the kernel's directory
    that holds the running cell. Without such a notebook only cells that call
    ``check_without_torch`` are left out (a test cell replayed where torch does not exist just
    fails there, and its failure is not the engine's).
    """
    cells = [src for src in history if isinstance(src, str) and src.strip()]
    if tests is None and cells:
        nb = _notebook_of(cells[-1])
        tests = test_cell_sources(nb) if nb is not None else None
    out = []
    for src in cells:
        if tests is not None and _norm(src) in tests:
            continue
        if tests is None and ("check_without_torch(" in src or "check_by_hand(" in src):
            continue
        out.append(src)
    return out


@dataclass
class _Run:
    results: list[dict]
    cell_errors: list[str]
    loaded: list[str]


class _Worker:
    """One torch-less Python per kernel, fed the cells run since its last request.

    Replaying ``In`` from scratch in a fresh process for every check cost a
    Python start and a numpy import each time (about 20 per ps3 notebook); the
    history only grows, so the worker replays just what is new, and starts
    over only when the history changed underneath it (a restarted kernel).
    """

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONSTARTUP")}
        env["PYTHONNOUSERSITE"] = "1"
        self.tmp = tempfile.mkdtemp(prefix="no-torch-")
        # stderr to a file: an engine that prints a lot must not block on a full pipe
        self.stderr = open(os.path.join(self.tmp, "stderr.txt"), "w+b")
        # -S: no site module (~30 ms of .pth processing); the setup message below gives the
        # worker this process's sys.path, site-packages included
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", _DRIVER], cwd=self.tmp, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.sent: list[str] = []
        # where the autograder package itself lives: an editable install finds it through a
        # site hook that -S skips, and test expressions may use its helpers (add_chain)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._send({"blocked": BLOCKED, "sys_path": [p for p in sys.path if p] + [here]})

    def _send(self, obj) -> None:
        data = pickle.dumps(obj)
        self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
        self.proc.stdin.flush()

    def _recv(self, timeout: float):
        deadline = time.monotonic() + timeout
        buf = b""
        need = 8
        size = None
        fd = self.proc.stdout.fileno()
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, need - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
            if size is None and len(buf) == 8:
                size = struct.unpack("<Q", buf)[0]
                buf, need = b"", size
        return pickle.loads(buf)

    def run(self, sources: list[str], cases: list[dict], engine: str, timeout: float) -> dict:
        new = sources[len(self.sent):]
        self._send({"sources": new, "cases": cases, "engine": engine})
        self.sent = list(sources)
        return self._recv(timeout)

    def close(self) -> str:
        """Stop the worker; returns the end of what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
            self.stderr.seek(0)
            err = self.stderr.read()[-2000:]
        except Exception:
            err = b""
        self.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return " | ".join(err.decode("utf-8", "replace").strip().splitlines()[-3:])


_STATE: dict = {}  # the kernel's worker, if any


def run_without_torch(sources: Sequence[str], cases: Sequence[dict], *, engine: str = "Variable",
                      timeout: float = 60.0) -> _Run:
    """Run ``sources`` then ``cases`` in a Python where torch cannot be imported.

    Each case is ``{"expr": "lambda a: ...", "inputs": [arrays], "grad_output": array or None}``.
    Returns each case's value and leaf gradients (or its error), the errors of
    the replayed cells, and any blocked module that got loaded anyway.
    """
    sources = list(sources)
    worker = _STATE.get("worker")
    if worker is not None and (worker.proc.poll() is not None
                               or worker.sent != sources[:len(worker.sent)]):
        worker.close()
        worker = None
    if worker is None:
        worker = _STATE["worker"] = _Worker()
    try:
        data = worker.run(sources, list(cases), engine, timeout)
    except TimeoutError:
        _STATE.pop("worker", None)
        worker.close()
        raise GradientMismatch(f"rebuilding your engine without torch took more than "
                               f"{timeout:.0f} s") from None
    except (EOFError, OSError, pickle.UnpicklingError):
        _STATE.pop("worker", None)
        code, err = worker.proc.poll(), worker.close()
        raise GradientMismatch("rebuilding your engine without torch failed (the process "
                               f"exited with code {code}): {err}") from None
    return _Run(data["results"], data["cell_errors"], data["loaded"])


def check_without_torch(history: Sequence[str], cases: Sequence[tuple], *,
                        engine: str = "Variable", seed: int = 0, timeout: float = 60.0) -> None:
    """Rebuild the engine without torch and compare each case with torch.autograd.

    ``history``: IPython's ``In``. ``cases``: ``(name, expression source, inputs)``
    triples, or ``(name, source, inputs, grad_output)``; the expression must be
    a lambda that runs on both engines. Raises :class:`GradientMismatch` with
    the first difference, naming the case and saying it ran without torch.
    """
    import torch  # noqa: F401  (the reference runs here, in the test's own process)

    from .testing import ACTIVE_JUDGE

    judge = ACTIVE_JUDGE.get()
    if judge is not None:  # grading: the student's engine already runs where torch does not exist
        _check_in_judge(judge, cases, engine, seed)
        return
    prepared, refs = [], []
    for k, case in enumerate(cases):
        name, expr, inputs = case[0], case[1], case[2]
        arrays = [np.array(to_array(a, "input"), dtype=np.float64) for a in inputs]
        ref = torch_gradients(eval(expr, {}), arrays, case[3] if len(case) > 3 else None,
                              seed=seed + k)
        prepared.append({"expr": expr, "inputs": arrays, "grad_output": ref.grad_output})
        refs.append((name, expr, arrays, ref))
    run = run_without_torch(engine_sources(history), prepared, engine=engine, timeout=timeout)
    if run.loaded:
        raise GradientMismatch(f"your engine loaded {', '.join(run.loaded[:3])} although it "
                               f"must not use torch at all")
    for (name, expr, arrays, ref), res in zip(refs, run.results):
        label = f"{name} (your engine rebuilt in a Python without torch)"
        if res["error"] is not None:
            why = "; ".join(run.cell_errors[:3])
            raise GradientMismatch(
                f"{label}: raised {res['error']}. Your engine must not use torch."
                + (f" While rebuilding it: {why}" if why else ""))
        assert_close(res["value"], ref.value, f"{label}: forward value", kind="value")
        for i, (got, exp) in enumerate(zip(res["grads"], ref.grads)):
            def uses(i=i, expr=expr, arrays=arrays, ref=ref):
                return torch_gradients(eval(expr, {}), arrays, ref.grad_output,
                                       per_use=True).use_grads[i]

            assert_close_explained(got, exp, f"{label}: gradient of input {i}", uses,
                                   requires_grad=True, output_shape=tuple(ref.value.shape))


def _check_in_judge(judge, cases: Sequence[tuple], engine: str, seed: int) -> None:
    """:func:`check_without_torch` during grading, where the judge runs the tests.

    The student's process was started without torch (the grader's own setting, not the
    student's word), so the cases run there directly, through the judge's proxies.
    """
    from .checks import check_gradients

    if judge.student_torch:
        raise GradientMismatch("check_without_torch: this assignment's student code was "
                               "graded with torch available; mark its source notebook "
                               "'autograder': {'student_torch': false}")
    cls = judge.get([engine]).get(engine)
    if cls is None:
        raise GradientMismatch(f"your notebook defines no {engine}")
    for k, case in enumerate(cases):
        name, expr, inputs = case[0], case[1], case[2]
        check_gradients(eval(expr, {}), inputs, cls,
                        name=f"{name} (your engine, in a Python without torch)",
                        grad_output=case[3] if len(case) > 3 else None, seed=seed + k)


def check_by_hand(history: Sequence[str], name: str, torch_fn, inputs: Sequence,
                  what: str | None = None, *, more: Sequence[tuple[Sequence, str]] = (),
                  timeout: float = 60.0) -> None:
    """The student's ``name(*inputs)``, a gradient written by hand in numpy, computed in a
    Python where torch does not exist, against torch.autograd's gradient of ``torch_fn``.

    For an assignment whose students have torch (ps1) but must not hand one answer to it
    (part A). ``name`` returns one array for one input, a tuple of arrays (one per input)
    for several. In a kernel (Validate) the notebook's cells so far are replayed in such a
    Python (:func:`run_without_torch`); during grading, in a second sandboxed process of the
    notebook started without torch (the judge's ``Session.torch_free``). ``history``:
    IPython's ``In`` (only read in a kernel). ``more``: further ``(inputs, what)`` cases,
    checked in the same process (one replay in a kernel): the hidden inputs too, so that an
    answer cannot ask torch wherever it exists and pass the one visible input without it.
    """
    import torch  # noqa: F401  (the reference runs here, in the test's own process)

    from .i18n import _
    from .testing import ACTIVE_JUDGE

    cases = [([np.array(to_array(a, "input"), dtype=np.float64) for a in args],
              _("{what} (your code run in a Python without torch)").format(what=label or name))
             for args, label in [(inputs, what), *more]]
    session = ACTIVE_JUDGE.get()
    if session is not None:
        if session.torch_free is None:
            raise GradientMismatch(f"check_by_hand: no process without torch for {name}")
        free = session.torch_free()
        why = "; ".join(getattr(free, "replay_errors", [])[:3])
        fn = free.get([name]).get(name)
        if fn is None:
            raise GradientMismatch(_("{label}: {name} is not defined").format(
                label=cases[0][1], name=name) + (f" ({why})" if why else ""))
        results = []
        for arrays, _label in cases:
            try:
                out = fn(*arrays)
            except Exception as e:  # the student's error, as data (SandboxGone is not one)
                results.append({"error": f"{type(e).__name__}: {e}", "many": False, "value": []})
                continue
            many = isinstance(out, (tuple, list))
            results.append({"error": None, "many": many, "value": list(out) if many else [out]})
    else:
        prepared = [{"call": name, "inputs": arrays} for arrays, _label in cases]
        run = run_without_torch(engine_sources(history), prepared, engine="", timeout=timeout)
        results, why = run.results, "; ".join(run.cell_errors[:3])
    for (arrays, label), res in zip(cases, results):
        _check_by_hand_result(res, arrays, label, torch_fn, why)


def _check_by_hand_result(res: dict, arrays: list, label: str, torch_fn, why: str) -> None:
    """One case of :func:`check_by_hand`: the torch-free result against torch's gradients."""
    from .i18n import _

    error, many, got = res["error"], res.get("many", False), res["value"]  # got: a list
    if error is not None:
        raise GradientMismatch(_("{label}: raised {error}. Compute the gradient by hand, "
                                 "with numpy: torch does not exist there").format(
            label=label, error=error) + (f" ({why})" if why else ""))
    if len(arrays) == 1 and many and len(got) != 1:
        got = [got]  # one input: a list returned is the gradient itself, not one per input
    if len(got) != len(arrays):  # also for one input: an empty answer would compare nothing
        raise GradientMismatch(_("{label}: expected {n} gradients, one per input").format(
            label=label, n=len(arrays)))
    expected = torch_gradients(torch_fn, arrays).grads
    for i, (g, exp) in enumerate(zip(got, expected)):
        assert_close(g, exp, _("{label}: gradient of input {i}").format(label=label, i=i),
                     kind="gradient")
