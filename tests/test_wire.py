"""autograder.judge.wire and the student's side's handles: a handle carries its type's name the
first time it is handed out, and the judge accepts only a short string there."""

from __future__ import annotations

import pytest

from autograder.judge import wire
from autograder.judge.serve import Handles


class Node:
    pass


def test_a_handle_carries_its_type_name_once():
    handles, a, b = Handles(), Node(), Node()
    first = wire.encode([a, b, a], handles.handle_named)
    assert [v.get("tn") for v in first["v"]] == ["Node", "Node", None]
    assert wire.encode(a, handles.handle_named) == {"t": "h", "id": first["v"][0]["id"]}
    seen = []
    got = wire.decode(first, lambda hid, tn=None: seen.append((hid, tn)) or hid)
    assert got == [0, 1, 0] and seen == [(0, "Node"), (1, "Node"), (0, None)]


@pytest.mark.parametrize("tn", ["", 7, ["Node"], "x" * 201])
def test_a_bad_type_name_is_a_protocol_error(tn):
    with pytest.raises(wire.WireError, match="bad type name"):
        wire.decode({"t": "h", "id": 0, "tn": tn}, lambda hid, tn=None: hid)
