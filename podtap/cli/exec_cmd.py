"""`podtap exec`: the command every developer types."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from rich.status import Status

from podtap.cli.operator import NameOpt, OperatorOpt, address
from podtap.cli.output import err_console, fail
from podtap.client.execute import run_exec
from podtap.client.operator_api import OperatorRefused, OperatorUnavailable
from podtap.core.config import ConfigError, resolve_config
from podtap.core.protocol import HttpFilter, Log
from podtap.core.protocol import IncomingMode as ProtocolMode


def exec_command(
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
    target: str | None = typer.Option(
        None, "-t", "--target", help="deployment/NAME, pod/NAME, pod/NAME/container/C, ..."
    ),
    namespace: str | None = typer.Option(None, "-n", "--namespace"),
    config_file: Path | None = typer.Option(
        None, "-f", "--config-file", help="mirrord/podtap config (JSON, YAML, TOML)."
    ),
    steal: bool = typer.Option(
        False, "--steal", help="Steal incoming traffic (default: mirror a copy of it)."
    ),
    http_filter: str | None = typer.Option(
        None,
        "--filter",
        help="Steal only HTTP requests with a header line matching this regex, "
        "for example 'x-user: alice'.",
    ),
    operator: str | None = OperatorOpt,
    name: str | None = NameOpt,
) -> None:
    """Run COMMAND locally as if inside the target pod: its environment, its DNS, its
    outgoing TCP (peers see the pod's IP) and the incoming traffic of the ports COMMAND
    listens on (mirrored, or stolen with --steal, per request with --filter). Exits with
    COMMAND's exit code.

    Example: podtap exec -t deployment/shop -- curl -s http://catalog/items"""
    try:
        config, warnings = resolve_config(
            cwd=Path.cwd(),
            file=config_file,
            env=os.environ,
            cli={
                "target": target,
                "namespace": namespace,
                "steal": steal or None,
                "filter": http_filter,
            },
        )
    except ConfigError as exc:
        fail(str(exc))
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if not config.target.path or config.target.path == "targetless":
        fail(
            "give a target: -t deployment/NAME (or `target` in the config file); "
            "list them with `podtap ls`"
        )
    status = Status("starting", console=err_console)
    if err_console.is_terminal:
        status.start()

    def on_status(text: str) -> None:
        status.update(text)
        if " starting " in text or text.startswith("session ended"):
            status.stop()
            if text.startswith("session ended"):
                err_console.print(f"[red]podtap:[/] {text}", highlight=False)

    def on_log(entry: Log) -> None:
        err_console.print(
            f"[yellow]podtap {entry.level.value}:[/] {entry.message}", highlight=False
        )

    incoming = config.feature.network.incoming
    mode = None if incoming.mode.value == "off" else ProtocolMode(incoming.mode.value)
    f = incoming.http_filter
    flt = (
        HttpFilter(header=f.header_filter, path=f.path_filter, method=f.method_filter)
        if (f.header_filter or f.path_filter or f.method_filter)
        else None
    )
    try:
        code = asyncio.run(
            run_exec(
                address(operator, name),
                target=config.target.path,
                namespace=config.target.namespace or "default",
                argv=command,
                on_log=on_log,
                on_status=on_status,
                incoming_mode=mode,
                http_filter=flt,
                on_concurrent_steal=incoming.on_concurrent_steal.value,
            )
        )
    except (OperatorUnavailable, OperatorRefused) as exc:
        status.stop()
        fail(str(exc))
    except KeyboardInterrupt:
        code = 130
    finally:
        status.stop()
    raise typer.Exit(code)
