"""The ClusterBackend interface: everything the operator needs from a cluster.

Its vocabulary is Kubernetes' (namespaces, workloads, pods, containers, custom
resources); `backends/kubernetes` implements it over the Kubernetes API, `backends/local`
for the embedded cluster's private API. Nothing above this layer knows which one it talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp

# the one list of target kinds lives in core, shared with the config
from podtap.core.targets import TARGET_KINDS, TargetError, TargetKind, TargetRef

__all__ = [
    "TARGET_KINDS",
    "AgentEndpoint",
    "AgentRoute",
    "AgentStartFailed",
    "ClusterBackend",
    "ContainerInfo",
    "PodInfo",
    "ResolvedTarget",
    "ResourceEvent",
    "TargetError",
    "TargetKind",
    "TargetNotFound",
    "TargetNotReady",
    "TargetRef",
    "TargetSummary",
    "direct_route",
]


class TargetNotFound(TargetError):
    pass


class TargetNotReady(TargetError):
    pass


class AgentStartFailed(RuntimeError):
    """The backend could not start an agent for a pod; the message says where to look."""


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    pid: int | None
    ports: tuple[int, ...]
    running: bool
    #: the runtime's id (``containerd://…``, ``cri-o://…``, ``docker://…``) from the pod's
    #: ``containerStatuses``: what an agent pod finds the container's process by
    container_id: str | None = None


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    ip: str
    phase: str
    ready: bool
    labels: dict[str, str]
    owner: str | None
    containers: tuple[ContainerInfo, ...]
    node: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A target resolved to one running container of one pod."""

    target: TargetRef
    namespace: str
    pod: PodInfo
    container: ContainerInfo

    @property
    def pid(self) -> int:
        """The container's process on this machine; known only to backends that run it
        here (the Kubernetes API names a container id, not a pid)."""
        if self.container.pid is None:
            raise TargetNotReady(
                f"container {self.container.name} of pod {self.pod.name} has no process id "
                "known here (a cluster reached through the Kubernetes API names only its "
                "container id); an agent pod on its node must find it"
            )
        return self.container.pid

    @property
    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    @property
    def root_path(self) -> str:
        return f"/proc/{self.pid}/root"


@dataclass(frozen=True, slots=True)
class TargetSummary:
    target: TargetRef
    namespace: str
    ready: bool


@dataclass(frozen=True, slots=True)
class ResourceEvent:
    """A change of a stored resource; BOOKMARK marks the end of the initial listing."""

    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
    object: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEndpoint:
    """A started agent: where it listens for the operator (`url`: ``unix:/PATH`` on this
    machine, ``http://IP:PORT`` in a cluster), the bearer token it takes, and `handle`, what
    the backend that started it stops it by (a pid here, ``NS/POD`` in Kubernetes): opaque
    to everyone else."""

    url: str
    token: str
    handle: str


#: how the operator reaches an agent: a connector for its aiohttp session, and the base URL
#: (``http://HOST[:PORT]``) that the agent's paths go under
AgentRoute = tuple[aiohttp.BaseConnector, str]


def direct_route(endpoint: AgentEndpoint) -> AgentRoute:
    """The route straight to `endpoint`'s URL: its Unix socket, or its address."""
    if endpoint.url.startswith("unix:"):
        return aiohttp.UnixConnector(path=endpoint.url.removeprefix("unix:")), "http://agent"
    return aiohttp.TCPConnector(), endpoint.url.rstrip("/")


class ClusterBackend(Protocol):
    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]: ...

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        """The first ready pod of the target and its chosen container; raises TargetError."""
        ...

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]: ...

    async def list_resources(
        self, kind: str, *, namespace: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def get_resource(self, kind: str, *, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, ``None`` if there is none (a get: reading a Secret needs no list)."""
        ...

    async def put_resource(self, obj: dict[str, Any]) -> str: ...

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool: ...

    def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]: ...

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        """Start an agent in the target's network namespace, taking `token`; an agent on this
        machine listens on `socket_path` (one elsewhere, on its own address)."""
        ...

    async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
        """How this operator reaches a started agent (`direct_route`, or a tunnel such as
        the API server's ``pods/portforward`` when it runs outside the cluster)."""
        ...

    async def stop_agent(self, endpoint: AgentEndpoint) -> None: ...
