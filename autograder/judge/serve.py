"""The student's side of the judge protocol: answers the judge's requests about student objects.

Runs in the sandboxed process that ran the student's cells (forked per notebook
by :mod:`autograder.executor`). Everything here is in the student's hands: the
student's code can change any of it, and that is fine, because the judge
treats every answer as data and only ever compares it with what it computed
itself. Requests (one JSON line each, :mod:`autograder.judge.wire`):

``get`` names from the notebook's namespace; ``getattr``/``setattr``; ``call``;
``callattr`` (``obj.name(...)``: an attribute read and called in one request);
``binop``/``unop`` (operators); ``getitem``/``setitem``; ``len``; ``iter``;
``bool``/``float``/``int``/``index``; ``array`` (an object's numbers as an
array); ``typename``; ``repr``; ``isinstance``; ``import`` (a module, by name);
``put`` (a value the judge hands over, kept as a handle); ``cell`` (run a
student cell; see the executor). Each answer is ``{"ok": value}`` or
``{"exc": {"type", "base", "msg"}}``.
"""

from __future__ import annotations

import importlib
import operator
import types

import numpy as np

from . import wire

BINOPS = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
    "lt", "le", "gt", "ge", "and_", "or_", "xor", "lshift", "rshift")}
UNOPS = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs,
         "invert": operator.invert}


class Handles:
    """The objects the judge holds handles to: kept alive for the whole notebook."""

    def __init__(self):
        self.objects: list = []
        self.ids: dict[int, int] = {}

    def handle(self, obj) -> int:
        key = id(obj)
        hid = self.ids.get(key)
        if hid is None or self.objects[hid] is not obj:
            hid = len(self.objects)
            self.objects.append(obj)
            self.ids[key] = hid
        return hid

    def handle_named(self, obj):
        """:meth:`handle`, with the object's type name the first time (``(id, name)``)."""
        n = len(self.objects)
        hid = self.handle(obj)
        if hid < n:
            return hid
        name = str(type(obj).__name__)[:200]
        return (hid, name) if name else hid

    def resolve(self, hid: int):
        if hid >= len(self.objects):
            raise wire.WireError(f"no handle {hid}")
        return self.objects[hid]


def _as_array(obj):
    """The numbers of ``obj``: an array, a tensor (detached), a ``.data`` array, a number."""
    mod = type(obj).__module__ or ""
    if mod.startswith("torch") and hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    elif not isinstance(obj, (np.ndarray, np.generic, int, float, bool, list, tuple)) and \
            isinstance(getattr(obj, "data", None), np.ndarray):
        obj = obj.data
    arr = np.asarray(obj)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers, got an array of dtype {arr.dtype}")
    return np.array(arr, copy=True)


