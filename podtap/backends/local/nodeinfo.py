"""What the one Node reports of its machine, and its heartbeat Lease (kube-node-lease).

`kubectl describe node` prints Capacity and Allocatable and the requests of its pods as
percentages of them (an empty allocatable made those -9223372036854775808 %), and reads the
node's Lease for its Lease section. The kubelet reports the machine's CPUs, memory, root
filesystem and its pod limit (110 by default), all allocatable here: nothing is reserved.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

LEASE_NAMESPACE = "kube-node-lease"
MAX_PODS = 110


def _memory_kib(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def capacity() -> dict[str, str]:
    """The node's capacity as the kubelet reports it (quantities as strings)."""
    disk = os.statvfs("/")
    memory = _memory_kib(Path("/proc/meminfo").read_text())
    return {
        "cpu": str(os.cpu_count() or 1),
        "ephemeral-storage": f"{disk.f_blocks * disk.f_frsize // 1024}Ki",
        "memory": f"{memory}Ki",
        "pods": str(MAX_PODS),
    }


def lease_object(node: str, *, now: str) -> dict[str, object]:
    """The node's Lease, held by the node, renewed `now` (a MicroTime)."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": LEASE_NAMESPACE,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now.split(".")[0] + "Z",
        },
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now},
    }
