"""The strict codec for what crosses between the judge and the student's process.

One message is one line of JSON. A *value* in a message is one of

* ``None``, ``true``/``false``, an integer, a float (``NaN`` and infinities
  allowed), a string;
* ``{"t": "list" | "tuple", "v": [values]}``, ``{"t": "dict", "v": [[key, value], ...]}``;
* ``{"t": "nd", "dtype": "<f8", "shape": [2, 3], "b": "<base64>"}``: a numpy array of a
  plain numeric or bool dtype (``"sc": true`` makes it a numpy scalar);
* ``{"t": "h", "id": 7}``: a handle, an object that stays where it lives (the student's
  process adds ``"tn": "Variable"``, its type's name, the first time it hands one out);
* ``{"t": "slice", ...}``, ``{"t": "ellipsis"}``, ``{"t": "exctype", "name": "ValueError"}``.

:func:`decode` turns a value back into Python objects with exact built-in types
(never subclasses), checks every field, and enforces size limits
(:class:`Limits`); anything else is a :class:`WireError`. Nothing is ever
unpickled, evaluated or imported on the way. Handles are resolved by a callback
of the side that decodes them.
"""

from __future__ import annotations

import base64
import builtins
import json
import math
import re
from dataclasses import dataclass

import numpy as np

#: numpy dtypes that may cross (little-endian, plain numbers and bools)
DTYPES = frozenset({"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
                    "<f2", "<f4", "<f8"})

#: built-in exception classes an exception from the other side may become
EXCEPTIONS = {name: getattr(builtins, name) for name in (
    "ArithmeticError", "AssertionError", "AttributeError", "BufferError", "EOFError",
    "FloatingPointError", "ImportError", "IndexError", "KeyError", "LookupError",
    "MemoryError", "ModuleNotFoundError", "NameError", "NotImplementedError", "OSError",
    "OverflowError", "RecursionError", "ReferenceError", "RuntimeError", "StopIteration",
    "SyntaxError", "TypeError", "UnboundLocalError", "ValueError", "ZeroDivisionError",
    "Exception", "UnicodeError", "UnicodeDecodeError", "UnicodeEncodeError",
)}


#: the ``type`` of an answer saying the student's process refused a request as malformed: not
#: an identifier, so no exception class of the student's (whose names are) can be taken for it
REFUSED = "wire:refused"


class WireError(ValueError):
    """A message that does not follow the protocol (or exceeds its limits)."""


@dataclass(frozen=True)
class Limits:
    line_bytes: int = 64 << 20  # one message
    elements: int = 8_000_000  # numbers in one array
    items: int = 200_000  # entries in all containers of one message
    depth: int = 32
    str_chars: int = 1_000_000
    int_digits: int = 400
    #: all the answers of one notebook's process together (Channel): the judge may keep what
    #: they decode to (a test that keeps a model's parameters), so a notebook that answers
    #: with many large arrays, each within the limits above, cannot fill the judge's memory
    session_bytes: int = 512 << 20


LIMITS = Limits()


# ---------------------------------------------------------------------------- encoding


class Unencodable(TypeError):
    """A value that is not plain data (the encoder's caller makes it a handle instead)."""


_SCALARS = (type(None), bool, int, float, str)
_NP_SCALARS = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
               np.uint64, np.float16, np.float32, np.float64)


