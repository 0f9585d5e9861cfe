"""Playbooks for version/feature negotiation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podtap.core.protocol import (
    PROTOCOL_VERSION,
    AcceptorHandshake,
    Close,
    CloseReason,
    Data,
    ErrorCode,
    ErrorFrame,
    HandshakeError,
    HandshakeRejected,
    Hello,
    HelloAck,
    InitiatorHandshake,
    Message,
    MissingFeatures,
    Negotiated,
    Ping,
    UnexpectedMessage,
    VersionMismatch,
    decode,
    encode,
)
from podtap.testing import Raises, Step, play


def operator(**options: object) -> AcceptorHandshake:
    return AcceptorHandshake(name="operator", version="0.2.0", **options)  # type: ignore[arg-type]


def client(**options: object) -> InitiatorHandshake:
    return InitiatorHandshake(name="client", version="0.1.0", **options)  # type: ignore[arg-type]


def hello(lo: int, hi: int, *features: str) -> Hello:
    return Hello(
        min_version=lo,
        max_version=hi,
        features=frozenset(features),
        peer_name="client",
        peer_version="0.1.0",
    )


def test_protocol_version_constant() -> None:
    assert PROTOCOL_VERSION == 1
    assert client().hello() == Hello(
        min_version=1, max_version=1, features=frozenset(), peer_name="client", peer_version="0.1.0"
    )


def test_acceptor_agrees_on_highest_common_version_and_shared_features() -> None:
    side = operator(features={"http2", "udp"}, max_version=3)
    play(
        lambda m: [side.receive(m)],
        [
            Step(
                hello(1, 2, "udp", "queues"),
                [
                    HelloAck(
                        version=2,
                        features=frozenset({"udp"}),
                        peer_name="operator",
                        peer_version="0.2.0",
                    )
                ],
                note="client offers 1..2",
            ),
            Step(hello(1, 2), Raises(UnexpectedMessage, match="already complete")),
        ],
    )
    assert side.result == Negotiated(
        version=2, features=frozenset({"udp"}), peer_name="client", peer_version="0.1.0"
    )
    assert side.done and side.result.has("udp") and not side.result.has("queues")


def test_initiator_accepts_ack() -> None:
    side = client(features={"udp", "http2"}, max_version=2)
    assert side.hello().features == {"udp", "http2"}
    ack = HelloAck(
        version=2, features=frozenset({"udp"}), peer_name="operator", peer_version="0.2.0"
    )
    play(
        lambda m: [side.receive(m)],
        [
            (
                ack,
                [
                    Negotiated(
                        version=2,
                        features=frozenset({"udp"}),
                        peer_name="operator",
                        peer_version="0.2.0",
                    )
                ],
            ),
            (Ping(nonce=1), Raises(UnexpectedMessage)),
        ],
    )


def test_peer_newer_than_us() -> None:
    side = operator(max_version=2)
    play(
        lambda m: [side.receive(m)],
        [
            (
                hello(3, 4),
                Raises(
                    VersionMismatch,
                    match=r"peer speaks protocol 3\.\.4, we speak 1\.\.2: "
                    r"upgrade podtap here \(operator 0\.2\.0; peer: client 0\.1\.0\)",
                ),
            )
        ],
    )
    assert side.result is None


def test_version_mismatch_tells_the_peer_from_its_point_of_view() -> None:
    side = operator(min_version=2, max_version=3)
    try:
        side.receive(hello(1, 1))
    except VersionMismatch as exc:
        assert "peer speaks protocol 1..1, we speak 2..3: upgrade podtap on the peer" in str(exc)
        close = exc.close_frame()
        assert close.reason is CloseReason.PROTOCOL_ERROR
        assert close.message.startswith(
            "peer speaks protocol 2..3, we speak 1..1: upgrade podtap here (client 0.1.0"
        )
        assert exc.error_frame().code is ErrorCode.HANDSHAKE_FAILED
    else:
        raise AssertionError("no VersionMismatch")


def test_initiator_shows_the_acceptors_close() -> None:
    side = client()
    close = Close(
        reason=CloseReason.PROTOCOL_ERROR, message="peer speaks protocol 2..3, we speak 1..1: ..."
    )
    play(
        lambda m: [side.receive(m)],
        [(close, Raises(HandshakeRejected, match=r"\(ProtocolError\): peer speaks protocol 2"))],
    )


def test_initiator_rejects_bad_acks() -> None:
    play(
        lambda m: [client().receive(m)],
        [
            (
                HelloAck(version=2, features=frozenset(), peer_name="op", peer_version="1"),
                Raises(VersionMismatch, match="chose protocol 2"),
            ),
            (
                HelloAck(version=1, features=frozenset({"x"}), peer_name="op", peer_version="1"),
                Raises(HandshakeError, match="did not offer"),
            ),
            (
                ErrorFrame(code=ErrorCode.OTHER, message="nope"),
                Raises(HandshakeError, match="refused.*nope"),
            ),
            (
                Data(stream=1, data=b"x"),
                Raises(UnexpectedMessage, match="expected hello_ack, got data"),
            ),  # type: ignore[arg-type]
        ],
    )


def test_acceptor_rejects_bad_hellos() -> None:
    play(
        lambda m: [operator().receive(m)],
        [
            (Ping(nonce=1), Raises(UnexpectedMessage, match="expected hello first, got ping")),
            (hello(2, 1), Raises(HandshakeError, match="empty version range")),
            (
                Close(reason=CloseReason.CLIENT_EXITED),
                Raises(HandshakeRejected, match="ClientExited"),
            ),
        ],
    )


def test_required_features() -> None:
    side = operator(required_features={"udp"})
    play(lambda m: [side.receive(m)], [(hello(1, 1), Raises(MissingFeatures, match="udp"))])
    initiator = client(required_features={"udp"})
    assert "udp" in initiator.hello().features
    play(
        lambda m: [initiator.receive(m)],
        [
            (
                HelloAck(version=1, features=frozenset(), peer_name="op", peer_version="1"),
                Raises(MissingFeatures, match="required.*udp"),
            )
        ],
    )


def test_invalid_local_range() -> None:
    play(lambda _: [client(min_version=3, max_version=2)], [(None, Raises(ValueError))])


versions = st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted)
features = st.frozensets(st.sampled_from(["a", "b", "c", "d"]))


@given(versions, versions, features, features)
def test_both_sides_agree_or_both_explain(
    ours: list[int], theirs: list[int], offered: frozenset[str], supported: frozenset[str]
) -> None:
    init = client(min_version=ours[0], max_version=ours[1], features=offered)
    acc = operator(min_version=theirs[0], max_version=theirs[1], features=supported)
    first: Message = decode(encode(init.hello()))
    try:
        answer = acc.receive(first)
    except VersionMismatch as exc:
        assert ours[1] < theirs[0] or theirs[1] < ours[0]
        try:
            init.receive(decode(encode(exc.close_frame())))
        except HandshakeRejected as rejected:
            assert "upgrade podtap" in str(rejected)
        return
    agreed = init.receive(decode(encode(answer)))
    assert agreed.version == min(ours[1], theirs[1])
    assert agreed.features == offered & supported
    assert acc.result is not None and acc.result.features == agreed.features
