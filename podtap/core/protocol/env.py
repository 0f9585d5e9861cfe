"""Env family: the environment of the target container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from podtap.core.ids import RequestId


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvRequest:
    TAG: ClassVar[str] = "env"
    request: RequestId


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvResponse:
    TAG: ClassVar[str] = "env_result"
    request: RequestId
    env: dict[str, str]
    error: str | None = None
    mounts: tuple[str, ...] = ()
    """Mount points of the container's own volumes (ConfigMaps, Secrets, ...), so a
    client knows which remote paths hold the pod's files."""
