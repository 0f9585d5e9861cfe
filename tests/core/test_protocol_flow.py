"""Playbooks and properties for per-stream credit-based flow control."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.ids import RequestId, StreamId
from podtap.core.protocol import (
    DEFAULT_WINDOW,
    BodyChunk,
    BodyEnd,
    Data,
    FlowControlError,
    FlowReceiver,
    FlowSender,
    HttpResponseHead,
    StreamClose,
    StreamMessage,
    UdpDatagram,
    WindowUpdate,
    flow_size,
)
from podtap.testing import IGNORE, Raises, Step, play

S1, S2 = StreamId(1), StreamId(2)
R7 = RequestId(7)


def sender_handler(sender: FlowSender) -> Callable[[object], list[StreamMessage]]:
    def handle(event: object) -> list[StreamMessage]:
        if isinstance(event, WindowUpdate):
            return sender.on_window_update(event)
        return sender.send(event)  # type: ignore[arg-type]

    return handle


def test_default_window_is_256_kib() -> None:
    assert DEFAULT_WINDOW == 256 * 1024
    assert FlowSender().window == FlowReceiver().window == DEFAULT_WINDOW


def test_sender_splits_to_credit_and_queues_the_rest() -> None:
    sender = FlowSender(window=10, max_queued=8)
    sender.open(S1)
    play(
        sender_handler(sender),
        [
            Step(
                Data(stream=S1, data=b"0123456789abcdef"),
                [Data(stream=S1, data=b"0123456789")],
                note="10 of 16",
            ),
            (Data(stream=S1, data=b"XY"), []),
            (WindowUpdate(stream=S1, credit=4), [Data(stream=S1, data=b"abcd")]),
            (
                WindowUpdate(stream=S1, credit=100),
                [Data(stream=S1, data=b"ef"), Data(stream=S1, data=b"XY")],
            ),
            (Data(stream=S1, data=b"z"), [Data(stream=S1, data=b"z")]),
        ],
    )
    assert sender.credit(S1) == 100 - 4 - 1


def test_backpressure_is_queryable() -> None:
    sender = FlowSender(window=4, max_queued=5)
    sender.open(S1)
    assert sender.writable(S1)
    sender.send(Data(stream=S1, data=b"0123456"))  # 4 sent, 3 queued
    assert sender.queued_bytes(S1) == 3 and sender.writable(S1)
    sender.send(Data(stream=S1, data=b"ab"))
    assert sender.queued_bytes(S1) == 5 and not sender.writable(S1)
    assert sender.total_queued == 5
    sender.on_window_update(WindowUpdate(stream=S1, credit=2))
    assert sender.queued_bytes(S1) == 3 and sender.writable(S1)
    assert not sender.writable(S2)


def test_one_stream_without_credit_never_blocks_another() -> None:
    sender = FlowSender(window=3)
    sender.open(S1)
    sender.open(S2)
    play(
        sender_handler(sender),
        [
            (Data(stream=S1, data=b"aaaaaa"), [Data(stream=S1, data=b"aaa")]),
            (Data(stream=S1, data=b"b"), []),
            (Data(stream=S2, data=b"ccc"), [Data(stream=S2, data=b"ccc")]),
            (WindowUpdate(stream=S2, credit=3), []),
            (Data(stream=S2, data=b"ddd"), [Data(stream=S2, data=b"ddd")]),
            (
                WindowUpdate(stream=S1, credit=10),
                [Data(stream=S1, data=b"aaa"), Data(stream=S1, data=b"b")],
            ),
        ],
    )


def test_control_messages_keep_their_place_behind_queued_data() -> None:
    sender = FlowSender(window=4)
    sender.open(S1)
    head = HttpResponseHead(
        stream=S1, request=R7, status=200, reason="OK", headers=((b"content-length", b"6"),)
    )
    play(
        sender_handler(sender),
        [
            (head, [head]),
            (
                BodyChunk(stream=S1, request=R7, data=b"abcdef"),
                [BodyChunk(stream=S1, request=R7, data=b"abcd")],
            ),
            (BodyEnd(stream=S1, request=R7), []),
            (StreamClose(stream=S1), []),
            (Data(stream=S1, data=b"late"), Raises(ValueError, match="closing")),
            (
                WindowUpdate(stream=S1, credit=2),
                [
                    BodyChunk(stream=S1, request=R7, data=b"ef"),
                    BodyEnd(stream=S1, request=R7),
                    StreamClose(stream=S1),
                ],
            ),
            Step(
                Data(stream=S1, data=b"x"),
                Raises(ValueError, match="not open"),
                note="close forgot it",
            ),
            (WindowUpdate(stream=S1, credit=2), []),
        ],
    )
    assert not sender.is_open(S1) and len(sender) == 0


def test_close_with_nothing_queued_goes_out_at_once() -> None:
    sender = FlowSender()
    sender.open(S1)
    play(
        sender_handler(sender),
        [(StreamClose(stream=S1, error="reset"), [StreamClose(stream=S1, error="reset")])],
    )
    assert not sender.is_open(S1)


def test_large_messages_are_split_into_frames() -> None:
    sender = FlowSender(window=100, max_frame_data=4)
    sender.open(S1)
    play(
        sender_handler(sender),
        [
            (
                Data(stream=S1, data=b"0123456789"),
                [
                    Data(stream=S1, data=b"0123"),
                    Data(stream=S1, data=b"4567"),
                    Data(stream=S1, data=b"89"),
                ],
            )
        ],
    )


def test_datagrams_are_never_split() -> None:
    sender = FlowSender(window=5)
    sender.open(S1)
    dgram = UdpDatagram(stream=S1, data=b"abcd", addr="10.0.0.1", port=53)  # type: ignore[arg-type]
    play(
        sender_handler(sender),
        [
            (dgram, [dgram]),
            (dgram, []),
            (WindowUpdate(stream=S1, credit=3), [dgram]),
            (
                UdpDatagram(stream=S1, data=b"x" * 6, addr="h", port=1),
                Raises(ValueError, match="exceeds"),
            ),  # type: ignore[arg-type]
        ],
    )


def test_window_update_errors() -> None:
    sender = FlowSender()
    sender.open(S1)
    play(
        sender_handler(sender),
        [
            (
                WindowUpdate(stream=S1, credit=0),
                Raises(FlowControlError, match="window update of 0"),
            ),
            (WindowUpdate(stream=S1, credit=2**31), Raises(FlowControlError, match="overflows")),
            (WindowUpdate(stream=S2, credit=5), []),
        ],
    )


def test_open_and_reset_bookkeeping() -> None:
    sender = FlowSender(window=2)
    sender.open(S1, window=1)
    with pytest.raises(ValueError, match="already open"):
        sender.open(S1)
    sender.send(Data(stream=S1, data=b"abc"))
    assert sender.queued_bytes(S1) == 2
    assert sender.reset(S1) == 2 and sender.reset(S1) == 0
    assert sender.credit(S1) == 0 and sender.queued_bytes(S1) == 0
    with pytest.raises(ValueError):
        FlowSender(window=0)


@dataclass(frozen=True)
class Received:
    stream: StreamId
    size: int


@dataclass(frozen=True)
class Consumed:
    stream: StreamId
    size: int


def receiver_handler(receiver: FlowReceiver) -> Callable[[object], list[object]]:
    def handle(event: object) -> list[object]:
        if isinstance(event, Received):
            return [receiver.on_data(event.stream, event.size)]
        assert isinstance(event, Consumed)
        update = receiver.consumed(event.stream, event.size)
        return [] if update is None else [update]

    return handle


def test_receiver_returns_credit_after_half_the_window() -> None:
    receiver = FlowReceiver(window=10)
    receiver.open(S1)
    play(
        receiver_handler(receiver),
        [
            (Received(S1, 8), [True]),
            (Consumed(S1, 3), []),
            (Consumed(S1, 2), [WindowUpdate(stream=S1, credit=5)]),
            (Received(S1, 7), [True]),
            (Received(S1, 1), Raises(FlowControlError, match="only 0 credit")),
            (Consumed(S1, 11), Raises(ValueError, match="10 buffered")),
            (Consumed(S1, 10), [WindowUpdate(stream=S1, credit=10)]),
            (Received(S2, 1), [False]),
            (Consumed(S2, 1), []),
        ],
    )
    assert receiver.buffered(S1) == 0
    receiver.close(S1)
    assert not receiver.is_open(S1) and len(receiver) == 0


def test_receiver_threshold_is_configurable() -> None:
    receiver = FlowReceiver(window=10, update_threshold=1)
    receiver.open(S1, window=4)
    play(
        receiver_handler(receiver),
        [(Received(S1, 4), IGNORE), (Consumed(S1, 1), [WindowUpdate(stream=S1, credit=1)])],
    )
    with pytest.raises(ValueError):
        FlowReceiver(window=10, update_threshold=11)


@given(
    st.lists(
        st.tuples(st.sampled_from([S1, S2]), st.binary(min_size=0, max_size=40)),
        max_size=30,
    ),
    st.lists(st.integers(1, 50), max_size=60),
    st.integers(1, 64),
    st.integers(1, 32),
)
def test_sender_and_receiver_deliver_everything_in_order(
    writes: list[tuple[StreamId, bytes]], reads: list[int], window: int, frame: int
) -> None:
    sender = FlowSender(window=window, max_frame_data=frame)
    receiver = FlowReceiver(window=window)
    for stream in (S1, S2):
        sender.open(stream)
        receiver.open(stream)
    delivered: dict[StreamId, bytearray] = {S1: bytearray(), S2: bytearray()}
    buffered: dict[StreamId, int] = {S1: 0, S2: 0}
    wire: list[StreamMessage] = []

    def transmit() -> None:
        while wire:
            message = wire.pop(0)
            assert isinstance(message, Data)
            assert len(message.data) <= frame
            assert receiver.on_data(message.stream, flow_size(message))
            delivered[message.stream] += message.data
            buffered[message.stream] += len(message.data)

    def consume(stream: StreamId, size: int) -> None:
        size = min(size, buffered[stream])
        buffered[stream] -= size
        update = receiver.consumed(stream, size)
        if update is not None:
            wire.extend(sender.on_window_update(update))

    for (stream, data), read in zip(writes, reads + [0] * len(writes), strict=False):
        wire.extend(sender.send(Data(stream=stream, data=data)))
        transmit()
        consume(S1 if read % 2 else S2, read)
        transmit()
    # The application reads everything: all queued data must come out (no deadlock).
    for _ in range(10_000):
        if not (sender.queued_bytes(S1) or sender.queued_bytes(S2) or wire):
            break
        for stream in (S1, S2):
            consume(stream, buffered[stream])
        transmit()
    for stream in (S1, S2):
        assert bytes(delivered[stream]) == b"".join(d for s, d in writes if s == stream)
