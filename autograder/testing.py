"""Helpers for test cells that work the same in a student's kernel and in the grading judge.

In a student's own JupyterLab kernel (Run, Validate) a test cell runs in the
same process as the student's code, as usual. During ``autograder grade`` it
runs in a separate, trusted *judge* process (:mod:`autograder.judge`), and the
student's objects reach it as proxies (``docs/architecture.md``). These helpers
let one test cell say what it means in both places:

* :func:`student_side` -- a module as the student's code sees it (``torch`` to
  build tensors that a student's function receives);
* :func:`type_name` -- the class name of any object, student's or not;
* :func:`remote` -- a copy of a value that lives with the student's code (so a
  test can change it afterwards and see whether the student's object kept a copy);
* :func:`is_student_object` -- whether a value is a proxy of a student object.

Checks that must watch the student's code run (and so run where it lives, called
as ``student_side("autograder.testing").<name>(...)``): :func:`torch_calls`,
:func:`matmul_count`, :func:`calls_to`. Functions a test hands to the student's
code must live there too: :func:`scalar_function`. References computed in the
test itself: :func:`torch_mlp`.

In the kernel they are plain: ``student_side("torch")`` is ``torch`` itself.
"""

from __future__ import annotations

import importlib
from contextvars import ContextVar
from typing import Any

__all__ = ["student_side", "type_name", "require_float64", "remote", "is_student_object", "plain",
           "torch_calls",
           "matmul_count", "calls_to", "scalar_function", "SCALAR_FUNCTIONS", "torch_mlp",
           "repeat", "add_chain", "graph_description", "remote_graph_data", "backward_trace",
           "make_leaves", "remote_leaves", "hook_changes_its_argument", "check_unchanged",
           "call_keeping_inputs", "zero_grad_in_place", "hook_calls"]

#: the judge session running the current test cell, if any (set by autograder.judge only)
ACTIVE_JUDGE: ContextVar = ContextVar("autograder_active_judge", default=None)


def is_student_object(x: Any) -> bool:
    """True for a proxy of an object that lives in the student's process (judge only)."""
    return bool(getattr(type(x), "_autograder_proxy_", False))


def student_side(module: str):
    """The module ``module`` as the student's code sees it.

    In a kernel: ``importlib.import_module(module)``. In the judge: a proxy of
    that module imported in the student's process, so ``student_side("torch").tensor(a)``
    builds a tensor there, which a student's function can receive.
    """
    judge = ACTIVE_JUDGE.get()
    if judge is None:
        return importlib.import_module(module)
    return judge.import_module(module)


def plain(x: Any, kind: type) -> Any:
    """``x`` as a plain ``kind`` (``dict``, ``tuple`` or ``list``) where it is one or a subclass
    of one (an ``OrderedDict``, a ``defaultdict``, a namedtuple), else ``x`` unchanged for the
    check to refuse. The judge receives a subclass as a handle, not as data: without this, a
    right answer that Validate passes would fail at grading. The copy is made where the
    student's code runs and comes back as plain data; a dict's keys that are ``str``
    subclasses come back as exact ``str`` (:func:`_plain_key`)."""
    if isinstance(x, kind):
        out = kind(x)
    elif is_student_object(x):
        builtins = student_side("builtins")
        remote_kind = getattr(builtins, kind.__name__)
        if builtins.isinstance(x, remote_kind) is not True:
            return x
        out = remote_kind(x)
    else:
        return x
    if kind is dict:
        out = {_plain_key(k): v for k, v in out.items()}
    return out


def _plain_key(k: Any) -> Any:
    """A dict key that is a ``str`` subclass as the exact ``str`` a check looks up (numpy's
    ``str_``, from names kept in an array, equals its text but reaches the judge as a handle:
    ``sorted(grads) == ["W1", ...]`` would fail at grading where Validate passes); any other
    key as it is."""
    if type(k) is str:
        return k
    if isinstance(k, str):
        return str(k)
    if is_student_object(k):
        builtins = student_side("builtins")
        if builtins.isinstance(k, builtins.str) is True:
            return builtins.str(k)  # an exact str comes back as data; anything else, a handle
    return k


def type_name(x: Any) -> str:
    """``type(x).__name__``, also for a student object seen from the judge."""
    if is_student_object(x):
        return x._autograder_type_name_()
    return type(x).__name__