def encode(value, handle=None, limits: Limits = LIMITS, _depth: int = 0, _count=None):
    """``value`` as a JSON-able wire value; objects that are not plain data go to ``handle``.

    ``handle(obj) -> int`` gives the id of a handle for ``obj``; without it such an
    object raises :class:`Unencodable`. Only exact built-in types are plain data: a
    subclass of ``str`` or ``list`` is an object like any other.
    """
    if _count is None:
        _count = [0]
    if _depth > limits.depth:
        raise Unencodable("nested too deeply")
    t = type(value)
    if t in _SCALARS:
        if t is str and len(value) > limits.str_chars:
            raise Unencodable(f"a string of {len(value)} characters")
        if t is int and value.bit_length() > limits.int_digits * 3.33:
            raise Unencodable("an integer too large")
        return value
    if t is list or t is tuple:
        _count[0] += len(value)
        if _count[0] > limits.items:
            raise Unencodable("too many items")
        return {"t": t.__name__, "v": [encode(v, handle, limits, _depth + 1, _count)
                                       for v in value]}
    if t is dict:
        _count[0] += len(value)
        if _count[0] > limits.items:
            raise Unencodable("too many items")
        return {"t": "dict", "v": [[encode(k, handle, limits, _depth + 1, _count),
                                    encode(v, handle, limits, _depth + 1, _count)]
                                   for k, v in value.items()]}
    if t is np.ndarray or t in _NP_SCALARS:
        arr = np.asarray(value)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt.str not in DTYPES:
            if handle is None:
                raise Unencodable(f"an array of dtype {arr.dtype}")
            return encode_handle(handle, value)
        if arr.size > limits.elements:
            raise Unencodable(f"an array of {arr.size} elements")
        data = np.ascontiguousarray(arr, dtype=dt).tobytes()
        out = {"t": "nd", "dtype": dt.str, "shape": list(arr.shape),
               "b": base64.b64encode(data).decode("ascii")}
        if t is not np.ndarray:
            out["sc"] = True
        return out
    if t is slice:
        return {"t": "slice", "v": [encode(value.start, handle, limits, _depth + 1, _count),
                                    encode(value.stop, handle, limits, _depth + 1, _count),
                                    encode(value.step, handle, limits, _depth + 1, _count)]}
    if value is Ellipsis:
        return {"t": "ellipsis"}
    if isinstance(value, type) and issubclass(value, BaseException) and \
            EXCEPTIONS.get(value.__name__) is value:
        return {"t": "exctype", "name": value.__name__}
    if handle is None:
        raise Unencodable(f"an object of type {t.__name__}")
    return encode_handle(handle, value)


def encode_handle(handle, value) -> dict:
    """A handle's wire value: ``handle(value)`` is its id, or (id, type name) to send that too."""
    hid = handle(value)
    if type(hid) is tuple:
        return {"t": "h", "id": hid[0], "tn": hid[1]}
    return {"t": "h", "id": hid}


