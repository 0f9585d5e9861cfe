"""`podtap agent`: the in-pod agent (internal; the operator starts it)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from podtap.cli.output import fail


def agent(
    pid: int = typer.Option(..., "--pid", help="Pid of the target container's process."),
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

    token = token_file.read_text().strip() if token_file else os.environ.get("PODTAP_AGENT_TOKEN")
    if not token:
        fail("the agent needs a token: --token-file FILE or PODTAP_AGENT_TOKEN")
    if not Path(f"/proc/{pid}").exists():
        fail(f"no process {pid}: give the pid of the target container")
    try:
        run(
            AgentSettings(target_pid=pid, listen=listen, token=token, idle_exit=idle_exit),
            netns=netns,
        )
    except PermissionError as exc:
        fail(f"{exc} (the agent needs CAP_SYS_ADMIN and CAP_NET_ADMIN: run it as root)")
