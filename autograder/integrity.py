"""Does the student's engine work without torch? (design §4: "the engine does not use torch at all")

An engine that quietly hands its work to ``torch.autograd`` would pass every
comparison with torch. :func:`check_without_torch` rebuilds the engine in a
fresh Python process in which ``import torch`` fails, from the code cells the
notebook has run so far (IPython's input history ``In``, test and picture
cells left out), runs a few expressions there, and compares the values and
gradients it sends back with torch.autograd's, computed here in the test cell.

In a test cell::

    from autograder.integrity import check_without_torch
    check_without_torch(In, [("a * b", "lambda a, b: (a * b).sum()",
                              random_inputs((3,), (3,), seed=1))])
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .checks import GradientMismatch, assert_close, to_array, torch_gradients

__all__ = ["BLOCKED", "TEST_PREFIXES", "check_without_torch", "engine_sources",
           "run_without_torch"]

# top-level modules the engine may not import (torch and the packages that wrap it)
BLOCKED = ("torch", "functorch", "torchvision", "torchaudio", "jax", "autograd")
# the first line of a test cell or a picture cell: those are not replayed
TEST_PREFIXES = ("# Tests", "# Picture")

_DRIVER = r'''
import importlib.abc, pickle, sys, traceback

payload_path, result_path = sys.argv[1], sys.argv[2]
with open(payload_path, "rb") as f:
    payload = pickle.load(f)
sys.path[:0] = [p for p in payload["sys_path"] if p not in sys.path]
import numpy as np  # noqa: E402  (before the block: numpy never needs torch)

BLOCKED = set(payload["blocked"])

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
for k, src in enumerate(payload["sources"]):
    try:
        exec(compile(src, f"<cell {k + 1}>", "exec"), ns)
    except BaseException as e:  # a failing cell must not stop the others (nor exit)
        first = (src.strip().splitlines() or [""])[0][:60]
        cell_errors.append(f"the cell starting {first!r} raised {type(e).__name__}: {e}")

results = []
engine = ns.get(payload["engine"])
for case in payload["cases"]:
    try:
        if engine is None:
            raise NameError(f"{payload['engine']} is not defined")
        fn = eval(case["expr"], dict(ns))
        leaves = [engine(np.array(a, dtype=np.float64), requires_grad=True) for a in case["inputs"]]
        out = fn(*leaves)
        value = np.array(getattr(out, "data", out), dtype=np.float64)
        if case["grad_output"] is None:
            out.backward()
        else:
            out.backward(case["grad_output"].copy())
        grads = [None if leaf.grad is None else np.array(getattr(leaf.grad, "data", leaf.grad),
                                                         dtype=np.float64) for leaf in leaves]
        results.append({"value": value, "grads": grads, "error": None})
    except BaseException as e:
        results.append({"value": None, "grads": None,
                        "error": f"{type(e).__name__}: {e}"})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
with open(result_path, "wb") as f:
    pickle.dump({"results": results, "cell_errors": cell_errors, "loaded": loaded}, f)
'''


def engine_sources(history: Sequence[str], prefixes: Sequence[str] = TEST_PREFIXES) -> list[str]:
    """The code cells run so far that define the engine: all but test and picture cells.

    ``history`` is IPython's ``In`` (every executed cell, in order; ``In[0]`` is empty).
    """
    out = []
    for src in history:
        if not isinstance(src, str) or not src.strip():
            continue
        first = src.lstrip().splitlines()[0].strip()
        if any(first.startswith(p) for p in prefixes):
            continue
        out.append(src)
    return out


@dataclass
class _Run:
    results: list[dict]
    cell_errors: list[str]
    loaded: list[str]


def run_without_torch(sources: Sequence[str], cases: Sequence[dict], *, engine: str = "Variable",
                      timeout: float = 60.0) -> _Run:
    """Run ``sources`` then ``cases`` in a fresh Python where torch cannot be imported.

    Each case is ``{"expr": "lambda a: ...", "inputs": [arrays], "grad_output": array or None}``.
    Returns each case's value and leaf gradients (or its error), the errors of
    the replayed cells, and any blocked module that got loaded anyway.
    """
    with tempfile.TemporaryDirectory(prefix="no-torch-") as tmp:
        payload = os.path.join(tmp, "payload.pkl")
        result = os.path.join(tmp, "result.pkl")
        with open(payload, "wb") as f:
            pickle.dump({"sources": list(sources), "cases": list(cases), "engine": engine,
                         "blocked": BLOCKED, "sys_path": [p for p in sys.path if p]}, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONSTARTUP")}
        env["PYTHONNOUSERSITE"] = "1"
        try:
            proc = subprocess.run([sys.executable, "-c", _DRIVER, payload, result], cwd=tmp,
                                  env=env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GradientMismatch(f"rebuilding your engine without torch took more than "
                                   f"{timeout:.0f} s") from None
        if not os.path.exists(result):
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise GradientMismatch("rebuilding your engine without torch failed (the process "
                                   f"exited with code {proc.returncode}): " + " | ".join(err))
        with open(result, "rb") as f:
            data = pickle.load(f)
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

    prepared, refs = [], []
    for k, case in enumerate(cases):
        name, expr, inputs = case[0], case[1], case[2]
        arrays = [np.array(to_array(a, "input"), dtype=np.float64) for a in inputs]
        ref = torch_gradients(eval(expr, {}), arrays, case[3] if len(case) > 3 else None,
                              seed=seed + k, per_use=True)
        prepared.append({"expr": expr, "inputs": arrays, "grad_output": ref.grad_output})
        refs.append((name, ref))
    run = run_without_torch(engine_sources(history), prepared, engine=engine, timeout=timeout)
    if run.loaded:
        raise GradientMismatch(f"your engine loaded {', '.join(run.loaded[:3])} although it "
                               f"must not use torch at all")
    for (name, ref), res in zip(refs, run.results):
        label = f"{name} (your engine rebuilt in a Python without torch)"
        if res["error"] is not None:
            why = "; ".join(run.cell_errors[:3])
            raise GradientMismatch(
                f"{label}: raised {res['error']}. Your engine must not use torch."
                + (f" While rebuilding it: {why}" if why else ""))
        assert_close(res["value"], ref.value, f"{label}: forward value", kind="value")
        for i, (got, exp) in enumerate(zip(res["grads"], ref.grads)):
            assert_close(got, exp, f"{label}: gradient of input {i}", requires_grad=True,
                         output_shape=tuple(ref.value.shape),
                         use_grads=ref.use_grads[i] if ref.use_grads else ())
