"""What the API's pod subresources (`log`, `exec`, `attach`, `portforward`) need of the node.

The API server (`kubeapi/streams.py`) checks the Pod object and the container's name; this
module answers from the running pods: where a container's log is, the nsenter command line
that runs a command in a running container (with its capabilities and user, and the
environment of its main process, as `kubectl exec` sees the container's), and the pod's
address for port forwarding.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from podtap.backends.local.cluster import Cluster
from podtap.backends.local.container import ContainerRunner
from podtap.backends.local.pod import PodRuntime

_FALLBACK_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


class NodePods:
    """The node's running pods as the API's `kubeapi.pod_access.PodAccess`."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def _pod(self, namespace: str, pod: str) -> PodRuntime:
        found = self._cluster.pods.get((namespace, pod))
        if found is None or found.phase == "Pending":
            raise LookupError(f"pod {pod} is not running on the node")
        return found

    def _container(self, namespace: str, pod: str, container: str) -> ContainerRunner:
        running = self._pod(namespace, pod)
        for runner in [*running.containers, *running.ephemeral]:
            if runner.status.name == container:
                return runner
        raise LookupError(f'container "{container}" in pod "{pod}" is waiting to start')

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self._cluster.paths.pod_dir(namespace, pod) / f"{container}.log"

    def running(self, namespace: str, pod: str, container: str) -> bool:
        try:
            return self._container(namespace, pod, container).running
        except LookupError:
            return False

    def exec_argv(
        self, namespace: str, pod: str, container: str
    ) -> tuple[list[str], dict[str, str]]:
        """nsenter arguments into the container and its main process's environment."""
        runner = self._container(namespace, pod, container)
        pid = runner.pid()
        if not runner.running or pid is None:
            raise LookupError(f'container "{container}" in pod "{pod}" is not running')
        env = dict(_FALLBACK_ENV)
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/environ").read_bytes()
            env = dict(
                e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e
            )
        return runner.enter_argv(), env

    def pod_ip(self, namespace: str, pod: str) -> str:
        return str(self._pod(namespace, pod).ip)
