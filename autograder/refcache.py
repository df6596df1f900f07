"""Torch's answers kept for the next notebook: the same expression on the same inputs.

A grading worker grades one notebook after another, and every ps3 notebook asks torch the
same questions: a 10,000-addition chain, a 3,000-step mixed chain, the same small
expressions on the same seeded inputs. Torch's side of such a check (the forward value and
the gradients, :func:`autograder.checks.torch_gradients`) does not depend on the student,
so a worker computes it once and hands out copies after that: about a sixth of a ps3
notebook's grading time (docs/architecture.md, "Fewer round trips").

A result is reused only when its key covers everything the expression can read, and the
key is built without asking any object a question (a student's proxy is never touched:
``type(v) is ...`` checks only):

* the function's compiled code (``marshal``, nested code included), its defaults and its
  closure's values;
* the value of every global name the code (or a nested function) mentions;
* the inputs' bytes, dtypes and shapes, the ``grad_output``, the seed.

A value can be part of a key if it is plain data (numbers, strings, None, tuples and lists
of them, numpy arrays), a module or module-level function or class of a trusted package
(the course's own, torch, numpy, the standard library's math), found again by its name,
or a plain function whose own key can be built (a test cell's helper). Anything else (a
proxy of a student's object, a ``functools.partial``, an object with state) makes the
expression uncachable, and torch computes it every time, as before. Names that draw random
numbers (``randn``, ``manual_seed`` ...) make it uncachable too; and a result is not kept
when the expression sent a request to the student's process while torch computed it, or
changed what its key reads (appended to a list it names, say: a later notebook runs it
again, side effect included).

Only what took torch at least :data:`MIN_SECONDS` is kept (small expressions cost less than
their key), at most :data:`MAX_ENTRIES` results and :data:`MAX_BYTES` of arrays, oldest
dropped first. The cache lives in the judge's process (trusted): nothing in it comes from,
or goes to, the student's process.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
import types
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

MIN_SECONDS = 0.02
MAX_ENTRIES = 256
MAX_BYTES = 64 << 20
_MAX_DEPTH = 4          # functions within functions within ... a key follows
_MAX_ITEMS = 10_000     # elements of a list or tuple of plain values
_MAX_ARRAY = 1 << 20    # elements of one numpy array
TRUSTED = ("autograder", "torch", "numpy", "math", "operator", "functools")
#: names whose use means the expression may draw random numbers: never cached
RANDOM_NAMES = frozenset({
    "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
    "normal", "normal_", "uniform", "uniform_", "bernoulli", "bernoulli_", "multinomial",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "Dropout", "manual_seed", "seed",
    "random", "random_", "default_rng", "Generator", "shuffle", "choice", "permutation",
    "exponential_", "geometric_", "cauchy_", "log_normal_", "poisson", "rrelu", "RReLU",
})

_CACHE: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
_BYTES = [0]
STATS = {"hits": 0, "misses": 0, "uncachable": 0}


class Uncachable(Exception):
    """The expression reads something a key cannot hold."""


def key(fn: Callable, arrays: list[np.ndarray], *extra) -> bytes | None:
    """The cache key of ``fn`` on ``arrays`` (and ``extra``, plain values), or None."""
    try:
        parts: list = []
        _function(fn, parts, 0)
        for a in arrays:
            _value(a, parts, 0)
        for e in extra:
            _value(e, parts, 0)
    except Uncachable:
        STATS["uncachable"] += 1
        return None
    h = hashlib.blake2b(digest_size=32)
    for p in parts:
        b = p if isinstance(p, bytes) else repr(p).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.digest()


def get(k: bytes | None):
    """The kept result for key ``k`` (a copy), or None."""
    if k is None:
        return None
    hit = _CACHE.get(k)
    if hit is None:
        STATS["misses"] += 1
        return None
    _CACHE.move_to_end(k)
    STATS["hits"] += 1
    return _copy(hit[0])


def put(k: bytes | None, result, seconds: float) -> None:
    """Keep ``result`` under ``k`` if it was worth computing once only."""
    if k is None or seconds < MIN_SECONDS:
        return
    size = _size(result)
    if size > MAX_BYTES // 4:
        return
    _CACHE[k] = (_copy(result), size)
    _BYTES[0] += size
    while len(_CACHE) > MAX_ENTRIES or _BYTES[0] > MAX_BYTES:
        _, (_, s) = _CACHE.popitem(last=False)
        _BYTES[0] -= s


def clear() -> None:
    _CACHE.clear()
    _BYTES[0] = 0


# ---------------------------------------------------------------------------- keys


def _function(fn, parts: list, depth: int) -> None:
    if type(fn) is not types.FunctionType:
        raise Uncachable(type(fn).__name__)
    if depth > _MAX_DEPTH:
        raise Uncachable("too deep")
    code = fn.__code__
    names = _names(code)
    if names & RANDOM_NAMES:
        raise Uncachable("random")
    try:
        parts.append(marshal.dumps(code))
    except ValueError as e:
        raise Uncachable("code") from e
    _value(fn.__defaults__, parts, depth)
    _value(tuple(sorted((fn.__kwdefaults__ or {}).items())), parts, depth)
    for cell in fn.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell: a name not bound yet
            parts.append("<empty>")
            continue
        _any(contents, parts, depth + 1)
    g = fn.__globals__
    for name in sorted(names):  # attribute names too: a global of the same name counts
        if name in g:
            parts.append(name)
            _any(g[name], parts, depth + 1)
            if type(g[name]) is types.ModuleType:  # what ``module.name`` finds there now
                found = vars(g[name])
                parts.append(tuple((n, id(found[n])) for n in sorted(names) if n in found))


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _any(v, parts: list, depth: int) -> None:
    """A value a function reads: plain data, a trusted module/function/class, or a function."""
    t = type(v)
    if t is types.ModuleType:
        name = v.__name__
        if _trusted(name) and sys.modules.get(name) is v:
            parts.append(("module", name))
            return
        raise Uncachable(f"module {name}")
    if t in (types.FunctionType, types.BuiltinFunctionType, type) or t is np.ufunc:
        found = _by_name(v)
        if found:
            parts.append(found)
            return
        if t is types.FunctionType:  # a function of the test cell: its own key
            parts.append("fn")
            _function(v, parts, depth)
            return
        raise Uncachable(f"{t.__name__}")
    _value(v, parts, depth)


def _by_name(v) -> tuple | None:
    """("ref", module, qualname) for a module-level object of a trusted module, found
    again under that name (the identity check: a look-alike is no match). ``v`` is a
    plain function, builtin, class or ufunc: reading its names runs no one's code."""
    mod = getattr(v, "__module__", None)
    if not isinstance(mod, str) or (mod != "builtins" and not _trusted(mod)):
        return None
    for qual in (getattr(v, "__qualname__", None), getattr(v, "__name__", None)):
        if not isinstance(qual, str) or "<" in qual:
            continue
        obj = sys.modules.get(mod)
        for part in qual.split("."):
            obj = getattr(obj, part, None) if obj is not None else None
        if obj is v:
            return ("ref", mod, qual, id(v))  # the id: a replaced attribute is no match
    return None