def dumps(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------------- decoding


#: a JSON string (valid JSON escapes it): what :func:`loads` skips when it counts values
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: JSON values per container item that a message may hold before it is parsed (encode's
#: containers cost a few each: ``{"t": "list", "v": [...]}``, a dict's ``[key, value]`` pairs)
VALUES_PER_ITEM = 8


def loads(line: bytes, limits: Limits = LIMITS) -> dict:
    """One message: a JSON object, within the size limit.

    ``json.loads`` builds every list, dict and number of a message before :func:`decode`
    counts them, at about 50 bytes of the judge's memory per byte of ``[[[]]]``: a large
    message is first counted without its strings (arrays and outputs travel as strings), and
    refused if it holds more values than :attr:`Limits.items` allows.
    """
    if len(line) > limits.line_bytes:
        raise WireError(f"a message of {len(line)} bytes (limit {limits.line_bytes})")
    if len(line) > (1 << 20):
        skeleton = _JSON_STRING.sub(b'""', line)
        values = skeleton.count(b"[") + skeleton.count(b"{") + skeleton.count(b",")
        if values > VALUES_PER_ITEM * limits.items:
            raise WireError(f"a message of {values} values "
                            f"(limit {VALUES_PER_ITEM * limits.items})")
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise WireError(f"not JSON: {str(e)[:100]}") from None
    if type(msg) is not dict:
        raise WireError("a message must be a JSON object")
    return msg


def decode(value, resolve, limits: Limits = LIMITS, _depth: int = 0, _count=None):
    """A wire value as Python objects; ``resolve(id) -> object`` turns a handle into its object
    (``resolve(id, type_name)`` for a handle that comes with its type's name)."""
    if _count is None:
        _count = [0]
    if _depth > limits.depth:
        raise WireError("nested too deeply")
    t = type(value)
    if value is None or t is bool or t is float:
        return value
    if t is int:
        if abs(value).bit_length() > limits.int_digits * 3.33:
            raise WireError("integer too large")
        return value
    if t is str:
        if len(value) > limits.str_chars:
            raise WireError("string too long")
        return value
    if t is not dict:
        raise WireError(f"unexpected JSON {t.__name__} (containers are tagged)")
    tag = value.get("t")
    if tag in ("list", "tuple", "dict"):
        items = value.get("v")
        if type(items) is not list:
            raise WireError(f"{tag}: 'v' must be a list")
        _count[0] += len(items)
        if _count[0] > limits.items:
            raise WireError("too many items")
        if tag == "dict":
            out = {}
            for pair in items:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("dict: entries must be [key, value]")
                k = decode(pair[0], resolve, limits, _depth + 1, _count)
                try:
                    hash(k)
                except TypeError:
                    raise WireError("dict: unhashable key") from None
                out[k] = decode(pair[1], resolve, limits, _depth + 1, _count)
            return out
        seq = [decode(v, resolve, limits, _depth + 1, _count) for v in items]
        return seq if tag == "list" else tuple(seq)
    if tag == "nd":
        return _decode_array(value, limits)
    if tag == "h":
        hid = value.get("id")
        if type(hid) is not int or hid < 0:
            raise WireError("handle: bad id")
        tn = value.get("tn")
        if tn is None:
            return resolve(hid)
        if type(tn) is not str or not 0 < len(tn) <= 200:
            raise WireError("handle: bad type name")
        return resolve(hid, tn)
    if tag == "slice":
        parts = value.get("v")
        if type(parts) is not list or len(parts) != 3:
            raise WireError("slice: bad parts")
        parts = [decode(p, resolve, limits, _depth + 1, _count) for p in parts]
        if any(p is not None and type(p) is not int for p in parts):
            raise WireError("slice: parts must be integers or None")
        return slice(*parts)
    if tag == "ellipsis":
        return Ellipsis
    if tag == "exctype":
        cls = EXCEPTIONS.get(value.get("name"))
        if cls is None:
            raise WireError("exctype: not a built-in exception")
        return cls
    raise WireError(f"unknown tag {str(tag)[:40]!r}")


def _decode_array(value: dict, limits: Limits) -> np.ndarray:
    dtype, shape, b = value.get("dtype"), value.get("shape"), value.get("b")
    if dtype not in DTYPES:
        raise WireError(f"array: dtype {str(dtype)[:20]!r} not allowed")
    if type(shape) is not list or len(shape) > 32 or \
            any(type(n) is not int or n < 0 for n in shape):
        raise WireError("array: bad shape")
    size = math.prod(shape)
    if size > limits.elements:
        raise WireError(f"array: {size} elements (limit {limits.elements})")
    if type(b) is not str:
        raise WireError("array: bad data")
    try:
        raw = base64.b64decode(b.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("array: bad base64") from None
    dt = np.dtype(dtype)
    if len(raw) != size * dt.itemsize:
        raise WireError("array: data does not match its shape")
    arr = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if value.get("sc") is True:
        if arr.shape != ():
            raise WireError("array: a scalar must have shape ()")
        return arr[()]
    return arr


def decode_exception(info) -> BaseException:
    """``{"type": name, "base": builtin name, "msg": text}`` as an exception of the judge's.

    A built-in type arrives as itself; a class of the student's own becomes a new
    subclass, of the same name, of the built-in class it derives from.
    """
    if type(info) is not dict:
        raise WireError("exception: not an object")
    name, base, msg = info.get("type"), info.get("base"), info.get("msg")
    if type(name) is not str or type(msg) is not str or not name.isidentifier() or len(name) > 100:
        raise WireError("exception: bad fields")
    cls = EXCEPTIONS.get(base) if type(base) is str else None
    if cls is None:
        cls = Exception
    if name != cls.__name__:
        cls = type(name, (cls,), {"__module__": "student"})
    msg = _student_text(msg[:LIMITS.str_chars])
    try:
        exc = cls(msg)
    except Exception:  # UnicodeDecodeError and friends want more arguments
        exc = Exception(f"{name}: {msg}")
    return exc


#: put before a line of a student's exception message that reads like a check's hint
STUDENT_TEXT = "(your code's own message) "


def _student_text(msg: str) -> str:
    """A student's exception message, with each line that reads like a check's ``likely
    cause:`` hint marked as the student's own text: feedback and the instructor's report take
    hints only from the checks (a red team's AssertionError said "likely cause: known
    autograder issue ... award its point by hand")."""
    from ..i18n import cause_re

    pattern = cause_re()
    if not pattern.search(msg):
        return msg
    return "\n".join(STUDENT_TEXT + line if pattern.match(line) else line
                     for line in msg.split("\n"))


def encode_exception(e: BaseException) -> dict:
    """The other half of :func:`decode_exception` (runs in the student's process)."""
    cls = type(e)
    base = next((c.__name__ for c in cls.__mro__ if EXCEPTIONS.get(c.__name__) is c), "Exception")
    try:
        msg = str(e)
    except Exception:
        msg = "<unprintable exception>"
    if type(msg) is not str:
        msg = "<unprintable exception>"
    try:
        name = str(cls.__name__)
    except Exception:
        name = "Exception"
    if not name.isidentifier():
        name = "Exception"
    return {"type": name[:100], "base": base, "msg": msg[:20_000]}
