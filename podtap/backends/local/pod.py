"""A running pod of the local cluster: sandbox, containers, readiness."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podtap.backends.local.capabilities import Identity, capability_set, node_bounding
from podtap.backends.local.container import STOP_GRACE, ContainerRunner
from podtap.backends.local.kubeapi import events
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.models import Container, PodSpec
from podtap.backends.local.network import CLUSTER_DOMAIN, GATEWAY
from podtap.backends.local.podconfig import (
    NODE_NAME,
    BoundPod,
    DownwardSource,
    Lookup,
    PodConfigError,
    container_env,
    downward_fields,
    volume_mounts,
)
from podtap.backends.local.podstatus import ContainerView, Terminated, exit_code
from podtap.backends.local.prober import ContainerProber
from podtap.backends.local.sandbox import Mount, Sandbox
from podtap.backends.local.security_models import run_as
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PodPlan:
    """What to run: decided by the controller, fixed for the pod's life."""

    namespace: str
    name: str
    labels: dict[str, str]
    owner: str | None  # "Deployment/shop", "StatefulSet/db", None for a bare Pod
    spec: PodSpec
    template_hash: str
    hostname: str
    subdomain: str | None
    uid: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


def identity(spec: PodSpec, container: Container) -> Identity:
    """Capabilities and user of a container, from its and the pod's securityContext."""
    own = container.security_context
    caps = own.capabilities if own is not None else None
    wanted = capability_set(
        add=caps.add if caps else [],
        drop=caps.drop if caps else [],
        privileged=own.privileged if own is not None else False,
    )
    uid, gid = run_as(spec.security_context, own)
    no_new_privs = own is not None and own.allow_privilege_escalation is False
    return Identity(
        caps=wanted & node_bounding(),
        uid=uid,
        gid=gid,
        no_new_privs=no_new_privs,
        read_only_root=own is not None and own.read_only_root_filesystem,
    )


def view(spec: Container, runner: ContainerRunner | None) -> ContainerView:
    """One container as its status is made from (not started yet: Waiting)."""
    st = runner.status if runner is not None else None
    return ContainerView(
        name=spec.name,
        image=spec.image or "",
        state=st.state if st is not None else "Waiting",
        reason=st.reason if st is not None else "ContainerCreating",
        restarts=st.restarts if st is not None else 0,
        exit_code=st.exit_code if st is not None else None,
        started_at=st.started_at if st is not None else None,
        pid=runner.pid() if runner is not None else None,
    )


