"""The judge's side: proxies of student objects, and the channel to the student's process.

A :class:`Proxy` stands for one object in the student's process (a handle).
Whatever a test does with it (call it, read an attribute, add it to something,
index it, convert it to numbers) becomes one request to that process, and the
answer comes back as plain data (decoded strictly by :mod:`autograder.judge.wire`)
or as another proxy. Two things never cross: ``==``/``!=``/``hash`` of a proxy
are decided here, by identity (an object whose ``__eq__`` always says yes fools
nobody), and ``type()`` of a proxy is :class:`Proxy` (tests ask
:func:`autograder.testing.type_name`).
"""

from __future__ import annotations

import dis
import os
import select
import socket
import sys
import time
import weakref

from . import wire

#: the largest len() a student object may claim (any real array or list is far smaller)
MAX_LEN = 100_000_000


class SandboxGone(BaseException):
    """The student's process died, stalled or broke the protocol: no more answers from it.

    A BaseException, like KeyboardInterrupt: a test's ``except Exception`` (or a check
    that wraps the student's errors) must not turn it into an ordinary failure message.
    """


class StudentTimeout(BaseException):
    """Student code called by a test ran past its time limit (a BaseException: see above)."""


class Channel:
    """Requests and answers over one socket to the student's process, with deadlines."""

    def __init__(self, sock: socket.socket, *, call_timeout: float = 60.0,
                 limits: wire.Limits = wire.LIMITS, grace: float = 5.0):
        self.sock = sock
        self.call_timeout = call_timeout
        #: seconds past a request's limit that the student's process gets to report its own
        #: interrupt before the judge gives up on it (WarmExecute.grace)
        self.grace = grace
        self.limits = limits
        self.buf = bytearray()
        self.dead: str | None = None
        self.requests = 0
        self.received = 0  # bytes of answers so far (wire.Limits.session_bytes)
        self.last_timeout, self.last_sent = call_timeout, 0.0
        #: when the test cell now running must end (monotonic), if any: each request gets
        #: only what is left, so many calls each under the limit cannot stretch a cell
        self.deadline: float | None = None

    def request(self, msg: dict, timeout: float | None = None) -> dict:
        """Send ``msg``; the decoded answer object (``{"ok": ...}`` or ``{"exc": ...}``)."""
        if self.dead:
            raise SandboxGone(self.dead)
        timeout = self.call_timeout if timeout is None else timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise StudentTimeout(f"the test cell ran past its {self.call_timeout:.0f} s "
                                     f"limit (student code called by the test was too slow)")
            timeout = min(timeout, left)
        msg = dict(msg, timeout=timeout)
        self.requests += 1
        #: the limit the last request ran under, and when it was sent (Session.ask)
        self.last_timeout, self.last_sent = timeout, time.monotonic()
        try:
            self.sock.sendall(wire.dumps(msg))
        except OSError as e:
            self._die(f"the student's process stopped listening ({e.__class__.__name__})")
        # the student's process interrupts itself at `timeout`; we give it a grace period
        try:
            return self._read(time.monotonic() + timeout + self.grace, timeout)
        except BaseException:  # interrupted while an answer is due: the stream is out of step
            if not self.dead:
                self.dead = "the judge stopped waiting for an answer (its own time limit)"
            raise

    def _read(self, deadline: float, timeout: float) -> dict:
        fd = self.sock.fileno()
        buf, scanned = self.buf, 0  # a bytearray; only new bytes are searched for the newline
        end = buf.find(b"\n")
        while end < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                self._die(f"student code ran past its {timeout:.0f} s limit and did not stop")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self._die("the student's process ended")
            scanned = len(buf)
            buf += chunk
            end = buf.find(b"\n", scanned)
            if end < 0 and len(buf) > self.limits.line_bytes:
                self._die("the student's process sent a message over the size limit")
        line = bytes(buf[:end])
        del buf[:end + 1]
        self.received += end + 1
        if self.received > self.limits.session_bytes:
            self._die(f"the student's process sent more than {self.limits.session_bytes >> 20} MB "
                      f"of answers to the tests of one notebook")
        try:
            ans = wire.loads(line, self.limits)
        except wire.WireError as e:
            self._die(f"the student's process broke the protocol: {e}")
        if ("ok" in ans) == ("exc" in ans) or len(ans) != 1:
            self._die("the student's process broke the protocol: an answer needs 'ok' or 'exc'")
        return ans

    def _die(self, why: str):
        self.dead = why
        raise SandboxGone(why)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Session:
    """One notebook's connection to the student's process, as the judge sees it."""

    def __init__(self, channel: Channel, *, student_torch: bool = True):
        self.channel = channel
        self.student_torch = student_torch  # what the grader started, not what the student says
        #: the runner's: a session with the notebook's student cells so far run again in a
        #: process where torch does not exist (integrity.check_by_hand); None: not available
        self.torch_free = None
        self._proxies: weakref.WeakValueDictionary[int, Proxy] = weakref.WeakValueDictionary()
        self._strong: list = []  # proxies stay alive: `a is b` must keep working all notebook
        self._type_names: dict[int, str] = {}  # the type's name, as the handle came with it
        self._modules: dict = {}  # import_module's answers (a module stays what it was)

    # -- values
    def proxy(self, hid: int, type_name: str | None = None) -> Proxy:
        if type_name is not None:  # sent with a new handle: type_name() needs no request
            self._type_names[hid] = type_name
        p = self._proxies.get(hid)
        if p is None:
            p = Proxy.__new__(Proxy)
            object.__setattr__(p, "_s", self)
            object.__setattr__(p, "_h", hid)
            self._proxies[hid] = p
            self._strong.append(p)
        return p

    def encode(self, value):
        """A judge value as a wire value for the student's process (proxies become handles)."""
        def handle(obj):
            if isinstance(obj, Proxy) and object.__getattribute__(obj, "_s") is self:
                return object.__getattribute__(obj, "_h")
            raise TypeError(
                f"a {type(obj).__name__} of the test cannot be handed to student code: only "
                f"numbers, strings, numpy arrays, lists/tuples/dicts of these, and the student's "
                f"own objects can (build tensors with autograder.testing.student_side('torch'))")
        try:
            return wire.encode(value, handle)
        except wire.Unencodable as e:
            raise TypeError(f"cannot hand this value to student code: {e}") from None

    def decode(self, value):
        try:
            return wire.decode(value, self.proxy, self.channel.limits)
        except wire.WireError as e:
            self.channel.dead = f"the student's process broke the protocol: {e}"
            raise SandboxGone(self.channel.dead) from None

    def ask(self, op: str, timeout: float | None = None, **fields):
        """One request; its value decoded, or the student's exception raised here."""
        ans = self.channel.request({"op": op, **fields}, timeout)
        if "exc" in ans:
            info = ans["exc"]
            if type(info) is dict and info.get("type") == "KeyboardInterrupt":
                took = time.monotonic() - self.channel.last_sent
                if took >= 0.5 * self.channel.last_timeout:
                    raise StudentTimeout(f"student code ran past its "
                                         f"{self.channel.call_timeout:.0f} s limit (interrupted)")
                # long before its limit: no timeout, the student's own KeyboardInterrupt (the
                # sandbox's interrupt comes at the limit), an error like any other
                info = {"type": "KeyboardInterrupt", "base": "Exception",
                        "msg": str(info.get("msg"))[:1000]}
            if type(info) is dict and info.get("type") == wire.REFUSED:
                raise SandboxGone(f"the judge's request was refused: {info.get('msg')}")
            try:
                raise wire.decode_exception(info)
            except wire.WireError as e:
                raise SandboxGone(f"the student's process broke the protocol: {e}") from None
        return self.decode(ans["ok"])

    # -- what test cells use (through autograder.testing)
    def get(self, names: list[str]) -> dict:
        got = self.ask("get", names=list(names))
        if type(got) is not dict or not all(type(k) is str for k in got):
            raise SandboxGone("the student's process broke the protocol: get")
        return got

    def import_module(self, name: str):
        """A module imported in the student's process, asked for once per notebook and name."""
        mod = self._modules.get(name)
        if mod is None:
            mod = self._modules[name] = self.ask("import", name=name)
        return mod

    def put(self, value):
        return self.ask("put", v=self.encode(value))


