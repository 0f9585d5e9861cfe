"""`podtap agent`: the in-pod agent (internal; the operator starts it)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import typer

from podtap.cli.output import fail

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _token_sha256(token_file: Path | None) -> str:
    """The SHA-256 of the operator's token: hashed from --token-file or $PODTAP_AGENT_TOKEN,
    or given as $PODTAP_AGENT_TOKEN_SHA256 (an agent pod: its spec must not hold the token)."""
    token = token_file.read_text().strip() if token_file else os.environ.get("PODTAP_AGENT_TOKEN")
    if token:
        return hashlib.sha256(token.encode()).hexdigest()
    digest = os.environ.get("PODTAP_AGENT_TOKEN_SHA256", "").strip().lower()
    if digest and not _SHA256.fullmatch(digest):
        fail("PODTAP_AGENT_TOKEN_SHA256 must be 64 hex digits (the SHA-256 of the token)")
    if not digest:
        fail(
            "the agent needs a token: --token-file FILE, PODTAP_AGENT_TOKEN or "
            "PODTAP_AGENT_TOKEN_SHA256"
        )
    return digest


def _target_pid(pid: int | None, container_id: str | None) -> int:
    if (pid is None) == (container_id is None):
        fail("give the target as one of --pid PID or --container-id ID")
    if container_id is not None:
        from podtap.core.kube.containers import ContainerIdError
        from podtap.net.procfs import ContainerNotFound, container_pid

        try:
            return container_pid(container_id)
        except (ContainerIdError, ContainerNotFound) as exc:
            fail(str(exc))
    assert pid is not None
    if not Path(f"/proc/{pid}").exists():
        fail(f"no process {pid}: give the pid of the target container")
    return pid


def agent(
    pid: int | None = typer.Option(None, "--pid", help="Pid of the target container's process."),
    container_id: str | None = typer.Option(
        None,
        "--container-id",
        help="The target container's containerStatuses[].containerID (with hostPID).",
    ),
    listen: str = typer.Option(..., "--listen", help="unix:/PATH or HOST:PORT for the operator."),
    netns: str | None = typer.Option(
        None, "--netns", help="Network namespace path (default /proc/PID/ns/net)."
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="File holding the operator's secret token (else $PODTAP_AGENT_TOKEN).",
    ),
    idle_exit: float = typer.Option(10.0, help="Exit after this many seconds without an operator."),
) -> None:
    """Run the agent inside a pod's network namespace (internal: the operator starts it)."""
    from podtap.agent.server import AgentSettings, run  # the agent's imports, for it alone

    digest = _token_sha256(token_file)
    target = _target_pid(pid, container_id)
    settings = AgentSettings(
        target_pid=target, listen=listen, token_sha256=digest, idle_exit=idle_exit
    )
    try:
        run(settings, netns=netns)
    except PermissionError as exc:
        fail(f"{exc} (the agent needs CAP_SYS_ADMIN and CAP_NET_ADMIN: run it as root)")
    except OSError as exc:
        fail(f"the agent could not start: {exc}")
