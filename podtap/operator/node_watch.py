"""The local cluster's operator ends with the cluster's node.

`podtap local up` starts the operator as a host process next to the node and names the node
in $PODTAP_NODE_PID. When that process ends — even by SIGKILL, seen through a pidfd — its
pods are gone: every session ends with TargetGone, saying so (a client sees why, instead of
a session that still looks connected to a pod that no longer exists), and the operator
stops, taking its agents with it (PDEATHSIG). The next `podtap local up` starts both again."""

from __future__ import annotations

import asyncio
import logging
import os

from podtap.core.protocol import CloseReason
from podtap.net.tasks import spawn
from podtap.operator.service import OperatorService

NODE_PID = "PODTAP_NODE_PID"
log = logging.getLogger(__name__)


def watch_node(service: OperatorService, stop: asyncio.Event) -> None:
    """If $PODTAP_NODE_PID names the node, end every session and set `stop` when it ends."""
    if not (given := os.environ.get(NODE_PID, "")).isdigit():
        return
    pid = int(given)
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:  # gone already
        spawn(_node_gone(service, stop, pid), name="node gone")
        return

    def ended() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        spawn(_node_gone(service, stop, pid), name="node gone")

    loop.add_reader(pidfd, ended)


async def _node_gone(service: OperatorService, stop: asyncio.Event, pid: int) -> None:
    log.warning("the node (pid %d) ended: ending every session and stopping", pid)
    message = (
        f"the local cluster's node (pid {pid}) stopped and its pods with it; "
        "start it again with `podtap local up`"
    )
    try:
        for record in list(service.records.values()):
            await service.end(record, CloseReason.TARGET_GONE, message)
    finally:
        stop.set()
