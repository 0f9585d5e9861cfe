"""Commands that work through the operator for a developer: `ls`, `port-forward`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import typer

from podtap.cli.operator_address import OperatorChoice, call, choosing_operator
from podtap.cli.output import Format, columns, err_console, fail

if TYPE_CHECKING:
    from podtap.core.protocol import Log


@choosing_operator()
def ls(
    namespace: str = typer.Option("default", "-n", "--namespace"),
    output: Format = typer.Option(Format.table, "-o", "--output", help="table or json"),
    *,
    choice: OperatorChoice,
) -> None:
    """List what can be targeted: pods, deployments, statefulsets, services."""
    items = call(choice.address(), "GET", f"/namespaces/{namespace}/targets")["items"]
    if output is Format.json:
        typer.echo(json.dumps(items, indent=2))
        return
    typer.echo(
        columns(
            ["TARGET", "NAMESPACE", "READY"],
            [[t["target"], t["namespace"], "yes" if t["ready"] else "no"] for t in items],
        )
    )


@choosing_operator()
def port_forward(
    target: str = typer.Option(..., "-t", "--target", help="deployment/NAME, pod/NAME, ..."),
    forwards: list[str] = typer.Option(
        ...,
        "-L",
        help="[LOCAL:]HOST:REMOTE, repeatable: "
        "127.0.0.1:LOCAL reaches HOST:REMOTE from the target "
        "pod (cluster DNS names work).",
    ),
    namespace: str = typer.Option("default", "-n", "--namespace"),
    *,
    choice: OperatorChoice,
) -> None:
    """Reach cluster addresses from this machine, through the target pod."""
    from podtap.client.host.channel import ClientChannel
    from podtap.client.host.operator_api import OperatorApi, OperatorRefused, OperatorUnavailable
    from podtap.client.host.portforward import Forward, serve_forward
    from podtap.net.tasks import TaskSet

    try:
        parsed = [Forward.parse(f) for f in forwards]
    except ValueError as exc:
        fail(str(exc))

    def show(entry: Log) -> None:
        err_console.print(f"[yellow]{entry.level.value}:[/] {entry.message}", highlight=False)

    where = choice.address()

    async def go() -> str:
        api = OperatorApi(where)
        async with api.connect(target, namespace=namespace) as session:
            channel = ClientChannel(session, on_log=show)
            tasks = TaskSet()
            for forward in parsed:

                def ready(port: int, f: Forward = forward) -> None:
                    typer.echo(
                        f"Forwarding from 127.0.0.1:{port} -> {f.host}:{f.remote_port} "
                        f"(via {target}, session {session.label})"
                    )

                tasks.spawn(
                    serve_forward(
                        channel,
                        forward,
                        on_ready=ready,
                        on_error=lambda m: err_console.print(f"[red]{m}[/]"),
                    ),
                    name=f"forward {forward}",
                )
            try:
                ended = await channel.run()
            finally:
                await tasks.close()
            return f"session ended: {ended.reason.value}: {ended.message}"

    try:
        typer.echo(asyncio.run(go()))
    except KeyboardInterrupt:
        pass
    except (OperatorUnavailable, OperatorRefused, OSError) as exc:
        fail(str(exc))
