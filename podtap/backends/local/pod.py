"""A running pod of the local cluster: sandbox, containers, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podtap.backends.local.capabilities import Identity, capability_set, node_bounding
from podtap.backends.local.container import ContainerRunner
from podtap.backends.local.models import Container, PodSpec, Probe
from podtap.backends.local.network import CLUSTER_DOMAIN, GATEWAY
from podtap.backends.local.podconfig import (
    NODE_NAME,
    DownwardSource,
    Lookup,
    PodConfigError,
    container_env,
    downward_fields,
    volume_mounts,
)
from podtap.backends.local.podstatus import ContainerView
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
    return Identity(caps=wanted & node_bounding(), uid=uid, gid=gid, no_new_privs=no_new_privs)


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

    async def start(self, *, lookup: Lookup, service_env: dict[str, str]) -> None:
        """Create the sandbox and start the containers; raise with a reason on failure."""
        p = self.plan
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
            )
        await self.sandbox.start(namespace=p.namespace, fqdn=self.fqdn(), mounts=mounts)
        self.phase = "Running"
        self._config = (lookup, service_env, fields)
        for c, env in zip(p.spec.containers, envs, strict=True):
            self.containers.append(self._run(c, env, restart_policy=p.spec.restart_policy))
            self._specs.append(c)
        self._tasks.spawn(self._watch_readiness(), name=f"pod {p.namespace}/{p.name} readiness")
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
        self._on_change()

    async def _probe(self, container: Container, probe: Probe) -> bool:
        if probe.tcp_socket is not None:
            port = probe.tcp_socket.port
            if isinstance(port, str):
                named = {p.name: p.container_port for p in container.ports}
                if port not in named:
                    return False
                port = named[port]
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(str(self.ip), port), 1)
            except (OSError, TimeoutError):
                return False
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        assert probe.exec is not None
        runner = next(r for r in self.containers if r.status.name == container.name)
        proc = await asyncio.create_subprocess_exec(
            *runner.enter_argv(),
            *probe.exec.command,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(proc.wait(), 5) == 0
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return False

    async def _watch_readiness(self) -> None:
        while True:
            results = []
            for runner, spec in zip(self.containers, self._specs, strict=True):
                probe = spec.readiness_probe
                if not runner.running:
                    results.append(False)
                elif probe is None:
                    results.append(True)
                elif (
                    runner.status.started_at
                    and time.time() - runner.status.started_at < probe.initial_delay_seconds
                ):
                    results.append(False)
                else:
                    results.append(await self._probe(spec, probe))
            ready = all(results) and not self.deleting
            if ready != self.ready:
                self.ready = ready
                self._on_change()
            periods = [s.readiness_probe.period_seconds for s in self._specs if s.readiness_probe]
            await asyncio.sleep(min(periods, default=0.5))

    async def stop(self) -> None:
        self.deleting = True
        self.ready = False
        await asyncio.gather(*(c.stop() for c in [*self.containers, *self.ephemeral]))
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
