"""An in-memory ClusterBackend: the operator tested without root and without a cluster.

`FakeCluster` answers every method of `backends.base.ClusterBackend` as the embedded
cluster's backend does (tests/backends/test_backend_contract.py runs the same tests
against both): the objects, pods and environments come from the embedded cluster's own
deciding code, run in memory (`fakepods`), and resolving targets follows the same rules
with the same errors. Its agents are `fakeagent.FakeAgent`s in this process, speaking
the real agent protocol on the socket the operator names.

Where it departs from the embedded cluster: no process runs, so a pod is ready once its
environment can be built (no probes; `set_ready` and `stop_container` change that), pids
are fake (`/proc/PID` does not exist: nothing may read a fake pod's files or namespaces),
and the agent has no redirect, outgoing connections or files (see `fakeagent`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from podtap.backends import resolving
from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    AgentStartFailed,
    ResolvedTarget,
    ResourceEvent,
    TargetNotFound,
    TargetNotReady,
    TargetRef,
    TargetSummary,
    direct_route,
)
from podtap.backends.local.manifests import Manifest, ManifestError, check, load_files, parse_text
from podtap.backends.resolving import first_ready
from podtap.core.targets import TargetKind
from podtap.testing.fakeagent import FakeAgent
from podtap.testing.fakepods import FakeContainer, FakeNode, FakePod
from podtap.testing.fakesession import PodSide

BACKEND_NAME = "the fake cluster"
OWNER_KIND: dict[TargetKind, str] = {"deployment": "Deployment", "statefulset": "StatefulSet"}
#: The stored object each resolvable kind other than pod names (its pods follow from it).
OBJECT_KIND: dict[TargetKind, str] = {**OWNER_KIND, "service": "Service"}
#: The kinds the fake resolves (the Kubernetes backend resolves them all).
RESOLVABLE_KINDS: frozenset[TargetKind] = frozenset({"pod", *OBJECT_KIND})


def refuse_unresolvable(target: TargetRef) -> None:
    """The refusal of a target the fake cannot resolve, in the real backends' words."""
    resolving.refuse_unresolvable(target, resolvable=RESOLVABLE_KINDS, backend=BACKEND_NAME)


