"""Agent pods through the Kubernetes API: created on the target's node, waited for until
Ready (their port answers), reached directly or through `pods/portforward`, deleted.

What a pod's status says about an agent that has not started (`agent_state`) is decided
apart from the waiting, from the pod's JSON alone: Ready, still coming, or failed with the
API's own words (an image that cannot be pulled, a node that refused it, a crash).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from kubernetes_asyncio.client import ApiClient

from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    AgentStartFailed,
    ResolvedTarget,
    direct_route,
)
from podtap.backends.kubernetes.agent_pod import (
    AGENT_SELECTOR,
    AgentPodSettings,
    agent_pod,
    agent_token,
    agents_of,
    ephemeral_agent,
    owner_reference,
)
from podtap.backends.kubernetes.portforward import PortForward
from podtap.backends.kubernetes.rest import ApiError, Rest

__all__ = ["AgentConnect", "AgentPods", "agent_state"]

log = logging.getLogger(__name__)
AgentConnect = Literal["direct", "port-forward"]
START_TIMEOUT = 90.0
#: waiting reasons after which the kubelet will not start the container by itself soon
FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)


def agent_state(pod: Mapping[str, Any], *, ephemeral: str | None = None) -> str | None:
    """``"ready"``, None while it is coming, or why it will not come (the API's words). With
    `ephemeral`, of that ephemeral container of the pod: ``"running"`` once it runs (an
    ephemeral container has no readiness)."""
    status = pod.get("status") or {}
    if ephemeral is not None:
        for c in status.get("ephemeralContainerStatuses") or ():
            if c.get("name") == ephemeral:
                running = "running" in (c.get("state") or {})
                return _failure(c) or ("running" if running else None)
        return None
    for c in status.get("containerStatuses") or ():
        if (failed := _failure(c)) is not None:
            return failed
    if status.get("phase") in ("Failed", "Succeeded"):
        return f"{status.get('reason') or status['phase']}: {status.get('message') or ''}".strip()
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
            return f"Unschedulable: {cond.get('message') or ''}".strip()
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return "ready"
    return None


def _failure(container_status: Mapping[str, Any]) -> str | None:
    """Why a container will not run soon, from its status; None while it may."""
    state = container_status.get("state") or {}
    waiting, ended = state.get("waiting") or {}, state.get("terminated")
    if waiting.get("reason") in FATAL_WAITING:
        return f"{waiting['reason']}: {waiting.get('message') or 'no message'}"
    if ended is not None:
        why = ended.get("message") or f"exit code {ended.get('exitCode')}"
        return f"the agent exited ({ended.get('reason') or 'Error'}): {why}"
    return None


class AgentPods:
    def __init__(
        self, api: ApiClient, rest: Rest, *, settings: AgentPodSettings, connect: AgentConnect
    ) -> None:
        self._api, self._rest = api, rest
        self.settings, self.connect = settings, connect
        self._forwards: dict[str, PortForward] = {}
        self._owner: dict[str, Any] | None = None
        #: set (the replicas' shared secret): tokens derive from it and agent pods are
        #: adopted across operators; None: a random token per agent, never adopted
        self.token_key: bytes | None = None
        #: agent pods are left running when stopped (a leader handing over to the next)
        self.handing_over = False
        self._mine: set[str] = set()  # handles of the agent pods this operator holds

    async def owner(self) -> dict[str, Any] | None:
        """The ownerReference of agent pods: to the ClusterRole the settings name (read once;
        the operator reads it at start), or None when they name none."""
        name = self.settings.owner
        if name and self._owner is None:
            try:
                role = await self._rest.get(
                    f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"
                )
            except ApiError as exc:
                raise AgentStartFailed(
                    f"cannot read ClusterRole {name}, the owner of agent pods "
                    f"(PODTAP_AGENT_OWNER): {exc}"
                ) from None
            self._owner = owner_reference(role)
        return self._owner

    async def start(self, resolved: ResolvedTarget, *, token: str) -> AgentEndpoint:
        pod = resolved.pod
        try:
            target = await self._rest.get(f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}")
        except ApiError as exc:
            why = f"cannot read pod {pod.name} to start its agent: {exc}"
            raise AgentStartFailed(why) from None
        container_id = resolved.container.container_id
        if not container_id:
            raise AgentStartFailed(
                f"container {resolved.container.name} of pod {pod.name} has no containerID yet"
            )
        if self.settings.ephemeral:
            return await self._start_ephemeral(resolved, target, container_id, token=token)
        if self.token_key is not None and (adopted := await self._adopt(target)) is not None:
            return adopted
        suffix = secrets.token_hex(4)
        if self.token_key is not None:
            token = agent_token(self.token_key, f"podtap-agent-{suffix}")
        manifest = agent_pod(
            target,
            container_id=container_id,
            settings=self.settings,
            token=token,
            suffix=suffix,
            owner=await self.owner(),
        )
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        self._mine.add(f"{ns}/{name}")
        try:
            await self._rest.call("POST", f"/api/v1/namespaces/{ns}/pods", body=manifest)
        except ApiError as exc:
            raise AgentStartFailed(
                f"cannot create agent pod {ns}/{name} for pod {pod.name}: {exc}"
            ) from None
        log.info("agent pod %s/%s created on node %s for %s", ns, name, pod.node, pod.name)
        try:
            ip = await self._wait_ready(ns, name)
        except BaseException:
            await self._delete(ns, name)
            raise
        endpoint = AgentEndpoint(
            url=f"http://{ip}:{self.settings.port}", token=token, handle=f"{ns}/{name}"
        )
        log.info("agent pod %s/%s ready at %s", ns, name, endpoint.url)
        return endpoint

    async def _adopt(self, target: Mapping[str, Any]) -> AgentEndpoint | None:
        """A Ready agent pod an earlier operator started for this very pod (by its uid), if
        any: reached with the token both derive, no new pod to wait for."""
        assert self.token_key is not None
        ns = self.settings.namespace or target["metadata"]["namespace"]
        query = [("labelSelector", agents_of(target))]
        listed = await self._rest.get(f"/api/v1/namespaces/{ns}/pods", query=query)
        for pod in listed["items"]:
            name, ip = pod["metadata"]["name"], (pod.get("status") or {}).get("podIP")
            handle = f"{ns}/{name}"
            if pod["metadata"].get("deletionTimestamp") or agent_state(pod) != "ready" or not ip:
                continue
            self._mine.add(handle)
            log.info("agent pod %s adopted (an earlier operator started it)", handle)
            token = agent_token(self.token_key, name)
            return AgentEndpoint(
                url=f"http://{ip}:{self.settings.port}", token=token, handle=handle
            )
        return None

    async def _start_ephemeral(
        self, resolved: ResolvedTarget, target: dict[str, Any], container_id: str, *, token: str
    ) -> AgentEndpoint:
        """The agent as an ephemeral container of the target pod, reached on its address."""
        ns, pod = resolved.pod.namespace, resolved.pod.name
        container = ephemeral_agent(
            target_container=resolved.container.name,
            container_id=container_id,
            settings=self.settings,
            token=token,
            suffix=secrets.token_hex(4),
        )
        name = container["name"]
        spec = target.setdefault("spec", {})
        spec["ephemeralContainers"] = [*(spec.get("ephemeralContainers") or []), container]
        path = f"/api/v1/namespaces/{ns}/pods/{pod}/ephemeralcontainers"
        try:
            await self._rest.call("PUT", path, body=target)
        except ApiError as exc:
            raise AgentStartFailed(f"cannot add agent {name} to pod {ns}/{pod}: {exc}") from None
        log.info("ephemeral agent %s added to pod %s/%s", name, ns, pod)
        ip = await self._wait_ready(ns, pod, container=name)
        await self._logged_ready(ns, pod, container=name)
        url = f"http://{ip}:{self.settings.port}"
        return AgentEndpoint(url=url, token=token, handle=f"{ns}/{pod}/{name}")

    async def _logged_ready(self, ns: str, pod: str, *, container: str) -> None:
        """Once the agent's log says it listens (an ephemeral container has no probe)."""
        path = f"/api/v1/namespaces/{ns}/pods/{pod}/log"
        query = [("container", container), ("follow", "true")]
        response = await self._rest.stream(path, query=query, read_timeout=START_TIMEOUT)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                async for line in response.content:
                    if b'"ready": true' in line:
                        return
        except TimeoutError:
            pass
        finally:
            response.release()
        raise AgentStartFailed(
            f"agent {ns}/{pod}/{container} did not say it was ready; "
            f"see kubectl -n {ns} logs {pod} -c {container}"
        )

    async def _wait_ready(self, ns: str, name: str, *, container: str | None = None) -> str:
        """The pod's IP once it is Ready (with `container`: once that ephemeral container
        runs); AgentStartFailed naming it and why, at the latest after START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        path = f"/api/v1/namespaces/{ns}/pods"
        last: dict[str, Any] = {}
        while (left := deadline - time.monotonic()) > 0:
            listed = await self._rest.get(path, query=[("fieldSelector", f"metadata.name={name}")])
            items = listed.get("items") or []
            if not items:
                raise AgentStartFailed(f"agent pod {ns}/{name} was deleted while starting")
            last = items[0]
            if (ip := await self._judge(ns, name, last, container)) is not None:
                return ip
            query = [
                ("watch", "true"),
                ("fieldSelector", f"metadata.name={name}"),
                ("resourceVersion", str(listed["metadata"].get("resourceVersion", ""))),
                ("timeoutSeconds", str(max(1, int(left)))),
            ]
            response = await self._rest.stream(path, query=query, read_timeout=left + 5)
            try:
                async with asyncio.timeout(left):
                    async for line in response.content:
                        event = json.loads(line)
                        if event.get("type") == "DELETED":
                            raise AgentStartFailed(
                                f"agent pod {ns}/{name} was deleted while starting"
                            )
                        last = event.get("object") or last
                        if (ip := await self._judge(ns, name, last, container)) is not None:
                            return ip
            except TimeoutError:
                break
            finally:
                response.release()
        phase = (last.get("status") or {}).get("phase", "Pending")
        raise AgentStartFailed(
            f"agent pod {ns}/{name} not ready after {START_TIMEOUT:.0f} s (phase {phase}); "
            f"see kubectl -n {ns} describe pod {name}"
        )

    async def _judge(
        self, ns: str, name: str, pod: Mapping[str, Any], container: str | None
    ) -> str | None:
        state = agent_state(pod, ephemeral=container)
        what = f"agent pod {ns}/{name}" if container is None else f"agent {ns}/{name}/{container}"
        if state is None:
            log.info("%s: %s", what, (pod.get("status") or {}).get("phase"))
            return None
        if state not in ("ready", "running"):
            said = await self._last_words(ns, name, container) if "exited" in state else ""
            raise AgentStartFailed(f"{what} did not start: {state}{said}")
        return str(pod["status"]["podIP"])

    async def _last_words(self, ns: str, name: str, container: str | None) -> str:
        """The last line of an exited agent's log (its one-line error), as ``: LINE``."""
        query = [("tailLines", "1")] + ([("container", container)] if container else [])
        try:
            text = await self._api.call_api(
                f"/api/v1/namespaces/{ns}/pods/{name}/log",
                "GET",
                query_params=query,
                response_types_map={200: "str"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except Exception:  # the log is a courtesy: the failure is reported without it
            return ""
        line = str(text or "").strip()
        return f" ({line})" if line else ""

    async def route(self, endpoint: AgentEndpoint) -> AgentRoute:
        if self.connect == "direct":
            return direct_route(endpoint)
        forward = self._forwards.get(endpoint.handle)
        if forward is None:
            ns, name = endpoint.handle.split("/")[:2]  # the agent's pod, or the target's
            forward = PortForward(self._api, namespace=ns, pod=name, port=self.settings.port)
            await forward.start()
            self._forwards[endpoint.handle] = forward
        return direct_route(
            AgentEndpoint(
                url=f"http://127.0.0.1:{forward.local_port}",
                token=endpoint.token,
                handle=endpoint.handle,
            )
        )

    async def stop(self, endpoint: AgentEndpoint) -> None:
        forward = self._forwards.pop(endpoint.handle, None)
        if forward is not None:
            await forward.close()
        ns, name, *ephemeral = endpoint.handle.split("/")
        if ephemeral:  # never removed from its pod: it exits once its operator has gone
            log.info("agent %s left: it exits in %.0f s", endpoint.handle, self.settings.linger)
            return
        if self.handing_over:  # the next leader adopts it, or deletes it once unused
            log.info("agent pod %s left running for the next leader", endpoint.handle)
            return
        self._mine.discard(endpoint.handle)
        await self._delete(ns, name)

    async def _delete(self, ns: str, name: str) -> None:
        try:
            await self._rest.call(
                "DELETE",
                f"/api/v1/namespaces/{ns}/pods/{name}",
                body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5},
            )
            log.info("agent pod %s/%s deleted", ns, name)
        except ApiError as exc:
            if exc.code != 404:
                log.warning("agent pod %s/%s not deleted: %s", ns, name, exc)

    async def delete_leftovers(self) -> int:
        """Delete the agent pods an earlier operator left (by their labels) and this one did
        not adopt; how many."""
        ns = self.settings.namespace
        path = f"/api/v1/namespaces/{ns}/pods" if ns else "/api/v1/pods"
        listed = await self._rest.get(path, query=[("labelSelector", AGENT_SELECTOR)])
        found = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in listed["items"]]
        found = [(pod_ns, name) for pod_ns, name in found if f"{pod_ns}/{name}" not in self._mine]
        for pod_ns, name in found:
            await self._delete(pod_ns, name)
        return len(found)

    async def close(self) -> None:
        for forward in list(self._forwards.values()):
            await forward.close()
        self._forwards.clear()
