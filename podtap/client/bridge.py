"""The bridge between `podtap exec` (host side) and its jail: the one message set both
processes speak over their Unix sockets, and its one codec.

The jail has no route out but two pathname sockets in the exec directory:

- `bridge.sock`, served by `podtap exec`: each connection of the jail opens with one
  request (`Connect` a TCP connection, `Resolve` a name, `UdpFlow` a UDP flow) and gets one
  answer (`Opened`, `Refused`, `Resolved`); an opened connection then carries the stream's
  bytes, a UDP flow its datagrams, each framed as `datagram` frames it.
- `deliver.sock`, served by the jail: `podtap exec` opens one per stolen connection or
  request, says which port of the app it is for (`Deliver`), then relays its bytes.

A message is one line of JSON, `{"op": TAG, FIELD: VALUE, ...}`; `decode` is the only
place a line is read, and refuses what is not a message of this set (`BridgeError`)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Final, get_type_hints

FROM_THE_POD: Final = "from the pod"
"""Where a refused connection was attempted, unless the answer names another place."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """Jail → host: a TCP connection of the app to `host:port`; its bytes follow `Opened`."""

    TAG: ClassVar[str] = "connect"
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpFlow:
    """Jail → host: a UDP flow of the app to `host:port`; datagrams go both ways, framed."""

    TAG: ClassVar[str] = "udp"
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolve:
    """Jail → host: the addresses of `name` (already expanded by the app's resolver) for
    the record `family`, "A" or "AAAA"."""

    TAG: ClassVar[str] = "resolve"
    name: str
    family: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """Host → jail: the connection or flow is made; its bytes follow."""

    TAG: ClassVar[str] = "opened"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """Host → jail: the connection or flow could not be made (`where`: from the pod or
    from this machine); the bridge connection closes."""

    TAG: ClassVar[str] = "refused"
    error: str
    where: str = FROM_THE_POD


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """Host → jail: the addresses found for a `Resolve` (none: the name does not exist)."""

    TAG: ClassVar[str] = "resolved"
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver:
    """Host → jail, on `deliver.sock`: the bytes that follow are for the app's `port`."""

    TAG: ClassVar[str] = "deliver"
    port: int


Request = Connect | UdpFlow | Resolve
Answer = Opened | Refused | Resolved
Message = Request | Answer | Deliver

_TYPES: Final[dict[str, type[Message]]] = {
    cls.TAG: cls for cls in (Connect, UdpFlow, Resolve, Opened, Refused, Resolved, Deliver)
}
_FIELDS: Final = {
    cls: {f.name: get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}
    for cls in _TYPES.values()
}
_DATAGRAM: Final = struct.Struct("!H")


class BridgeError(ValueError):
    """A line that is not a message of the bridge's set."""


def encode(message: Message) -> bytes:
    """`message` as one line."""
    fields = {name: getattr(message, name) for name in _FIELDS[type(message)]}
    return json.dumps({"op": message.TAG, **fields}).encode() + b"\n"


def decode(line: bytes) -> Message:
    """The message `line` holds; BridgeError if it holds none (b"": the peer closed)."""
    try:
        data = json.loads(line)
    except ValueError:
        raise BridgeError(f"not a JSON line: {line[:80]!r}") from None
    cls = _TYPES.get(data.pop("op", None)) if isinstance(data, dict) else None
    if cls is None:
        raise BridgeError(f"not a bridge message: {line[:80]!r}")
    return cls(**{name: _value(cls, name, kind, data) for name, kind in _FIELDS[cls].items()})


def _value(cls: type[Message], name: str, kind: object, data: dict[str, Any]) -> Any:
    """`data[name]` if it is of the field's `kind` (str, int or tuple[str, ...])."""
    value = data.get(name)
    if kind in (str, int) and type(value) is kind:
        return value
    if kind == tuple[str, ...] and isinstance(value, list) and all(map(_is_str, value)):
        return tuple(value)
    raise BridgeError(f"{cls.TAG}: {name} is {value!r}")


def _is_str(value: object) -> bool:
    return isinstance(value, str)


async def receive(reader: asyncio.StreamReader) -> Message | None:
    """The next message on `reader`; None if the peer closed or sent something else."""
    try:
        return decode(await reader.readline())
    except BridgeError:
        return None


async def ask(
    path: str, request: Request
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Answer]:
    """The jail's side: `request` on a new connection to the bridge at `path`, and its
    answer; the reader and writer stay open for the stream an `Opened` begins."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(encode(request))
    answer = await receive(reader)
    if not isinstance(answer, Opened | Refused | Resolved):
        answer = Refused(error="bridge closed")
    return reader, writer, answer


def datagram(data: bytes) -> bytes:
    """One datagram of a UDP flow, framed for the bridge (2-byte length + datagram)."""
    return _DATAGRAM.pack(len(data)) + data


async def read_datagram(reader: asyncio.StreamReader) -> bytes:
    """The next datagram of a UDP flow; IncompleteReadError when the flow ends."""
    (size,) = _DATAGRAM.unpack(await reader.readexactly(_DATAGRAM.size))
    return await reader.readexactly(size)