class PodRuntime:
    def __init__(
        self,
        plan: PodPlan,
        *,
        ip: ipaddress.IPv4Address,
        index: int,
        directory: Path,
        on_change: Callable[[], None],
    ) -> None:
        self.plan = plan
        self.ip = ip
        self.directory = directory
        self.created = time.time()
        self.phase = "Pending"
        self.message = ""
        self.ready = False
        self.deleting = False
        self.sandbox = Sandbox(
            directory=directory,
            hostname=plan.hostname,
            ip=ip,
            index=index,
            host_pid=plan.spec.host_pid,
        )
        self.containers: list[ContainerRunner] = []
        self._specs: list[Container] = []
        self.ephemeral: list[ContainerRunner] = []
        self._ephemeral_failed: set[str] = set()
        self._config: tuple[Lookup, dict[str, str], dict[str, str]] | None = None
        self._probers: list[ContainerProber] = []
        self._last: dict[str, Terminated] = {}
        self._api: ApiContext | None = None
        self._tasks = TaskSet()
        self._on_change = on_change

    @property
    def key(self) -> tuple[str, str]:
        return (self.plan.namespace, self.plan.name)

    def fqdn(self) -> str | None:
        p = self.plan
        if not p.subdomain:
            return None
        return f"{p.hostname}.{p.subdomain}.{p.namespace}.svc.{CLUSTER_DOMAIN}"

    async def start(
        self, *, lookup: Lookup, service_env: dict[str, str], api: ApiContext | None = None
    ) -> None:
        """Create the sandbox and start the containers; raise with a reason on failure
        (`api`: the node's API, for bound tokens and kubelet's events)."""
        p = self.plan
        self._api = api
        if not p.spec.enable_service_links:  # only the API server's address, as kubelet
            service_env = {k: v for k, v in service_env.items() if k.startswith("KUBERNETES_")}
        fields = downward_fields(
            DownwardSource(
                name=p.name,
                namespace=p.namespace,
                uid=p.uid,
                labels=p.labels,
                annotations=p.annotations,
                node_name=NODE_NAME,
                service_account=p.spec.service_account_name or "default",
                pod_ip=str(self.ip),
                host_ip=str(GATEWAY),
            )
        )
        envs, mounts = [], list[Mount]()
        for c in p.spec.containers:
            envs.append(
                container_env(
                    c, lookup=lookup, namespace=p.namespace, fields=fields, service_env=service_env
                )
            )
            mounts += volume_mounts(
                p.spec,
                c,
                lookup=lookup,
                namespace=p.namespace,
                directory=self.directory,
                fields=fields,
                bound=None if api is None else BoundPod(api=api, name=p.name, uid=p.uid),
            )
        await self.sandbox.start(namespace=p.namespace, fqdn=self.fqdn(), mounts=mounts)
        self.phase = "Running"
        self._config = (lookup, service_env, fields)
        for c, env in zip(p.spec.containers, envs, strict=True):
            runner = self._run(c, env, restart_policy=p.spec.restart_policy)
            prober = ContainerProber(
                c, runner, ip=str(self.ip), on_change=self._refresh_ready, report=self._report
            )
            prober.start(self._tasks, name=f"pod {p.namespace}/{p.name} {c.name}")
            self.containers.append(runner)
            self._specs.append(c)
            self._probers.append(prober)
        self.sync_ephemeral(p.spec)

    def _run(self, c: Container, env: dict[str, str], *, restart_policy: str) -> ContainerRunner:
        p = self.plan
        assert c.command is not None
        runner = ContainerRunner(
            name=c.name,
            argv=[*c.command, *c.args],
            env=env,
            workdir=c.working_dir,
            sandbox=self.sandbox,
            identity=identity(p.spec, c),
            log_path=self.directory / f"{c.name}.log",
            restart_policy=restart_policy,
            on_change=self._containers_changed,
        )
        self._tasks.spawn(runner.run(), name=f"pod {p.namespace}/{p.name} {c.name}")
        return runner

    def sync_ephemeral(self, spec: PodSpec) -> None:
        """Start the ephemeral containers added to the pod's spec since (`kubectl debug`):
        in the running sandbox, never restarted, as kubelet runs them."""
        self.plan = dataclasses.replace(self.plan, spec=spec)
        if self._config is None or self.deleting:
            return
        lookup, service_env, fields = self._config
        started = {r.status.name for r in self.ephemeral} | self._ephemeral_failed
        for c in spec.ephemeral_containers:
            if c.name in started:
                continue
            try:
                env = container_env(
                    c, lookup=lookup, namespace=self.plan.namespace, fields=fields,
                    service_env=service_env,
                )  # fmt: skip
            except PodConfigError as exc:
                log.warning("pod %s/%s: ephemeral container %s: %s", *self.key, c.name, exc)
                self._ephemeral_failed.add(c.name)  # said once, not at every pass
                continue
            self.ephemeral.append(self._run(c, env, restart_policy="Never"))

    def ephemeral_views(self) -> tuple[ContainerView, ...]:
        """The ephemeral containers of the spec as their status is made from."""
        runners = {r.status.name: r for r in self.ephemeral}
        return tuple(view(c, runners.get(c.name)) for c in self.plan.spec.ephemeral_containers)

    def _containers_changed(self) -> None:
        now = time.time()
        for runner in self.containers:
            st = runner.status
            last = self._last.get(st.name)
            if (
                st.state == "Terminated"
                and st.started_at
                and (last is None or last.started_at != st.started_at)
            ):
                code = exit_code(st.exit_code or 0)
                reason = "Completed" if code == 0 else "Error"
                self._last[st.name] = Terminated(code, reason, st.started_at, now)
        states = [c.status for c in self.containers]
        if (
            states
            and all(s.state == "Terminated" for s in states)
            and all(
                self.plan.spec.restart_policy == "Never"
                or (self.plan.spec.restart_policy == "OnFailure" and s.exit_code == 0)
                for s in states
            )
        ):
            self.phase = "Succeeded" if all(s.exit_code == 0 for s in states) else "Failed"
        self._refresh_ready()

    def _refresh_ready(self) -> None:
        """The pod is ready when every container runs and its probes say it is ready."""
        ready = (
            bool(self._probers)
            and all(p.runner.running and p.ready for p in self._probers)
            and not self.deleting
        )
        self.ready = ready
        self._on_change()

    def _report(self, reason: str, message: str, warning: bool) -> None:
        """Post one of kubelet's events about this pod (when the node has an API)."""
        if self._api is None:
            return
        p = self.plan
        involved = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
        }
        events.post(self._api, events.Note(involved, reason, message, "kubelet", warning=warning))

    def container_views(self) -> tuple[ContainerView, ...]:
        """The containers of the spec as their status is made from, with their probes."""
        out = []
        for i, spec in enumerate(self.plan.spec.containers):
            prober = self._probers[i] if i < len(self._probers) else None
            base = view(spec, prober.runner if prober is not None else None)
            if prober is not None:
                base = dataclasses.replace(
                    base,
                    ready=prober.ready,
                    started=prober.started,
                    last=self._last.get(spec.name),
                )
            out.append(base)
        return tuple(out)

    async def stop(self, *, grace: float = STOP_GRACE) -> None:
        """SIGTERM every container, SIGKILL what is left after `grace` seconds."""
        self.deleting = True
        self.ready = False
        self._on_change()
        runners = [*self.containers, *self.ephemeral]
        await asyncio.gather(*(c.stop(grace=grace) for c in runners))
        await self._tasks.close()
        await self.sandbox.stop()

    def snapshot(self) -> dict[str, Any]:
        p = self.plan
        return {
            "namespace": p.namespace,
            "name": p.name,
            "labels": p.labels,
            "owner": p.owner,
            "ip": str(self.ip),
            "phase": self.phase,
            "ready": self.ready,
            "message": self.message,
            "created": self.created,
            "sandbox_pid": self.sandbox.pid_or_none(),
            "hostname": p.hostname,
            "restarts": sum(c.status.restarts for c in self.containers),
            "containers": [
                {
                    "name": c.status.name,
                    "state": c.status.state,
                    "reason": c.status.reason,
                    "restarts": c.status.restarts,
                    "exit_code": c.status.exit_code,
                    "pid": c.pid(),
                    "ports": [pt.container_port for pt in spec.ports],
                }
                for c, spec in zip(self.containers, self._specs, strict=True)
            ],
        }
