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
from podtap.core.protocol import Log


def exec_command(
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
    target: str | None = typer.Option(
        None, "-t", "--target", help="deployment/NAME, pod/NAME[/container/C], ..."
    ),
    namespace: str | None = typer.Option(None, "-n", "--namespace"),
    config_file: Path | None = typer.Option(
        None, "-f", "--config-file", help="mirrord/podtap config (JSON, YAML, TOML)."
    ),
    operator: str | None = OperatorOpt,
    name: str | None = NameOpt,
) -> None:
    """Run COMMAND locally as if inside the target pod: its environment, its DNS and its
    outgoing TCP (peers see the pod's IP). Exits with COMMAND's exit code.

    Example: podtap exec -t deployment/shop -- curl -s http://catalog/items"""
    try:
        config, warnings = resolve_config(
            cwd=Path.cwd(),
            file=config_file,
            env=os.environ,
            cli={"target": target, "namespace": namespace},
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

    try:
        code = asyncio.run(
            run_exec(
                address(operator, name),
                target=config.target.path,
                namespace=config.target.namespace or "default",
                argv=command,
                on_log=on_log,
                on_status=on_status,
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
