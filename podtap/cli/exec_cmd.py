"""`podtap exec`: the command every developer types."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.status import Status

from podtap.cli.operator import NameOpt, OperatorOpt, address
from podtap.cli.output import err_console, fail

if TYPE_CHECKING:
    from podtap.core.protocol import Log


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments, blank lines and `export ` allowed; quotes stripped)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


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
    fs_mode: str | None = typer.Option(
        None,
        "--fs-mode",
        help="Remote files: read (default: the pod's own files), local (none), "
        "localwithoverrides (only feature.fs.read_only paths), write (as read).",
    ),
    operator: str | None = OperatorOpt,
    name: str | None = NameOpt,
) -> None:
    """Run COMMAND locally as if inside the target pod: its environment, its DNS, its
    outgoing TCP (peers see the pod's IP) and the incoming traffic of the ports COMMAND
    listens on (mirrored, or stolen with --steal, per request with --filter). Exits with
    COMMAND's exit code.

    Example: podtap exec -t deployment/shop -- curl -s http://catalog/items"""
    # imported here: every podtap command (the agent too) starts faster without them
    from podtap.client.execute import EnvRules, run_exec
    from podtap.client.incoming import PortSelection
    from podtap.client.operator_api import OperatorRefused, OperatorUnavailable
    from podtap.core.config import ConfigError, resolve_config
    from podtap.core.fs_rules import FsRules
    from podtap.core.outgoing_filter import network_rules
    from podtap.core.protocol import HttpFilter
    from podtap.core.protocol import IncomingMode as ProtocolMode

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
                "fs_mode": fs_mode,
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
    # Progress: one live line on a terminal (gone once the command starts), plain lines
    # otherwise, so logs show where a slow start stopped.
    live = err_console.is_terminal
    status = Status("starting", console=err_console)
    if live:
        status.start()

    def on_status(text: str) -> None:
        if text.startswith("session ended"):
            status.stop()
            err_console.print(f"[red]podtap:[/] {text}", highlight=False)
            return
        if live:
            status.update(text)
            if " starting " in text:
                status.stop()
        else:
            err_console.print(f"podtap: {text}", highlight=False, markup=False, soft_wrap=True)

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
    e = config.feature.env
    try:
        env_file = dotenv(Path(e.env_file)) if e.env_file else {}
    except OSError as exc:
        fail(f"env_file {e.env_file}: {exc.strerror}")
    rules = EnvRules(
        enabled=e.enabled,
        include=tuple(e.include) if e.include is not None else None,
        exclude=tuple(e.exclude),
        override=dict(e.override),
        unset=tuple(e.unset),
        env_file=env_file,
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
                env_rules=rules,
                network=network_rules(config.feature.network),
                fs=FsRules.from_config(config.feature.fs),
                ports=PortSelection(
                    ports=frozenset(incoming.ports) if incoming.ports is not None else None,
                    ignore_ports=frozenset(incoming.ignore_ports),
                    port_mapping=dict(incoming.port_mapping),
                    ignore_localhost=incoming.ignore_localhost,
                ),
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
