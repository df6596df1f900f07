"""autograder.refcache: torch's answer reused only when the key covers what the expression reads."""

from __future__ import annotations

import types

import numpy as np
import pytest

from autograder import checks, refcache, testing


def _compiled(src: str, name: str = "f", **glob):
    """``name`` from ``src`` compiled as a test cell is (the same file name, fresh namespace)."""
    ns = dict(glob)
    exec(compile(src, "<test cell>", "exec"), ns)
    return ns[name]


def _key(fn, *arrays, extra=(None, 0, False)):
    return refcache.key(fn, list(arrays) or [np.ones(3)], *extra)


X = np.arange(3.0)


def test_the_same_cell_in_two_notebooks_has_one_key():
    src = "from autograder.testing import add_chain\nf = lambda x: add_chain(x, 0.5, 10) * x\n"
    assert _key(_compiled(src), X) == _key(_compiled(src), X) is not None


@pytest.mark.parametrize("other", [
    "from autograder.testing import add_chain\nf = lambda x: add_chain(x, 0.5, 11) * x\n",  # a constant
    "from autograder.testing import add_chain\nf = lambda x: add_chain(x, 0.5, 10) + x\n",  # an op
    "from autograder.testing import repeat as add_chain\nf = lambda x: add_chain(x, 0.5, 10) * x\n",
])
def test_other_code_or_other_functions_have_other_keys(other):
    src = "from autograder.testing import add_chain\nf = lambda x: add_chain(x, 0.5, 10) * x\n"
    assert _key(_compiled(src), X) != _key(_compiled(other), X)


def test_inputs_grad_output_seed_and_per_use_are_in_the_key():
    f = _compiled("f = lambda x: x * 2\n")
    base = _key(f, X)
    assert _key(f, X + 1) != base
    assert _key(f, X.astype(np.float32)) != base
    assert _key(f, X.reshape(3, 1)) != base
    assert _key(f, X, extra=(np.ones(3), 0, False)) != base
    assert _key(f, X, extra=(None, 1, False)) != base
    assert _key(f, X, extra=(None, 0, True)) != base


def test_globals_closures_and_defaults_are_read_by_value():
    src = "def f(x, k=2):\n    return x * k + c\n"
    assert _key(_compiled(src, c=1.0), X) != _key(_compiled(src, c=2.0), X)
    src2 = "def make(c):\n    return lambda x: x * c\nf = make(K)\n"
    assert _key(_compiled(src2, K=1.0), X) != _key(_compiled(src2, K=3.0), X)
    helper = "def g(x):\n    return x * c\nf = lambda x: g(x) + 1\n"
    assert _key(_compiled(helper, c=1.0), X) != _key(_compiled(helper, c=2.0), X)
    arr = "f = lambda x: x * w\n"
    assert _key(_compiled(arr, w=np.ones(3)), X) != _key(_compiled(arr, w=np.zeros(3)), X)


class _Opaque:
    """Stands for a proxy of a student's object: nothing a key may read."""


@pytest.mark.parametrize("src, glob", [
    ("f = lambda x: x * obj\n", {"obj": _Opaque()}),
    ("f = lambda x: x.tanh()\n", {"tanh": _Opaque()}),  # an attribute name that is also a global
    ("f = lambda x: x + torch.randn(3)\n", {}),          # random numbers
    ("f = lambda x: x * {}.get(1, 2)\n", {}),            # fine: a literal ...
    ("f = lambda x: x * d[0]\n", {"d": {0: 1.0}}),       # ... but a dict's contents are not read
    ("import functools, operator\nf = functools.partial(operator.mul, 2.0)\n", {}),
    ("import json\nf = lambda x: x * len(json.dumps(1))\n", {}),  # a module outside the trusted ones
])
def test_what_a_key_cannot_hold_makes_the_expression_uncachable(src, glob):
    if "torch" in src:
        import torch

        glob = {"torch": torch}
    key = _key(_compiled(src, **glob), X)
    if "{}.get" in src:
        assert key is not None
    else:
        assert key is None


