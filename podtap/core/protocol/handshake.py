"""Sans-IO version and feature negotiation.

The initiating side (client → operator, operator → agent) sends ``Hello`` first; the
accepting side answers ``HelloAck`` with the highest common version and the features both
offer. Failures raise a :class:`HandshakeError` whose ``close_frame()`` is the ``Close`` to
send to the peer (its text is written from the peer's point of view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from podtap.core.protocol.errors import (
    HandshakeError,
    HandshakeRejected,
    MissingFeatures,
    UnexpectedMessage,
    VersionMismatch,
)
from podtap.core.protocol.messages import Message
from podtap.core.protocol.session import Close, ErrorFrame, Hello, HelloAck

PROTOCOL_VERSION: Final = 1
"""The newest protocol version this code speaks."""
MIN_PROTOCOL_VERSION: Final = 1
"""The oldest protocol version this code still speaks."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """Outcome of a successful handshake."""

    version: int
    features: frozenset[str]
    peer_name: str
    peer_version: str

    def has(self, feature: str) -> bool:
        return feature in self.features


def _mismatch(ours: tuple[int, int], theirs: tuple[int, int], *, here: str, peer: str) -> str:
    """Text for the side speaking ``ours``, whose peer speaks ``theirs``."""
    text = f"peer speaks protocol {theirs[0]}..{theirs[1]}, we speak {ours[0]}..{ours[1]}"
    if theirs[0] > ours[1]:
        return f"{text}: upgrade podtap here ({here}; peer: {peer})"
    return f"{text}: upgrade podtap on the peer ({peer}; here: {here})"


class _Side:
    __slots__ = ("_result", "features", "max_version", "min_version", "name", "required", "version")

    def __init__(
        self,
        *,
        name: str,
        version: str,
        features: Iterable[str] = (),
        required_features: Iterable[str] = (),
        min_version: int = MIN_PROTOCOL_VERSION,
        max_version: int = PROTOCOL_VERSION,
    ) -> None:
        if not 0 <= min_version <= max_version:
            raise ValueError(f"invalid protocol version range {min_version}..{max_version}")
        self.name = name
        self.version = version
        self.required = frozenset(required_features)
        self.features = frozenset(features) | self.required
        self.min_version = min_version
        self.max_version = max_version
        self._result: Negotiated | None = None

    @property
    def result(self) -> Negotiated | None:
        """The agreement once the handshake succeeded, else ``None``."""
        return self._result

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def _label(self) -> str:
        return f"{self.name} {self.version}"

    def _check_not_done(self, message: Message) -> None:
        if self._result is not None:
            raise UnexpectedMessage(
                f"handshake already complete, got {message.TAG}", in_reply_to=message.TAG
            )


class InitiatorHandshake(_Side):
    """The side that opens the connection: send :meth:`hello`, feed the answer."""

    __slots__ = ()

    def hello(self) -> Hello:
        """The first frame to send."""
        return Hello(
            min_version=self.min_version,
            max_version=self.max_version,
            features=self.features,
            peer_name=self.name,
            peer_version=self.version,
        )

    def receive(self, message: Message) -> Negotiated:
        """Feed the peer's first frame; returns the agreement or raises ProtocolError."""
        self._check_not_done(message)
        if isinstance(message, Close):
            raise HandshakeRejected(
                f"peer closed the connection during the handshake ({message.reason}): "
                f"{message.message}",
                reason=message.reason,
            )
        if isinstance(message, ErrorFrame):
            raise HandshakeError(f"peer refused the handshake ({message.code}): {message.message}")
        if not isinstance(message, HelloAck):
            raise UnexpectedMessage(
                f"expected hello_ack, got {message.TAG}", in_reply_to=message.TAG
            )
        peer = f"{message.peer_name} {message.peer_version}"
        if not self.min_version <= message.version <= self.max_version:
            raise VersionMismatch(
                f"peer ({peer}) chose protocol {message.version}, "
                f"we offered {self.min_version}..{self.max_version}"
            )
        unknown = message.features - self.features
        if unknown:
            raise HandshakeError(
                f"peer ({peer}) accepted features we did not offer: {', '.join(sorted(unknown))}"
            )
        missing = self.required - message.features
        if missing:
            names = ", ".join(sorted(missing))
            raise MissingFeatures(
                f"peer ({peer}) does not support required features: {names}",
                missing=missing,
                peer_message=f"peer ({self._label}) requires features we lack: {names}",
            )
        self._result = Negotiated(
            version=message.version,
            features=message.features,
            peer_name=message.peer_name,
            peer_version=message.peer_version,
        )
        return self._result


class AcceptorHandshake(_Side):
    """The side that accepts the connection: feed the ``Hello``, send the ``HelloAck``."""

    __slots__ = ()

    def receive(self, message: Message) -> HelloAck:
        """Feed the peer's first frame; returns the answer to send or raises ProtocolError."""
        self._check_not_done(message)
        if isinstance(message, Close):
            raise HandshakeRejected(
                f"peer closed the connection before the handshake ({message.reason}): "
                f"{message.message}",
                reason=message.reason,
            )
        if not isinstance(message, Hello):
            raise UnexpectedMessage(
                f"expected hello first, got {message.TAG}", in_reply_to=message.TAG
            )
        peer = f"{message.peer_name} {message.peer_version}"
        theirs = (message.min_version, message.max_version)
        ours = (self.min_version, self.max_version)
        if theirs[0] > theirs[1]:
            raise HandshakeError(f"peer ({peer}) offered an empty version range {theirs}")
        version = min(ours[1], theirs[1])
        if version < max(ours[0], theirs[0]):
            raise VersionMismatch(
                _mismatch(ours, theirs, here=self._label, peer=peer),
                peer_message=_mismatch(theirs, ours, here=peer, peer=self._label),
            )
        missing = self.required - message.features
        if missing:
            names = ", ".join(sorted(missing))
            raise MissingFeatures(
                f"peer ({peer}) does not support required features: {names}",
                missing=missing,
                peer_message=f"peer ({self._label}) requires features we lack: {names}",
            )
        features = self.features & message.features
        self._result = Negotiated(
            version=version,
            features=features,
            peer_name=message.peer_name,
            peer_version=message.peer_version,
        )
        return HelloAck(
            version=version, features=features, peer_name=self.name, peer_version=self.version
        )