class FakeCluster:
    resolvable_kinds = RESOLVABLE_KINDS

    def __init__(self, manifests: Iterable[Manifest] = (), *, agents: bool = True) -> None:
        """A cluster holding `manifests` (applied, their pods running); with `agents=False`
        every start_agent fails (AgentStartFailed), as when the agent cannot start."""
        self.node = FakeNode()
        self.node.apply(manifests)
        self.agents: dict[str, FakeAgent] = {}  # by handle
        self._agents_start = agents

    @classmethod
    def from_files(cls, *paths: str | Path, agents: bool = True) -> FakeCluster:
        """A cluster of manifest files or directories (`examples/shop`), as `local up`."""
        return cls(load_files(paths), agents=agents)

    @classmethod
    def from_yaml(cls, text: str, *, agents: bool = True) -> FakeCluster:
        return cls(parse_text(text, source="fake.yaml"), agents=agents)

    # -- what tests change -----------------------------------------------------------------
    def pod(self, name: str, *, namespace: str = "default") -> FakePod:
        """The pod named `name`, or the only one whose name starts with `name-`."""
        found = self.node.pods.get((namespace, name))
        if found is not None:
            return found
        (only,) = [
            p
            for (ns, n), p in self.node.pods.items()
            if ns == namespace and n.startswith(f"{name}-")
        ]
        return only

    def set_ready(self, pod: str, ready: bool, *, namespace: str = "default") -> None:
        self.pod(pod, namespace=namespace).ready = ready

    def stop_container(self, pod: str, container: str, *, namespace: str = "default") -> None:
        """The container exits (no pid); the pod's readiness is left as it is."""
        (found,) = [c for c in self.pod(pod, namespace=namespace).containers if c.name == container]
        found.pid = None

    def agent(self, pod: str, *, namespace: str = "default") -> FakeAgent:
        """The running agent of a pod (see `pod` for the name)."""
        ip = self.pod(pod, namespace=namespace).ip
        (only,) = [a for a in self.agents.values() if a.address == ip and a.running]
        return only

    async def close(self) -> None:
        for handle in list(self.agents):
            await self.stop_agent(AgentEndpoint(url="", token="", handle=handle))

    # -- ClusterBackend ----------------------------------------------------------------------
    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]:
        pods = self._pods(namespace)
        out = [
            TargetSummary(TargetRef("pod", p.plan.name), p.plan.namespace, p.ready) for p in pods
        ]
        for kind, object_kind in OBJECT_KIND.items():
            for _, stored in self.node.store.items(object_kind, namespace):
                ns, name = stored.raw["metadata"]["namespace"], stored.raw["metadata"]["name"]
                ready = any(p.ready for p in self._members(kind, ns, name))
                out.append(TargetSummary(TargetRef(kind, name), ns, ready))
        return out

    def _pods(self, namespace: str | None) -> list[FakePod]:
        return [p for (ns, _), p in sorted(self.node.pods.items()) if namespace in (None, ns)]

    def _members(self, kind: TargetKind, namespace: str, name: str) -> list[FakePod]:
        """The pods of a stored deployment, statefulset or service, by name."""
        pods = self._pods(namespace)
        if kind == "service":
            stored = self.node.store.get("Service", namespace, name)
            selector = (stored.raw.get("spec") or {}).get("selector") if stored else None
            return [p for p in pods if selector and selector.items() <= p.plan.labels.items()]
        owner = f"{OWNER_KIND[kind]}/{namespace}/{name}"
        return [p for p in pods if p.plan.owner == owner]

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        refuse_unresolvable(target)
        if target.kind == "pod":
            pods = [p for p in self._pods(namespace) if p.plan.name == target.name]
            if not pods:
                raise TargetNotFound(f"pod {target.name!r} not found in namespace {namespace!r}")
        elif self.node.store.get(OBJECT_KIND[target.kind], namespace, target.name) is None:
            raise TargetNotFound(
                f"{target.kind} {target.name!r} not found in namespace {namespace!r} "
                "(list targets with `podtap ls`)"
            )
        else:
            pods = self._members(target.kind, namespace, target.name)
        pod = first_ready(target, namespace, pods)
        return ResolvedTarget(target, namespace, pod.info(), _chosen(target, pod).info())

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]:
        return dict(self._container(resolved).env)

    def _container(self, resolved: ResolvedTarget) -> FakeContainer:
        """The container of `resolved` while it runs; OSError once it is gone, as reading
        the environ of an exited process is."""
        pod = self.node.pods.get((resolved.namespace, resolved.pod.name))
        for c in pod.containers if pod is not None else ():
            if c.name == resolved.container.name and c.pid == resolved.container.pid:
                return c
        raise ProcessLookupError(
            f"container {resolved.container.name} of pod {resolved.pod.name} is gone"
        )

    async def list_resources(
        self, kind: str, *, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return [s.as_json() for _, s in self.node.store.items(kind, namespace)]

    async def get_resource(self, kind: str, *, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self.node.store.get(kind, namespace, name)
        return None if stored is None else stored.as_json()

    async def put_resource(self, obj: dict[str, Any]) -> str:
        try:
            manifest = check(obj, source="backend", index=0)
        except ManifestError as exc:
            raise ValueError(str(exc)) from None
        (result,) = self.node.apply([manifest])
        return result.rsplit(" ", 1)[1]

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool:
        return self.node.delete(kind, namespace, name)

    async def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]:
        """The objects of `kind` as ADDED, a BOOKMARK, then every change, as the node's
        watch sends them."""
        store = self.node.store
        queue = store.watch()
        try:
            for _, stored in store.items(kind):
                yield ResourceEvent("ADDED", stored.as_json())
            yield ResourceEvent("BOOKMARK", {})
            while True:
                event = await queue.get()
                if event.kind == kind and event.type in ("ADDED", "MODIFIED", "DELETED"):
                    yield ResourceEvent(event.type, event.object)  # type: ignore[arg-type]
        finally:
            store.unwatch(queue)

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        """A FakeAgent for the resolved container, listening on `socket_path`."""
        if not self._agents_start:
            raise AgentStartFailed(
                f"the agent for pod {resolved.pod.name} did not start; the fake cluster runs none"
            )
        pod = PodSide(
            env=lambda: self._container(resolved).env,
            names=lambda host: self.node.names(resolved.namespace, host),
        )
        agent = FakeAgent(token=token, pod=pod, address=resolved.pod.ip)
        await agent.start(socket_path)
        handle = str(next(self.node.pids))
        self.agents[handle] = agent
        return AgentEndpoint(url=f"unix:{socket_path}", token=token, handle=handle)

    async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
        return direct_route(endpoint)

    async def stop_agent(self, endpoint: AgentEndpoint) -> None:
        agent = self.agents.pop(endpoint.handle, None)
        if agent is not None:
            await agent.stop()


def _chosen(target: TargetRef, pod: FakePod) -> FakeContainer:
    """The target's container (its first when it names none), running."""
    names = [c.name for c in pod.containers]
    wanted = target.container or names[0]
    if wanted not in names:
        raise TargetNotFound(
            f"pod {pod.plan.name} has no container {wanted!r} (it has {', '.join(names)})"
        )
    found = pod.containers[names.index(wanted)]
    if found.pid is None:
        raise TargetNotReady(f"container {wanted} of pod {pod.plan.name} is not running")
    return found
