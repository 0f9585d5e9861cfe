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
    sub = refuse_if_invalid(Subscribe(request=RequestId(3), port=Port(0), mode=IncomingMode.STEAL))
    assert isinstance(sub, SubscribeResult) and not sub.ok and sub.request == 3
    assert sub.error == "port 0 is not a service port (1..65535)"
    conn = refuse_if_invalid(
        Connect(stream=S1, protocol=TransportProtocol.TCP, host="", port=Port(80))
    )
    assert conn == ConnectResult(stream=S1, ok=False, error="empty host name")
    dns = refuse_if_invalid(GetAddrInfoRequest(request=RequestId(4), host="x" * 70))
    assert isinstance(dns, GetAddrInfoResponse) and dns.request == 4 and dns.error
    opened = refuse_if_invalid(FileOpen(request=RequestId(5), path="/etc/\0", flags=0))
    assert isinstance(opened, FileOpenResult) and opened.error and opened.error.errno == 22
    read = refuse_if_invalid(FileRead(request=RequestId(6), handle=1, offset=2**63, size=10))
    assert isinstance(read, FileReadResult) and read.error and read.request == 6


def test_valid_requests_and_other_frames_pass() -> None:
    assert (
        refuse_if_invalid(
            Subscribe(request=RequestId(3), port=Port(8080), mode=IncomingMode.MIRROR)
        )
        is None
    )
    assert (
        refuse_if_invalid(
            Connect(stream=S1, protocol=TransportProtocol.UDP, host="dns", port=Port(53))
        )
        is None
    )
    assert refuse_if_invalid(FileRead(request=RequestId(6), handle=1, offset=0, size=10)) is None
    assert refuse_if_invalid(FileClose(handle=1)) is None
    assert refuse_if_invalid(Data(stream=S1, data=b"x")) is None


def test_a_malformed_message_inside_an_envelope_names_its_session() -> None:
    import msgpack

    with pytest.raises(MalformedPayload) as err:
        decode(msgpack.packb(["envelope", 42, ["data", "x", b""]]))
    assert err.value.session == 42 and "envelope.message: data.stream" in err.value.message


def connected(check: RelayFlowCheck, stream: StreamId = S1) -> RelayFlowCheck:
    check.check(
        Connect(stream=stream, protocol=TransportProtocol.TCP, host="db", port=Port(5432)),
        from_client=True,
    )
    check.check(
        ConnectResult(stream=stream, ok=True, local_addr="10.0.0.2", local_port=Port(40000)),
        from_client=False,
    )
    return check


def test_relay_check_passes_a_session_that_keeps_to_its_windows() -> None:
    check = connected(RelayFlowCheck())
    check.check(Data(stream=S1, data=b"x" * DEFAULT_WINDOW), from_client=True)
    check.check(
        WindowUpdate(stream=S1, credit=100), from_client=False
    )  # the agent consumed 100 bytes
    check.check(Data(stream=S1, data=b"x" * 100), from_client=True)
    check.check(
        NewConnection(
            stream=S2,
            port=Port(80),
            remote_addr="a",
            remote_port=Port(1),
            local_addr="b",
            local_port=Port(80),
            mode=IncomingMode.STEAL,
        ),
        from_client=False,
    )
    check.check(
        BodyChunk(stream=S2, request=RequestId(1), data=b"y" * DEFAULT_WINDOW), from_client=False
    )
    check.check(StreamClose(stream=S1), from_client=False)
    check.check(Data(stream=S1, data=b"late"), from_client=True)  # crossed the close: not tracked
    assert len(check) == 1


@pytest.mark.parametrize(
    ("message", "from_client", "expected"),
    [
        (Data(stream=S1, data=b"x" * (DEFAULT_WINDOW + 1)), True, "with only 262144 credit"),
        (
            UdpDatagram(stream=S1, data=b"x" * (DEFAULT_WINDOW + 1), addr="a", port=Port(1)),
            False,
            "credit",
        ),
        (WindowUpdate(stream=StreamId(9), credit=0), True, "window update of 0 bytes on stream 9"),
        (WindowUpdate(stream=S1, credit=-1), False, "window update of -1 bytes"),
        (WindowUpdate(stream=S1, credit=MAX_WINDOW), True, "overflows"),
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
    check.check(ConnectResult(stream=S1, ok=False, error="refused"), from_client=False)
    assert len(check) == 0
