"""DNS family: name resolution as seen from inside the pod."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from podtap.core.ids import Port, RequestId
from podtap.core.protocol.enums import IpFamily

ANY_PORT: Final = Port(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAddrInfoRequest:
    TAG: ClassVar[str] = "getaddrinfo"
    request: RequestId
    host: str
    port: Port = ANY_PORT
    family: IpFamily = IpFamily.ANY


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAddrInfoResponse:
    """Resolved ``(family, address)`` pairs in resolver order, or an error."""

    TAG: ClassVar[str] = "getaddrinfo_result"
    request: RequestId
    addresses: tuple[tuple[IpFamily, str], ...] = ()
    error: str | None = None