#: the double-underscore attributes a test may read from a student object (names, for messages)
_REMOTE_DUNDERS = frozenset({"__name__", "__qualname__", "__module__", "__doc__"})


def _h(p) -> tuple[Session, int]:
    return object.__getattribute__(p, "_s"), object.__getattribute__(p, "_h")


def _ask(p, op, **fields):
    s, h = _h(p)
    return s.ask(op, h=h, **fields)


def _binop(name, reflected=False):
    def method(self, other):
        s, _ = _h(self)
        a, b = (other, self) if reflected else (self, other)
        try:
            ea, eb = s.encode(a), s.encode(b)
        except TypeError:
            return NotImplemented
        return s.ask("binop", name=name, a=ea, b=eb)
    method.__name__ = f"__{'r' if reflected else ''}{name.rstrip('_')}__"
    return method


def _unop(name):
    def method(self):
        return _ask(self, "unop", name=name)
    method.__name__ = f"__{name}__"
    return method


class Proxy:
    """An object in the student's process, seen from the judge (see the module docstring)."""

    __slots__ = ("_s", "_h", "__weakref__")
    _autograder_proxy_ = True
    __array_ufunc__ = None  # `array * proxy`: numpy defers to the proxy's __rmul__ (a request)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in _REMOTE_DUNDERS:
            raise AttributeError(name)  # Python's and numpy's protocol probes stay here
        if _method_call_follows(name):  # `x.name(...)`: one request, not two
            return _MethodCall(self, name)
        return _ask(self, "getattr", name=name)

    def __setattr__(self, name, value):
        s, h = _h(self)
        s.ask("setattr", h=h, name=name, v=s.encode(value))

    def __call__(self, *args, **kwargs):
        s, h = _h(self)
        return s.ask("call", h=h, args=s.encode(list(args)), kw=s.encode(dict(kwargs)))

    # identity, decided here
    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __hash__(self):
        return hash((id(_h(self)[0]), _h(self)[1]))

    def __repr__(self):
        try:
            return _ask(self, "repr")
        except Exception:  # noqa: BLE001
            return f"<student object #{_h(self)[1]}>"

    __str__ = __repr__

    def __format__(self, spec):
        return format(str(self), spec)

    def _autograder_type_name_(self) -> str:
        s, h = _h(self)
        name = s._type_names.get(h)  # what the student's process said with the handle
        if name is not None:
            return name
        name = _ask(self, "typename")
        if type(name) is not str:
            raise SandboxGone("the student's process broke the protocol: typename")
        return name

    def __instancecheck__(self, obj):  # isinstance(x, StudentClass)
        s, h = _h(self)
        return bool(s.ask("isinstance", h=h, v=s.encode(obj)))

    def __bool__(self):
        return _checked(_ask(self, "bool"), bool)

    def __float__(self):
        return _checked(_ask(self, "float"), float)

    def __int__(self):
        return _checked(_ask(self, "int"), int)

    def __index__(self):
        return _checked(_ask(self, "index"), int)

    def __len__(self):
        n = _ask(self, "len")
        if type(n) is not int or n < 0:
            raise SandboxGone("the student's process broke the protocol: len")
        if n > MAX_LEN:  # a test looping over range(len(x)) must not be made to run forever
            raise OverflowError(f"len() of a student object is {n}: more than {MAX_LEN}")
        return n

    def __iter__(self):
        items = _ask(self, "iter")
        if type(items) is not list:
            raise SandboxGone("the student's process broke the protocol: iter")
        return iter(items)

    def __getitem__(self, key):
        s, h = _h(self)
        return s.ask("getitem", h=h, k=s.encode(key))

    def __setitem__(self, key, value):
        s, h = _h(self)
        s.ask("setitem", h=h, k=s.encode(key), v=s.encode(value))

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        arr = _ask(self, "array")
        if type(arr) is not np.ndarray and not isinstance(arr, np.generic):
            raise SandboxGone("the student's process broke the protocol: array")
        arr = np.asarray(arr)
        return arr if dtype is None else arr.astype(dtype)

    def __enter__(self):
        return _ask_method(self, "__enter__")

    def __exit__(self, etype, evalue, tb):
        args = [etype if etype is None or wire.EXCEPTIONS.get(etype.__name__) is etype
                else _builtin_base(etype),
                None if evalue is None else str(evalue), None]
        return bool(_ask_method(self, "__exit__", *args))

    __add__, __radd__ = _binop("add"), _binop("add", True)
    __sub__, __rsub__ = _binop("sub"), _binop("sub", True)
    __mul__, __rmul__ = _binop("mul"), _binop("mul", True)
    __truediv__, __rtruediv__ = _binop("truediv"), _binop("truediv", True)
    __floordiv__, __rfloordiv__ = _binop("floordiv"), _binop("floordiv", True)
    __mod__, __rmod__ = _binop("mod"), _binop("mod", True)
    __pow__, __rpow__ = _binop("pow"), _binop("pow", True)
    __matmul__, __rmatmul__ = _binop("matmul"), _binop("matmul", True)
    __and__, __rand__ = _binop("and_"), _binop("and_", True)
    __or__, __ror__ = _binop("or_"), _binop("or_", True)
    __lt__, __le__ = _binop("lt"), _binop("le")
    __gt__, __ge__ = _binop("gt"), _binop("ge")
    __neg__, __pos__, __abs__, __invert__ = _unop("neg"), _unop("pos"), _unop("abs"), _unop("invert")