def require_float64(data: Any, what: str) -> None:
    """``data`` must be a float64 numpy array (a tensor, a list or a student's object is not;
    torch's tensors in these tests are float64 too)."""
    import numpy as np

    from .i18n import _

    if not (isinstance(data, np.ndarray) and data.dtype == np.float64):
        raise AssertionError(_("{what} must be a float64 numpy array, got {type} of dtype {dtype}")
                             .format(what=what, type=type_name(data),
                                     dtype=getattr(data, "dtype", None)))


def is_tensor(x: Any) -> bool:
    """Whether ``x`` (a student's object) is a torch tensor, a subclass such as
    ``nn.Parameter`` included: asked of torch where the student's code runs."""
    return bool(student_side("torch").is_tensor(x))


def remote(value: Any):
    """``value`` itself in a kernel; in the judge, a copy of it that lives in the student's process."""
    judge = ACTIVE_JUDGE.get()
    if judge is None:
        return value
    return judge.put(value)


def torch_calls(fn, *args, **kwargs) -> list[str]:
    """Names of the torch functions called while ``fn(*args, **kwargs)`` runs, sorted.

    Meant to run where ``fn`` lives: a test calls it as
    ``student_side("autograder.testing").torch_calls(StudentFn.apply, x)``, so in the
    judge it runs in the student's process and its answer is only as honest as that
    process (docs/security.md lists such rules as not protected).
    """
    from torch.overrides import TorchFunctionMode

    class _Calls(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names: set[str] = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.add(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    with _Calls() as calls:
        fn(*args, **kwargs)
    return sorted(calls.names)


def matmul_count(fn, *args, **kwargs) -> int:
    """How many matrix products (mm, addmm, bmm, matmul, dot, ...) torch executes while ``fn`` runs.

    Counted at the dispatcher (a ``TorchDispatchMode``), so the products of a
    ``backward()`` started by ``fn`` count too. Like :func:`torch_calls`, a test
    calls it through ``student_side("autograder.testing")`` (not protected).
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class _CountProducts(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.products = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.__name__
            if "mm" in name or "matmul" in name or "dot" in name:
                self.products += 1
            return func(*args, **(kwargs or {}))

    with _CountProducts() as counter:
        fn(*args, **kwargs)
    return counter.products


def calls_to(names, fn, *args, **kwargs) -> list[str]:
    """Which of the functions ``names`` (dotted paths such as
    ``"torch.autograd.functional.hvp"``) were called while ``fn(*args, **kwargs)`` ran, sorted.

    Each is replaced, for the duration of the call, by a wrapper that records the
    call and calls through, so ``fn`` still runs to its end; the originals are
    put back afterwards. Only calls made through the module attribute are seen (not
    a name imported earlier with ``from ... import``). Called through
    ``student_side("autograder.testing")`` (not protected).
    """
    import functools

    called: set[str] = set()
    saved = []
    try:
        for dotted in names:
            module_name, _, attr = dotted.rpartition(".")
            module = importlib.import_module(module_name)
            original = getattr(module, attr)

            def record(*a, _name=dotted, _f=original, **k):
                called.add(_name)
                return _f(*a, **k)

            saved.append((module, attr, original))
            setattr(module, attr, functools.wraps(original)(record))
        fn(*args, **kwargs)
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)
    return sorted(called)


def _quadratic_sin(A):
    return lambda x: 0.5 * x @ (A @ x) + x.sin().sum()


def _rosenbrock():
    return lambda x: ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def _logsumexp_quartic(B):
    import torch

    return lambda x: torch.logsumexp(B @ x, dim=0) + (x ** 4).sum()


def _tiny_layer():
    import torch

    return lambda w: (w.reshape(2, 3) @ torch.ones(3, dtype=torch.float64)).tanh().pow(2).sum()


def _x_exp_x():
    return lambda x: (x.exp() * x).sum()


def _cube_sum():
    return lambda x: (x ** 3).sum()


#: name -> (what it is, for messages; factory taking the parameters as float64 tensors)
SCALAR_FUNCTIONS = {
    "quadratic_sin": ("f(x) = x.A.x/2 + sum(sin x)", _quadratic_sin),
    "rosenbrock": ("the Rosenbrock function", _rosenbrock),
    "logsumexp_quartic": ("f(x) = logsumexp(B x) + sum(x**4)", _logsumexp_quartic),
    "tiny_layer": ("a tiny layer's loss, f(w) = sum(tanh(w.reshape(2, 3) @ ones(3))**2)", _tiny_layer),
    "x_exp_x": ("f(x) = sum(x exp x)", _x_exp_x),
    "cube_sum": ("f(x) = sum(x**3)", _cube_sum),
}


def scalar_function(name: str, *params):
    """The torch function ``SCALAR_FUNCTIONS[name]`` of one float64 tensor, closing over ``params``.

    A test cannot hand a function of its own to the student's code (from the
    judge it cannot cross), so tests of code that takes a function (ps4's
    ``hvp(f, x, v)``) take ``f`` from here: built where the student's code runs
    with ``student_side("autograder.testing").scalar_function(name, A)``, and
    once more in the test with ``scalar_function(name, A)`` for torch's reference.
    ``params``: arrays (or tensors) the function uses, as float64 tensors.
    """
    import numpy as np
    import torch

    if name not in SCALAR_FUNCTIONS:
        raise KeyError(f"no scalar function {name!r}; known: {sorted(SCALAR_FUNCTIONS)}")
    tensors = [torch.tensor(np.asarray(p, dtype=np.float64)) for p in params]  # copies
    return SCALAR_FUNCTIONS[name][1](*tensors)


def torch_mlp(x, *params):
    """The reference network in torch: ``params = [W1, b1, W2, b2, ...]``, tanh between layers.

    Layer i computes ``x @ W_i.T + b_i`` (``torch.nn.Linear``'s convention); no
    activation after the last layer (its output is a logit).
    """
    n = len(params) // 2
    for i in range(n):
        x = x @ params[2 * i].T + params[2 * i + 1]
        if i < n - 1:
            x = x.tanh()
    return x



#: the steps :func:`repeat` knows: an operator with a number, or a method without arguments
_REPEAT_OPS = {"add": lambda x, c: x + c, "sub": lambda x, c: x - c, "mul": lambda x, c: x * c,
               "truediv": lambda x, c: x / c, "pow": lambda x, c: x ** c}


def repeat(x, n: int, steps):
    """Apply ``steps`` to ``x``, ``n`` times: a deep graph, described as data.

    ``steps`` is a list of ``("add" | "sub" | "mul" | "truediv" | "pow", number)`` or
    ``(method_name,)`` pairs, e.g. ``[("mul", 0.999), ("tanh",), ("add", 0.001)]`` for
    ``x = (x * 0.999).tanh() + 0.001``. In the judge, a student object's graph is built
    where it lives, in one request instead of one per step; every step is still the
    student's own operator or method.
    """
    steps = [tuple(s) for s in steps]
    for s in steps:
        if not s or not isinstance(s[0], str) or (s[0] in _REPEAT_OPS) != (len(s) == 2) \
                or (s[0] not in _REPEAT_OPS and not s[0].isidentifier()):
            raise ValueError(f"repeat: a step is (operator, number) or (method,), not {s!r}")
    judge = ACTIVE_JUDGE.get()
    if judge is not None and is_student_object(x):
        return judge.import_module("autograder.testing").repeat(x, n, [list(s) for s in steps])
    for _ in range(int(n)):
        for s in steps:
            x = _REPEAT_OPS[s[0]](x, s[1]) if len(s) == 2 else getattr(x, s[0])()
    return x


def add_chain(x, step: float = 0.001, n: int = 10_000):
    """``x + step + step + ...`` (``n`` additions): a graph ``n`` nodes deep (see :func:`repeat`)."""
    return repeat(x, n, [("add", step)])


# ---------------------------------------------------------------------------- helpers run where the engine lives
#
# In the judge, each of these runs one of this module's functions in the student's process, in
# one request, where a check would otherwise make one request per step; elsewhere (a student's
# kernel, Validate) they return None and the caller does the steps itself.


def _where_it_lives(obj):
    """In the judge, for a student's ``obj``: this module as imported in the student's process
    (call its functions as ``there.name(...)``: one request); None elsewhere, or if it cannot
    be imported there (the caller then does the steps request by request)."""
    judge = ACTIVE_JUDGE.get()
    if judge is None or not is_student_object(obj):
        return None
    try:
        return judge.import_module("autograder.testing")
    except Exception:  # noqa: BLE001  (not there: the caller does without it)
        return None


# ---------------------------------------------------------------------------- leaves in one request


def make_leaves(engine, arrays, requires_grad) -> list:
    """``[engine(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]``, stopping at the
    first that raises (the list is then shorter).

    Runs where ``engine`` lives (called by :func:`remote_leaves` in the judge through
    :func:`student_side`): the inputs of a check are built in one request, not one each.
    """
    out = []
    for a, r in zip(arrays, requires_grad):
        try:
            out.append(engine(a, requires_grad=r))
        except KeyboardInterrupt:  # the time limit: the request ends
            raise
        except BaseException:  # noqa: BLE001  (the judge builds this one itself, sees the error)
            break
    return out


def remote_leaves(engine, arrays, requires_grad) -> list | None:
    """In the judge, for a student's ``engine``: the leaves :func:`make_leaves` built in the
    student's process, in one request (the first ones, up to one that raised); None elsewhere,
    or if the answer is not a list of at most that many values (the caller builds them itself).
    """
    there = _where_it_lives(engine)
    if there is None:
        return None
    try:
        got = there.make_leaves(engine, list(arrays), [bool(r) for r in requires_grad])
    except Exception:  # noqa: BLE001  (the helper itself failed there: build them one by one)
        return None
    if type(got) is not list or len(got) > len(arrays):
        return None
    return got


# ---------------------------------------------------------------------------- backward and grads in one request


def backward_grads(out, leaves, grad_output, requires_grad) -> list:
    """``out.backward()`` (``out.backward(grad_output)`` if one is given), then each leaf's
    ``.grad`` in order: ``leaf.grad`` where it requires grad, else ``getattr(leaf, "grad",
    None)``, stopping at the first read that raises (the list is then shorter).

    Runs where ``out`` lives (called by :func:`remote_backward_grads` in the judge): what
    :func:`autograder.checks.check_gradients` did in one request per step, in the same order.
    An exception from ``backward`` propagates, as from ``out.backward()`` itself.
    """
    if grad_output is None:
        out.backward()
    else:
        out.backward(grad_output)
    grads = []
    for leaf, r in zip(leaves, requires_grad):
        try:
            grads.append(leaf.grad if r else getattr(leaf, "grad", None))
        except KeyboardInterrupt:  # the time limit: the request ends
            raise
        except BaseException:  # noqa: BLE001  (the judge reads this one itself, sees the error)
            break
    return grads


def remote_backward_grads(out, leaves, grad_output, requires_grad):
    """In the judge, for a student's ``out``: a callable that runs :func:`backward_grads` in
    the student's process, in one request, and returns the grads read there (up to one whose
    read raised; the caller reads the rest itself); None elsewhere, or if the helper cannot be
    reached (the caller then calls ``backward`` itself, as before). An answer that is not a
    list of at most ``len(leaves)`` values is treated as no grads read."""
    there = _where_it_lives(out)
    if there is None:
        return None
    rg = [bool(r) for r in requires_grad]

    def run() -> list:
        # `there.backward_grads(...)`: one request (a method call, not a getattr and a call);
        # backward's exception propagates
        got = there.backward_grads(out, list(leaves), grad_output, rg)
        return got if type(got) is list and len(got) <= len(rg) else []

    return run


# ---------------------------------------------------------------------------- a long list in one request


def order_summary(function, arg) -> dict:
    """``function(arg)`` as a list, summarised: ``{"n": its length, "distinct": how many
    different objects (by identity) it holds, "first", "last"}`` (None for an empty list), or
    ``{"result": what it returned, "error": "Type: message"}`` when that is not iterable.

    Runs where ``function`` lives (called by :func:`remote_order_summary` in the judge): a
    topological order of a 10,000-node graph comes back as four values, not 10,000 handles.
    An exception from ``function`` propagates, as from calling it directly.
    """
    result = function(arg)
    try:
        items = list(result)
    except Exception as e:  # noqa: BLE001  (the judge words it, with the type's name)
        return {"result": result, "error": f"{type(e).__name__}: {e}"}
    return {"n": len(items), "distinct": len({id(o) for o in items}),
            "first": items[0] if items else None, "last": items[-1] if items else None}


def remote_order_summary(function, arg):
    """In the judge, for a student's ``function``: a callable that runs :func:`order_summary`
    in the student's process, in one request, and returns its answer if it is well formed
    (else None: the caller calls ``function`` itself); None elsewhere."""
    there = _where_it_lives(function)
    if there is None:
        return None

    def run():
        got = there.order_summary(function, arg)  # one request; function's exception propagates
        if type(got) is not dict:
            return None
        if set(got) == {"result", "error"} and type(got["error"]) is str:
            return got
        if set(got) == {"n", "distinct", "first", "last"} and all(
                type(got[k]) is int and 0 <= got[k] for k in ("n", "distinct")):
            return got
        return None

    return run


# ---------------------------------------------------------------------------- graphs in one request
#
# Walking a student's graph from the judge costs several requests per node (``next_functions``,
# ``name``, ``data``, ``grad`` ...). These helpers walk it where it lives, in one request, and
# bring back plain data (names, edges, arrays) and handles of the node objects. The answer is
# the student's process's word, like every answer: the judge checks its shape and uses it only
# as data (a malformed one is ignored, and the graph is walked request by request instead).


def graph_description(root) -> dict:
    """:func:`autograder.graph.graph_data` of ``root`` as plain data plus the node objects.

    ``{"names", "kinds", "depths", "values", "grads", "objs", "edges"}``, one entry per node
    (edges as ``[i, j]`` pairs). Runs where ``root`` lives (called by ``graph_data`` in the
    judge through :func:`student_side`).
    """
    from .graph import graph_data

    g = graph_data(root)
    return {"names": [n.name for n in g.nodes], "kinds": [n.kind for n in g.nodes],
            "depths": [n.depth for n in g.nodes], "values": [n.value for n in g.nodes],
            "grads": [n.grad for n in g.nodes], "objs": [n.obj for n in g.nodes],
            "edges": [[i, j] for i, j in g.edges]}


def remote_graph_data(root):
    """In the judge, for a student object: its graph as :class:`autograder.graph.GraphData`,
    walked in the student's process in one request; None elsewhere, or if the answer is
    malformed (the caller then walks the graph itself)."""
    judge = ACTIVE_JUDGE.get()
    if judge is None or not is_student_object(root):
        return None
    import numpy as np

    from .graph import GraphData, GraphNode

    d = judge.import_module("autograder.testing").graph_description(root)
    keys = ("names", "kinds", "depths", "values", "grads", "objs", "edges")
    if type(d) is not dict or any(type(d.get(k)) is not list for k in keys):
        return None
    n = len(d["names"])
    if n == 0 or any(len(d[k]) != n for k in keys[1:6]):
        return None

    def array_or_none(v):
        return v if v is None or type(v) is np.ndarray else False

    nodes = []
    for i in range(n):
        name, kind, depth = d["names"][i], d["kinds"][i], d["depths"][i]
        value, grad = array_or_none(d["values"][i]), array_or_none(d["grads"][i])
        if type(name) is not str or kind not in ("leaf", "function") or type(depth) is not int \
                or not 0 <= depth < n or value is False or grad is False:
            return None
        nodes.append(GraphNode(i, name, kind, depth, value, grad, d["objs"][i]))
    edges = []
    for e in d["edges"]:
        if type(e) is not list or len(e) != 2 or any(type(k) is not int or not 0 <= k < n
                                                      for k in e):
            return None
        edges.append((e[0], e[1]))
    return GraphData(nodes, edges)


def backward_trace(out, grad_output=None) -> dict:
    """``out.backward()`` (with ``grad_output``, if given) with every node of ``out``'s graph
    that has a ``backward`` method (ps3's nodes) recorded as it runs.

    ``{"names": node names, "edges": [[i, j], ...], "calls": node indices in the order their
    backward ran}``, for :func:`autograder.checks.engine_hints`. In the judge, for a student
    object, it runs in the student's process, in one request (the answer checked for shape).
    """
    judge = ACTIVE_JUDGE.get()
    if judge is not None and is_student_object(out):
        t = judge.import_module("autograder.testing").backward_trace(out, grad_output)
        if type(t) is not dict or any(type(t.get(k)) is not list
                                      for k in ("names", "edges", "calls")):
            raise ValueError("backward_trace: a malformed answer")
        n = len(t["names"])
        if not all(type(s) is str for s in t["names"]) or \
                not all(type(i) is int and 0 <= i < n for i in t["calls"]) or \
                not all(type(e) is list and len(e) == 2 and
                        all(type(k) is int and 0 <= k < n for k in e) for e in t["edges"]):
            raise ValueError("backward_trace: a malformed answer")
        return t
    from .graph import graph_data

    g = graph_data(out)
    calls: list[int] = []
    patched = []
    for node in g.nodes:
        obj = node.obj
        meth = getattr(obj, "backward", None)
        if not callable(meth) or not hasattr(obj, "__dict__") or "backward" in vars(obj):
            continue

        def traced(*a, _i=node.index, _m=meth, **k):
            calls.append(_i)
            return _m(*a, **k)

        obj.backward = traced
        patched.append(obj)
    try:
        out.backward() if grad_output is None else out.backward(grad_output.copy())
    finally:
        for obj in patched:
            del obj.backward
    return {"names": g.names(), "edges": [[i, j] for i, j in g.edges], "calls": calls}


def hook_changes_its_argument(hook, x_np) -> bool:
    """Whether ``hook``, registered on a leaf ``x`` (made from ``x_np``), changes in place the
    gradient that autograd hands it during a real ``(x ** 3).sum().backward()``.

    A first hook, registered before ``hook`` (hooks on one tensor run in the order they were
    registered), records the gradient object it receives and a copy of its values; the answer
    is whether that object's values changed by the end of ``backward()``. A hook called
    directly may behave differently from one called by autograd; this one is called by
    autograd. Called through ``student_side("autograder.testing")`` (not protected).
    """
    import torch

    x = torch.tensor(x_np, requires_grad=True)
    seen = []

    def record(grad):
        seen.append((grad, grad.detach().clone()))   # returns None: grad goes on unchanged

    x.register_hook(record)
    x.register_hook(hook)
    (x ** 3).sum().backward()
    return bool(seen) and not torch.equal(seen[0][0].detach(), seen[0][1])


def hook_calls(x, fn, *args) -> int:
    """How many gradients a hook registered on ``x`` sees while ``fn(*args)`` runs (the hook
    is removed afterwards). Meant to run where ``x`` lives: a test calls it as
    ``student_side("autograder.testing").hook_calls(x, fn, ...)``."""
    seen = []
    handle = x.register_hook(lambda g: seen.append(1))
    try:
        fn(*args)
    finally:
        handle.remove()
    return len(seen)


def zero_grad_in_place(v) -> None:
    """``v.grad[...] = 0.0`` (torch: ``v.grad.zero_()``) on the array ``v`` keeps: in the judge,
    in the student's process, where a student's ``v`` lives (its ``.grad`` read from the judge
    is a copy, whose change the engine would never see). Raises what the assignment raises
    (``ValueError`` for a read-only array)."""
    there = _where_it_lives(v)
    if there is not None:
        there.zero_grad_in_place(v)
        return
    v.grad[...] = 0.0


# ---------------------------------------------------------------------------- arguments left alone


def check_unchanged(handle, original, function: str, name: str, what: str,
                    hint: str | None = None) -> None:
    """The array ``handle`` that the student's ``function`` got as its argument ``name`` still
    holds ``original``'s numbers after the call.

    ``handle`` is a copy of ``original`` made where the student's code runs
    (:func:`autograder.testing.remote`; in a kernel, the copy itself): in the judge, an array
    passed to a student's function directly arrives as a copy of its own, whose changes the
    test never sees. ``hint`` (translated) becomes a "likely cause" line.
    """
    __tracebackhide__ = True
    import numpy as np

    from .checks import likely_cause, to_array
    from .i18n import _

    original = np.asarray(original, dtype=np.float64)
    after = to_array(handle, name)
    if after is not None and after.shape == original.shape and np.array_equal(after, original):
        return
    msg = _("{what}: {function} changed its argument {name} in place; the caller's {name} must "
            "stay as it was (compute the result in a new array, such as 2 * x, rather than "
            "with x *= 2)").format(what=what, function=function, name=name)
    if hint:
        msg += "\n  " + likely_cause(hint)
    raise AssertionError(msg)


def call_keeping_inputs(fn, function: str, inputs: dict, what: str, *more, hints=None):
    """``fn(*inputs.values(), *more)``, each array of ``inputs`` (name -> array) a copy made
    where the student's code runs; fails (:func:`check_unchanged`) if ``fn`` changed one of
    them in place. Returns what ``fn`` returned. ``hints``: name -> likely cause (translated)."""
    __tracebackhide__ = True
    import numpy as np

    handles = {name: remote(np.array(a, copy=True)) for name, a in inputs.items()}
    result = fn(*handles.values(), *more)
    for name, handle in handles.items():
        check_unchanged(handle, inputs[name], function, name, what, (hints or {}).get(name))
    return result
