"""ClusterBackend for the embedded local cluster (talks to its node over the API socket)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from podtap.backends import resolving
from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    AgentStartFailed,
    ContainerInfo,
    PodInfo,
    ResolvedTarget,
    ResourceEvent,
    TargetKind,
    TargetNotFound,
    TargetNotReady,
    TargetRef,
    TargetSummary,
    direct_route,
)
from podtap.backends.local.client import NodeClient
from podtap.backends.local.manifests import ManifestError, check
from podtap.backends.local.paths import ClusterPaths
from podtap.net.process import die_with_parent
from podtap.net.procfs import read_environ

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
OWNER_KIND: dict[TargetKind, str] = {"deployment": "Deployment", "statefulset": "StatefulSet"}
#: The stored object each resolvable kind other than pod names (its pods follow from it).
OBJECT_KIND: dict[TargetKind, str] = {**OWNER_KIND, "service": "Service"}
#: The kinds of :data:`podtap.core.targets.KINDS` this backend resolves; the others are
#: refused by ``podtap verify-config`` and ``resolve`` with :func:`unresolvable_reason`.
RESOLVABLE_KINDS: frozenset[TargetKind] = frozenset({"pod", *OBJECT_KIND})
BACKEND_NAME = "the embedded cluster"
first_ready = resolving.first_ready  # the fake's import; the checks live in backends.resolving


def refuse_unresolvable(target: TargetRef) -> None:
    """Raise the refusal for a target this cluster cannot resolve (targetless, or a kind it
    does not run yet): the same words from the local backend and its fake."""
    resolving.refuse_unresolvable(target, resolvable=RESOLVABLE_KINDS, backend=BACKEND_NAME)


def _pod_info(raw: dict[str, Any]) -> PodInfo:
    containers = tuple(
        ContainerInfo(c["name"], c["pid"], tuple(c["ports"]), c["state"] == "Running")
        for c in raw["containers"]
    )
    return PodInfo(
        raw["namespace"],
        raw["name"],
        raw["ip"],
        raw["phase"],
        raw["ready"],
        raw["labels"],
        raw["owner"],
        containers,
    )


class LocalBackend:
    resolvable_kinds = RESOLVABLE_KINDS

    def __init__(self, paths: ClusterPaths) -> None:
        self._client = NodeClient(paths)
        self._paths = paths
        self._agents: dict[str, asyncio.subprocess.Process] = {}  # by pid

    async def _pods(self, namespace: str | None) -> list[PodInfo]:
        return [
            _pod_info(p)
            for p in await self._client.pods(namespace)
            if not (p["owner"] or "").startswith("Run/")
        ]

    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]:
        pods = await self._pods(namespace)
        out = [TargetSummary(TargetRef("pod", p.name), p.namespace, p.ready) for p in pods]
        for kind, object_kind in OBJECT_KIND.items():
            for obj in await self._client.objects(object_kind, namespace):
                ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
                ref = TargetRef(kind, name)
                candidates = self._candidates(ref, ns, pods, obj)
                out.append(TargetSummary(ref, ns, any(p.ready for p in candidates)))
        return out

    @staticmethod
    def _candidates(
        ref: TargetRef, namespace: str, pods: list[PodInfo], obj: dict[str, Any] | None
    ) -> list[PodInfo]:
        in_ns = [p for p in pods if p.namespace == namespace]
        if ref.kind == "pod":
            return [p for p in in_ns if p.name == ref.name]
        if ref.kind == "service":
            selector = (obj or {}).get("spec", {}).get("selector") or {}
            if not selector:
                return []
            return [p for p in in_ns if all(p.labels.get(k) == v for k, v in selector.items())]
        owner = f"{OWNER_KIND[ref.kind]}/{namespace}/{ref.name}"
        return sorted((p for p in in_ns if p.owner == owner), key=lambda p: p.name)

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        refuse_unresolvable(target)
        obj = None
        if target.kind != "pod":
            found = [
                o
                for o in await self._client.objects(OBJECT_KIND[target.kind], namespace)
                if o["metadata"]["name"] == target.name
            ]
            if not found:
                raise TargetNotFound(
                    f"{target.kind} {target.name!r} not found in namespace {namespace!r} "
                    "(list targets with `podtap ls`)"
                )
            obj = found[0]
        pods = self._candidates(target, namespace, await self._pods(namespace), obj)
        if not pods and target.kind == "pod":
            raise TargetNotFound(f"pod {target.name!r} not found in namespace {namespace!r}")
        pod = resolving.first_ready(target, namespace, pods)
        return ResolvedTarget(target, namespace, pod, self._container(target, pod))

    @staticmethod
    def _container(target: TargetRef, pod: PodInfo) -> ContainerInfo:
        names = [c.name for c in pod.containers]
        wanted = target.container or names[0]
        for c in pod.containers:
            if c.name == wanted and c.pid is not None:
                return c
        if wanted not in names:
            raise TargetNotFound(
                f"pod {pod.name} has no container {wanted!r} (it has {', '.join(names)})"
            )
        raise TargetNotReady(f"container {wanted} of pod {pod.name} is not running")

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]:
        return read_environ(resolved.pid)

    async def list_resources(
        self, kind: str, *, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return await self._client.objects(kind, namespace)

    async def put_resource(self, obj: dict[str, Any]) -> str:
        try:
            manifest = check(obj, source="backend", index=0)
        except ManifestError as exc:
            raise ValueError(str(exc)) from None
        (result,) = await self._client.apply([manifest])
        return result.rsplit(" ", 1)[1]

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool:
        stored = [
            o for o in await self._client.objects(kind, namespace) if o["metadata"]["name"] == name
        ]
        if not stored:  # nothing to delete (and a bare built-in object would not validate)
            return False
        obj = {k: v for k, v in stored[0].items() if k != "metadata"} | {
            "metadata": {"name": name, "namespace": namespace}
        }
        (result,) = await self._client.delete([check(obj, source="backend", index=0)])
        return result.endswith("deleted")

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        """An agent process on this machine that joins the pod's network namespace; it
        dies with the operator (PDEATHSIG), and its rules with it."""
        log = open(self._paths.root / "agents.log", "ab")  # noqa: SIM115
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "podtap",
                "agent",
                "--pid",
                str(resolved.pid),
                "--listen",
                f"unix:{socket_path}",
                "--idle-exit",
                "10",
                env={**os.environ, "PODTAP_AGENT_TOKEN": token},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                preexec_fn=die_with_parent,
            )
        finally:
            log.close()
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
        except TimeoutError:
            line = b""
        if not line:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise AgentStartFailed(
                f"the agent for pod {resolved.pod.name} did not start; "
                f"see {self._paths.root / 'agents.log'}"
            )
        self._agents[str(proc.pid)] = proc
        return AgentEndpoint(url=f"unix:{socket_path}", token=token, handle=str(proc.pid))

    async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
        return direct_route(endpoint)

    async def stop_agent(self, endpoint: AgentEndpoint) -> None:
        proc = self._agents.pop(endpoint.handle, None)
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]:
        async for event in self._client.watch(kind):
            yield ResourceEvent(event["type"], event["object"])