def test_a_replaced_function_of_a_trusted_module_is_no_match(monkeypatch):
    f = _compiled("from autograder import testing\nf = lambda x: testing.add_chain(x, 1.0, 3)\n")
    before = _key(f, X)
    monkeypatch.setattr(testing, "add_chain", lambda x, step=1.0, n=3: x)
    assert _key(f, X) != before


def test_kept_results_are_copies_and_only_slow_ones_are_kept(monkeypatch):
    refcache.clear()
    res = checks.TorchResult(np.ones(2), [np.ones(2)], None)
    refcache.put(b"fast", res, refcache.MIN_SECONDS / 2)
    assert refcache.get(b"fast") is None
    refcache.put(b"slow", res, refcache.MIN_SECONDS)
    got = refcache.get(b"slow")
    got.value[0] = 99.0
    got.grads[0][:] = -1
    again = refcache.get(b"slow")
    assert again.value[0] == 1.0 and again.grads[0][0] == 1.0
    monkeypatch.setattr(refcache, "MAX_ENTRIES", 3)
    for i in range(5):
        refcache.put(b"k%d" % i, res, 1.0)
    assert len(refcache._CACHE) == 3 and refcache.get(b"k0") is None and refcache.get(b"k4")
    refcache.clear()


@pytest.fixture
def in_judge(monkeypatch):
    """torch_gradients as the judge calls it: an active session whose request count the
    test controls (the judge's own is tested end to end by every graded batch); every
    result worth keeping, however fast."""
    monkeypatch.setattr(refcache, "MIN_SECONDS", 0.0)
    session = types.SimpleNamespace(channel=types.SimpleNamespace(requests=0))
    token = testing.ACTIVE_JUDGE.set(session)
    refcache.clear()
    yield session
    testing.ACTIVE_JUDGE.reset(token)
    refcache.clear()


def _chain(x):
    return testing.add_chain(x, 0.25, 40).tanh()


def test_the_judge_gets_torchs_answer_again_equal_to_a_fresh_one(in_judge):
    inputs = checks.random_inputs((3,), seed=4)
    assert refcache.key(_chain, inputs, None, 0, False) is not None
    first = checks.torch_gradients(_chain, inputs)
    hits = refcache.STATS["hits"]
    second = checks.torch_gradients(_chain, inputs)
    assert refcache.STATS["hits"] == hits + 1
    testing.ACTIVE_JUDGE.set(None)  # outside the judge: torch every time, never the cache
    fresh = checks.torch_gradients(_chain, inputs)
    for r in (first, second):
        np.testing.assert_array_equal(r.value, fresh.value)
        np.testing.assert_array_equal(r.grads[0], fresh.grads[0])
        np.testing.assert_array_equal(r.grad_output, fresh.grad_output)


def test_an_expression_that_asked_the_students_process_is_not_kept(in_judge):
    def asks(x):
        testing.ACTIVE_JUDGE.get().channel.requests += 1  # what a request to the student does
        return _chain(x)

    assert refcache.key(asks, [np.ones(3)], None, 0, False) is not None  # keyable: not why

    inputs = checks.random_inputs((3,), seed=5)
    checks.torch_gradients(asks, inputs)
    hits = refcache.STATS["hits"]
    checks.torch_gradients(asks, inputs)
    assert refcache.STATS["hits"] == hits and not refcache._CACHE


def test_an_expression_that_changes_what_its_key_reads_is_not_kept(in_judge):
    f = _compiled("calls = []\n"
                  "def f(x):\n"
                  "    calls.append(1)  # a side effect a later notebook's test may count\n"
                  "    return testing.add_chain(x, 0.25, 40)\n", testing=testing)
    inputs = checks.random_inputs((3,), seed=6)
    checks.torch_gradients(f, inputs)
    checks.torch_gradients(f, inputs)
    assert f.__globals__["calls"] == [1, 1] and not refcache._CACHE