def _trusted(module: str) -> bool:
    return module.split(".")[0] in TRUSTED


def _value(v, parts: list, depth: int) -> None:
    """Plain data, by value."""
    t = type(v)
    if v is None or t in (bool, int, float, complex, str, bytes):
        parts.append((t.__name__, v))
    elif t in (tuple, list):
        if len(v) > _MAX_ITEMS:
            raise Uncachable("long list")
        parts.append((t.__name__, len(v)))
        for x in v:
            if type(x) in (tuple, list, np.ndarray) or x is None or \
                    type(x) in (bool, int, float, complex, str, bytes):
                _value(x, parts, depth)
            else:
                _any(x, parts, depth + 1)
    elif t is np.ndarray:
        if v.dtype.hasobject or v.size > _MAX_ARRAY:
            raise Uncachable("array")
        parts.append(("nd", v.dtype.str, v.shape))
        parts.append(np.ascontiguousarray(v).tobytes())
    elif isinstance(v, np.generic) and t.__module__ == "numpy":
        parts.append(("np", v.dtype.str, v.tobytes()))
    else:
        raise Uncachable(t.__name__)


# ---------------------------------------------------------------------------- values


def _copy(result):
    import copy

    return copy.deepcopy(result)


def _size(result) -> int:
    total = 0
    for v in vars(result).values() if hasattr(result, "__dict__") else ():
        for a in v if isinstance(v, list) else [v]:
            for x in a if isinstance(a, list) else [a]:
                if isinstance(x, np.ndarray):
                    total += x.nbytes
    return total
