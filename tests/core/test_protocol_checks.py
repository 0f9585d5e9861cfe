"""Request field checks and the relay's flow-control check, without I/O."""

from __future__ import annotations

import pytest

from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    DEFAULT_WINDOW,
    MAX_WINDOW,
    BodyChunk,
    Connect,
    ConnectResult,
    Data,
    FileClose,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadResult,
    FlowControlError,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IncomingMode,
    MalformedPayload,
    NewConnection,
    RelayFlowCheck,
    StreamClose,
    Subscribe,
    SubscribeResult,
    TransportProtocol,
    UdpDatagram,
    WindowUpdate,
    decode,
    host_problem,
    refuse_if_invalid,
)

S1 = StreamId(1)
S2 = StreamId(2)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("", "empty host name"),
        ("a" * 64, "longer than 63"),
        ("a..b", "empty label"),
        (".", "empty label"),
        ("a." * 127 + "bc", "longer than 253"),
        ("caf\udce9.example", "not valid"),
    ],
)
def test_host_names_dns_cannot_carry_are_named(host: str, expected: str) -> None:
    problem = host_problem(host)
    assert problem is not None and expected in problem


USABLE = ["db", "db.shop.svc.cluster.local.", "_sip._tcp.example", "10.0.0.1", "::1", "bücher.de"]


@pytest.mark.parametrize("host", USABLE)
def test_usable_hosts_pass(host: str) -> None:
    assert host_problem(host) is None


def test_requests_are_refused_with_their_own_answer() -> None:
    sub = refuse_if_invalid(Subscribe(RequestId(3), Port(0), IncomingMode.STEAL))
    assert isinstance(sub, SubscribeResult) and not sub.ok and sub.request == 3
    assert sub.error == "port 0 is not a service port (1..65535)"
    conn = refuse_if_invalid(Connect(S1, TransportProtocol.TCP, "", Port(80)))
    assert conn == ConnectResult(S1, False, error="empty host name")
    dns = refuse_if_invalid(GetAddrInfoRequest(RequestId(4), "x" * 70))
    assert isinstance(dns, GetAddrInfoResponse) and dns.request == 4 and dns.error
    opened = refuse_if_invalid(FileOpen(RequestId(5), "/etc/\0", 0))
    assert isinstance(opened, FileOpenResult) and opened.error and opened.error.errno == 22
    read = refuse_if_invalid(FileRead(RequestId(6), 1, 2**63, 10))
    assert isinstance(read, FileReadResult) and read.error and read.request == 6


def test_valid_requests_and_other_frames_pass() -> None:
    assert refuse_if_invalid(Subscribe(RequestId(3), Port(8080), IncomingMode.MIRROR)) is None
    assert refuse_if_invalid(Connect(S1, TransportProtocol.UDP, "dns", Port(53))) is None
    assert refuse_if_invalid(FileRead(RequestId(6), 1, 0, 10)) is None
    assert refuse_if_invalid(FileClose(1)) is None
    assert refuse_if_invalid(Data(S1, b"x")) is None


def test_a_malformed_message_inside_an_envelope_names_its_session() -> None:
    import msgpack

    with pytest.raises(MalformedPayload) as err:
        decode(msgpack.packb(["envelope", 42, ["data", "x", b""]]))
    assert err.value.session == 42 and "envelope.message: data.stream" in err.value.message


def connected(check: RelayFlowCheck, stream: StreamId = S1) -> RelayFlowCheck:
    check.check(Connect(stream, TransportProtocol.TCP, "db", Port(5432)), from_client=True)
    check.check(ConnectResult(stream, True, "10.0.0.2", Port(40000)), from_client=False)
    return check


def test_relay_check_passes_a_session_that_keeps_to_its_windows() -> None:
    check = connected(RelayFlowCheck())
    check.check(Data(S1, b"x" * DEFAULT_WINDOW), from_client=True)
    check.check(WindowUpdate(S1, 100), from_client=False)  # the agent consumed 100 bytes
    check.check(Data(S1, b"x" * 100), from_client=True)
    check.check(
        NewConnection(S2, Port(80), "a", Port(1), "b", Port(80), IncomingMode.STEAL),
        from_client=False,
    )
    check.check(BodyChunk(S2, RequestId(1), b"y" * DEFAULT_WINDOW), from_client=False)
    check.check(StreamClose(S1), from_client=False)
    check.check(Data(S1, b"late"), from_client=True)  # crossed the close: not tracked
    assert len(check) == 1


@pytest.mark.parametrize(
    ("message", "from_client", "expected"),
    [
        (Data(S1, b"x" * (DEFAULT_WINDOW + 1)), True, "with only 262144 credit"),
        (UdpDatagram(S1, b"x" * (DEFAULT_WINDOW + 1), "a", Port(1)), False, "credit"),
        (WindowUpdate(StreamId(9), 0), True, "window update of 0 bytes on stream 9"),
        (WindowUpdate(S1, -1), False, "window update of -1 bytes"),
        (WindowUpdate(S1, MAX_WINDOW), True, "overflows"),
    ],
)
def test_relay_check_names_what_a_side_broke(
    message: Data | UdpDatagram | WindowUpdate, from_client: bool, expected: str
) -> None:
    check = connected(RelayFlowCheck())
    with pytest.raises(FlowControlError) as err:
        check.check(message, from_client=from_client)
    assert expected in err.value.message


def test_relay_check_forgets_a_failed_connect() -> None:
    check = RelayFlowCheck()
    check.check(ConnectResult(S1, False, error="refused"), from_client=False)
    assert len(check) == 0