_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
_LOAD_METHOD = dis.opmap.get("LOAD_METHOD")  # Python 3.11
_LOAD_ATTR = dis.opmap["LOAD_ATTR"]  # 3.12 and later: a method load has the low bit of its arg set


def _method_call_follows(name: str) -> bool:
    """Whether the code that asked for attribute ``name`` of a proxy is about to call it.

    True when the caller's current instruction is the method load of ``obj.name(...)``
    (LOAD_METHOD, or LOAD_ATTR with its method bit) of that very name: Python then calls
    the attribute at once, with the arguments that follow, and nothing else can see it.
    Every other way to read an attribute (``f = obj.name``, ``getattr``, ``hasattr``) is
    an ordinary ``getattr`` request.
    """
    try:
        f = sys._getframe(2)
        code, i = f.f_code.co_code, f.f_lasti
        op, arg = code[i], code[i + 1]
        k, shift = i - 2, 8
        while k >= 0 and code[k] == _EXTENDED_ARG:
            arg |= code[k + 1] << shift
            k, shift = k - 2, shift + 8
        if sys.version_info >= (3, 12):
            if op != _LOAD_ATTR or not arg & 1:
                return False
            arg >>= 1
        elif op != _LOAD_METHOD:
            return False
        names = f.f_code.co_names
        return arg < len(names) and names[arg] == name
    except (ValueError, IndexError, AttributeError):
        return False


class _MethodCall:
    """``proxy.name``, about to be called: the call is one ``callattr`` request."""

    __slots__ = ("_p", "_name")

    def __init__(self, p, name):
        self._p, self._name = p, name

    def __call__(self, *args, **kwargs):
        s, h = _h(self._p)
        return s.ask("callattr", h=h, name=self._name, args=s.encode(list(args)),
                     kw=s.encode(dict(kwargs)))

    def __getattr__(self, attr):  # never expected: behave as the attribute itself
        return getattr(_ask(self._p, "getattr", name=self._name), attr)


def _ask_method(p, name, *args):
    s, h = _h(p)
    method = s.ask("getattr", h=h, name=name)
    if not isinstance(method, Proxy):
        raise TypeError(f"{name} of a student object is not callable")
    return method(*args)


def _builtin_base(cls):
    for c in cls.__mro__:
        if wire.EXCEPTIONS.get(c.__name__) is c:
            return c
    return Exception


def _checked(value, kind):
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise SandboxGone(f"the student's process broke the protocol: expected {kind.__name__}")
    return value


def socketpair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of stream sockets (the judge's end, the student's end)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.set_inheritable(b.fileno(), False)
    return a, b
