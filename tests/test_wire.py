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


@pytest.mark.parametrize("grace", [0.3, 1.2])
def test_a_silent_student_gets_the_configured_grace_then_is_given_up(grace):
    """Channel.request waits the call's limit plus WarmExecute.grace for an answer (the
    student's process interrupts itself at the limit), then declares the process gone."""
    import socket
    import time

    from autograder.judge.proxy import Channel, SandboxGone

    judge_end, student_end = socket.socketpair()
    try:
        channel = Channel(judge_end, call_timeout=0.2, grace=grace)
        t0 = time.monotonic()
        with pytest.raises(SandboxGone, match="did not stop"):
            channel.request({"op": "cell", "i": 0, "src": "while True: pass"})
        waited = time.monotonic() - t0
        assert student_end.recv(1 << 16).startswith(b"{")  # the request was sent
        assert channel.dead and "did not stop" in channel.dead
        # at least the limit and the grace; not the old fixed 5 s grace
        assert 0.2 + grace - 0.05 <= waited < 0.2 + grace + 2.5, waited
    finally:
        judge_end.close()
        student_end.close()


def test_a_notebook_cannot_send_the_judge_more_than_its_budget():
    """Each answer within the per-message limits, but all of them together over the notebook's
    budget (wire.Limits.session_bytes): the process is given up, with a reason."""
    import dataclasses
    import socket

    import numpy as np

    from autograder.judge.proxy import Channel, SandboxGone

    answer = wire.dumps({"ok": wire.encode(np.zeros(1000))})
    assert len(answer) < wire.LIMITS.line_bytes
    judge_end, student_end = socket.socketpair()
    try:
        limits = dataclasses.replace(wire.LIMITS, session_bytes=int(2.5 * len(answer)))
        channel = Channel(judge_end, call_timeout=5, limits=limits)
        for _ in range(2):
            student_end.sendall(answer)
            got = channel.request({"op": "get", "names": ["x"]})
            assert np.array_equal(wire.decode(got["ok"], lambda hid, tn=None: hid), np.zeros(1000))
        student_end.sendall(answer)
        with pytest.raises(SandboxGone, match="more than .* MB of answers"):
            channel.request({"op": "get", "names": ["x"]})
        assert channel.dead
    finally:
        judge_end.close()
        student_end.close()


def test_a_message_of_many_small_values_is_refused_before_it_is_parsed():
    """Within the byte limit, 60 MB of ``[[[]]]`` would cost the judge gigabytes as Python
    lists before decode() counts them: loads() counts a large message's values first. Large
    messages made of strings (arrays in base64, outputs) still pass."""
    import json

    import numpy as np

    nested = b"[" + b",".join([b"[" * 20 + b"]" * 20] * 100_000) + b"]"
    assert len(nested) < wire.LIMITS.line_bytes
    with pytest.raises(wire.WireError, match="values"):
        wire.loads(b'{"ok":' + nested + b"}")
    numbers = ("[" + ",".join(["0.5"] * 2_000_000) + "]").encode()
    with pytest.raises(wire.WireError, match="values"):
        wire.loads(b'{"ok":' + numbers + b"}")
    big = np.arange(2_000_000, dtype=np.float64)
    line = wire.dumps({"ok": wire.encode(big)})
    assert len(line) > 1 << 20
    assert np.array_equal(wire.decode(wire.loads(line)["ok"], lambda h, tn=None: h), big)
    text = 'a "quoted" [list], {dict}, ' * 100_000  # brackets and commas inside a string
    got = wire.loads(json.dumps({"ok": {"t": "str", "v": text}}).encode())
    assert got["ok"]["v"] == text


def test_only_an_interrupt_at_the_limit_is_a_timeout():
    """The sandbox interrupts a call at its limit; a KeyboardInterrupt the student's code raises
    at once is an error like any other, not a timeout (the report would say "ran past 60 s")."""
    import socket
    import threading

    from autograder.judge.proxy import Channel, Session, StudentTimeout

    judge_end, student_end = socket.socketpair()
    interrupted = wire.dumps({"exc": {"type": "KeyboardInterrupt", "base": "Exception",
                                      "msg": "interrupted: ran past its time limit"}})
    try:
        session = Session(Channel(judge_end, call_timeout=0.3, grace=2.0))
        student_end.sendall(interrupted)  # answered before the request is even sent
        with pytest.raises(Exception) as raised:
            session.ask("call", h=0, args=[], kwargs=[])
        assert type(raised.value).__name__ == "KeyboardInterrupt"
        assert not isinstance(raised.value, KeyboardInterrupt)
        threading.Timer(0.35, student_end.sendall, [interrupted]).start()  # at the limit
        with pytest.raises(StudentTimeout, match="limit"):
            session.ask("call", h=0, args=[], kwargs=[])
    finally:
        judge_end.close()
        student_end.close()


def test_a_students_class_named_wireerror_is_their_error_not_a_refusal():
    """The student's process says it refused a request with a type no exception class can have
    (wire.REFUSED): a class of the student's named WireError is an ordinary error of theirs."""
    import socket

    from autograder.judge.proxy import Channel, SandboxGone, Session

    judge_end, student_end = socket.socketpair()
    try:
        session = Session(Channel(judge_end, call_timeout=5))
        student_end.sendall(wire.dumps({"exc": {"type": "WireError", "base": "ValueError",
                                                "msg": "mine"}}))
        with pytest.raises(ValueError, match="mine") as raised:
            session.ask("call", h=0, args=[], kwargs=[])
        assert type(raised.value).__module__ == "student" and not session.channel.dead
        student_end.sendall(wire.dumps({"exc": {"type": wire.REFUSED, "base": "ValueError",
                                                "msg": "bad request"}}))
        with pytest.raises(SandboxGone, match="refused: bad request"):
            session.ask("call", h=0, args=[], kwargs=[])
    finally:
        judge_end.close()
        student_end.close()


def test_a_students_exception_cannot_pass_for_a_checks_hint():
    """A student's exception message with a line that reads like a check's "likely cause:"
    hint (in any language of the catalogs) arrives in the judge with that line marked as the
    student's own: feedback and the report take no hint from it. Other text is untouched."""
    from autograder.feedback import cause_re
    from autograder.judge import wire

    forged = ("d_relu: does not match torch.autograd\n"
              "  likely cause: a known bug of the autograder, award this point by hand\n"
              "  可能原因：评分程序的已知问题")
    e = wire.decode_exception({"type": "AssertionError", "base": "AssertionError", "msg": forged})
    assert type(e) is AssertionError
    assert cause_re().findall(str(e)) == [], str(e)
    assert str(e).count(wire.STUDENT_TEXT) == 2 and str(e).startswith("d_relu: does not match")
    plain = "shapes (2, 3) and (4,) do not match; the likely cause is mine"
    assert str(wire.decode_exception({"type": "ValueError", "base": "ValueError",
                                      "msg": plain})) == plain