class Server:
    """Answers one notebook's requests; ``ns`` is the notebook's namespace (the shell's user_ns)."""

    def __init__(self, ns: dict, run_cell=None):
        self.ns = ns
        self.run_cell = run_cell
        self.handles = Handles()

    # -- values
    def enc(self, value):
        try:
            return wire.encode(value, self.handles.handle_named)
        except wire.Unencodable:  # too big as data: the judge gets a handle instead
            return wire.encode_handle(self.handles.handle_named, value)

    def dec(self, value):
        return wire.decode(value, self.handles.resolve)

    def obj(self, req):
        hid = req.get("h")
        if type(hid) is not int:
            raise wire.WireError("missing handle")
        return self.handles.resolve(hid)

    # -- one request
    def answer(self, req: dict) -> dict:
        op = req.get("op")
        fn = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        if fn is None:
            return {"exc": {"type": wire.REFUSED, "base": "ValueError", "msg": f"unknown op {op!r}"}}
        try:
            return {"ok": fn(req)}
        except wire.WireError as e:
            return {"exc": {"type": wire.REFUSED, "base": "ValueError", "msg": str(e)}}
        except BaseException as e:  # noqa: BLE001  (the student's exception, as data)
            if isinstance(e, KeyboardInterrupt):
                raise
            return {"exc": wire.encode_exception(e)}

    def op_get(self, req):
        names = req.get("names")
        if type(names) is not list or not all(type(n) is str for n in names):
            raise wire.WireError("get: names must be strings")
        out = {}
        for n in names:
            # a module is the judge's own business: a test that uses `np` imports numpy itself
            if n in self.ns and not isinstance(self.ns[n], types.ModuleType):
                out[n] = self.enc(self.ns[n])
        return {"t": "dict", "v": [[k, v] for k, v in out.items()]}

    def op_getattr(self, req):
        return self.enc(getattr(self.obj(req), _name(req)))

    def op_setattr(self, req):
        setattr(self.obj(req), _name(req), self.dec(req.get("v")))
        return None

    def op_call(self, req):
        args = self.dec(req.get("args", {"t": "list", "v": []}))
        kwargs = self.dec(req.get("kw", {"t": "dict", "v": []}))
        if type(args) is not list or type(kwargs) is not dict or \
                not all(type(k) is str for k in kwargs):
            raise wire.WireError("call: bad arguments")
        return self.enc(self.obj(req)(*args, **kwargs))

    def op_callattr(self, req):  # `obj.name(*args, **kwargs)` in one request
        args = self.dec(req.get("args", {"t": "list", "v": []}))
        kwargs = self.dec(req.get("kw", {"t": "dict", "v": []}))
        if type(args) is not list or type(kwargs) is not dict or \
                not all(type(k) is str for k in kwargs):
            raise wire.WireError("callattr: bad arguments")
        return self.enc(getattr(self.obj(req), _name(req))(*args, **kwargs))

    def op_binop(self, req):
        fn = BINOPS.get(req.get("name"))
        if fn is None:
            raise wire.WireError("binop: unknown operator")
        return self.enc(fn(self.dec(req.get("a")), self.dec(req.get("b"))))

    def op_unop(self, req):
        fn = UNOPS.get(req.get("name"))
        if fn is None:
            raise wire.WireError("unop: unknown operator")
        return self.enc(fn(self.obj(req)))

    def op_getitem(self, req):
        return self.enc(self.obj(req)[self.dec(req.get("k"))])

    def op_setitem(self, req):
        self.obj(req)[self.dec(req.get("k"))] = self.dec(req.get("v"))
        return None

    def op_len(self, req):
        return int(len(self.obj(req)))

    def op_iter(self, req):
        items = []
        for k, item in enumerate(self.obj(req)):
            if k >= wire.LIMITS.items:
                raise OverflowError("iterating gave too many items")
            items.append(item)
        return {"t": "list", "v": [self.enc(v) for v in items]}

    def op_bool(self, req):
        return bool(self.obj(req))

    def op_float(self, req):
        return float(self.obj(req))

    def op_int(self, req):
        return int(self.obj(req))

    def op_index(self, req):
        return operator.index(self.obj(req))

    def op_array(self, req):
        return wire.encode(_as_array(self.obj(req)))

    def op_typename(self, req):
        return str(type(self.obj(req)).__name__)[:200]

    def op_repr(self, req):
        return str(repr(self.obj(req)))[:2000]

    def op_isinstance(self, req):
        return bool(isinstance(self.dec(req.get("v")), self.obj(req)))

    def op_import(self, req):
        return self.enc(importlib.import_module(_name(req)))

    def op_put(self, req):
        return {"t": "h", "id": self.handles.handle(self.dec(req.get("v")))}

    def op_cell(self, req):
        src = req.get("src")
        if type(src) is not str or self.run_cell is None:
            raise wire.WireError("cell: bad source")
        return self.run_cell(req)


def _name(req) -> str:
    name = req.get("name")
    if type(name) is not str or len(name) > 200:
        raise wire.WireError("bad name")
    return name
