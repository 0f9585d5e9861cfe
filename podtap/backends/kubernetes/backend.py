"""ClusterBackend over the Kubernetes API (kubernetes_asyncio): the operator's one path.

Built from a kubeconfig (`from_kubeconfig`) or the pod's service account (`in_cluster`), it
owns one aiohttp-based ApiClient, closed by `aclose` (or `async with`). Targets of every kind
the config accepts resolve to the first ready pod and its chosen container
(`core.kube.target_selection`); resources of any kind, built-in or custom, are listed,
written, deleted and watched by discovery. What the API cannot give is said plainly: a
container's pid (an agent pod on its node finds it from the container id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from kubernetes_asyncio.client import ApiClient

from podtap.backends import resolving
from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    ContainerInfo,
    PodInfo,
    ResolvedTarget,
    ResourceEvent,
    TargetKind,
    TargetNotFound,
    TargetNotReady,
    TargetRef,
    TargetSummary,
)
from podtap.backends.kubernetes import config, env
from podtap.backends.kubernetes.agent_pod import AgentPodSettings
from podtap.backends.kubernetes.agents import AgentConnect, AgentPods
from podtap.backends.kubernetes.discovery import Discovery
from podtap.backends.kubernetes.pods import pod_info
from podtap.backends.kubernetes.resources import Resources
from podtap.backends.kubernetes.rest import Rest
from podtap.backends.kubernetes.targets import LISTED, WORKLOADS, Targets
from podtap.backends.kubernetes.watch import watch
from podtap.core.kube.target_selection import ContainerChoiceError, choose_container

__all__ = ["BACKEND_NAME", "RESOLVABLE_KINDS", "KubernetesBackend"]

BACKEND_NAME = "the Kubernetes cluster"
RESOLVABLE_KINDS: frozenset[TargetKind] = frozenset({*LISTED, "label"})


class KubernetesBackend:
    resolvable_kinds = RESOLVABLE_KINDS

    def __init__(
        self,
        api: ApiClient,
        *,
        agents: AgentPodSettings | None = None,
        agent_connect: AgentConnect | None = None,
    ) -> None:
        """A backend on `api`, which it owns from now on (closed by `aclose`); its agent pods
        are made by `agents` (else from the environment) and reached by `agent_connect` (else
        their settings' `connect`, else through port-forward: the operator is outside)."""
        self._api = api
        self._rest = Rest(api)
        self._agent_settings = agents
        self._agent_connect = agent_connect
        self._agent_pods: AgentPods | None = None
        self._discovery = Discovery(self._rest)
        self._resources = Resources(self._rest, self._discovery)
        self._targets = Targets(self._rest, self._discovery)

    @classmethod
    async def from_kubeconfig(
        cls, *, path: str | Path | None = None, context: str | None = None
    ) -> KubernetesBackend:
        """From `path` (else $KUBECONFIG, else ~/.kube/config) and `context` (else its
        current one); raises config.ConfigError naming what is missing."""
        return cls(await config.kubeconfig_client(path=path, context=context))

    @classmethod
    def in_cluster(cls, api: ApiClient | None = None) -> KubernetesBackend:
        """From the service account of the pod this runs in (`api`, else a new client)."""
        settings = AgentPodSettings.from_env()  # a bad PODTAP_AGENT_* fails the start
        connect = cast(AgentConnect, settings.connect or "direct")  # pod IPs route in-cluster
        return cls(api or config.in_cluster_client(), agents=settings, agent_connect=connect)

    async def aclose(self) -> None:
        if self._agent_pods is not None:
            await self._agent_pods.close()
        await self._api.close()

    async def __aenter__(self) -> KubernetesBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- targets -----------------------------------------------------------------------
    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]:
        return await self._targets.summaries(namespace)

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        resolving.refuse_unresolvable(target, resolvable=RESOLVABLE_KINDS, backend=BACKEND_NAME)
        pods = await self._targets.pods(target, namespace)
        if not pods and target.kind == "label":
            raise TargetNotFound(
                f"no pod in namespace {namespace!r} has the labels {target.name} "
                "(list targets with `podtap ls`)"
            )
        look = f"kubectl get pods -n {namespace}"
        chosen = resolving.first_ready(
            target, namespace, (pod_info(p, owner=None) for p in pods), look=look
        )
        raw = next(p for p in pods if p["metadata"]["name"] == chosen.name)
        info = pod_info(raw, owner=await self._targets.owner(raw))
        return ResolvedTarget(target, namespace, info, self._container(target, raw, info))

    async def target_labels(self, resolved: ResolvedTarget) -> Mapping[str, str]:
        """The labels of the object a session targets (a policy's `selector` matches them):
        a pod's own; a workload's or a service's from the object; a label selector's are
        the pod's (it names no object)."""
        ref = resolved.target
        if ref.kind not in WORKLOADS:
            return dict(resolved.pod.labels)
        obj = await self._targets.workload(ref, resolved.namespace)
        return dict(obj.get("metadata", {}).get("labels") or {})

    @staticmethod
    def _container(target: TargetRef, raw: dict[str, Any], info: PodInfo) -> ContainerInfo:
        try:
            name = choose_container(raw, target.container)
        except ContainerChoiceError as exc:
            raise TargetNotFound(str(exc)) from None
        (found,) = [c for c in info.containers if c.name == name]
        if not found.running:
            raise TargetNotReady(f"container {name} of pod {info.name} is not running")
        return found

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]:
        """The environment the kubelet gave the container, rebuilt from its pod spec and the
        objects it names (read through the API). The agent pod will replace this by reading
        the process's own /proc/PID/environ, which also holds what the image set."""
        return await env.read(self._rest, resolved)

    # -- resources ---------------------------------------------------------------------
    async def list_resources(
        self, kind: str, *, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return await self._resources.of_kind(kind, namespace=namespace)

    async def get_resource(self, kind: str, *, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._resources.get(kind, namespace=namespace, name=name)

    async def put_resource(self, obj: dict[str, Any]) -> str:
        return await self._resources.put(obj)

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool:
        return await self._resources.delete(kind, namespace=namespace, name=name)

    async def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]:
        rt = await self._discovery.find(kind)
        async for event in watch(self._rest, self._resources, rt):
            yield event

    # -- agents ------------------------------------------------------------------------
    @property
    def agent_pods(self) -> AgentPods:
        """The agent pods this backend makes (settings read from the environment on first
        use: the chart's PODTAP_AGENT_*)."""
        if self._agent_pods is None:
            settings = self._agent_settings or AgentPodSettings.from_env()
            connect = self._agent_connect or settings.connect or "port-forward"
            self._agent_pods = AgentPods(
                self._api, self._rest, settings=settings, connect=cast(AgentConnect, connect)
            )
        return self._agent_pods

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        """An agent pod on the target's node (`socket_path` is not used: it listens on its
        pod's address)."""
        return await self.agent_pods.start(resolved, token=token)

    async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
        return await self.agent_pods.route(endpoint)

    async def stop_agent(self, endpoint: AgentEndpoint) -> None:
        await self.agent_pods.stop(endpoint)

    async def delete_leftover_agents(self) -> int:
        """At operator start: delete the agent pods a previous operator left."""
        return await self.agent_pods.delete_leftovers()
