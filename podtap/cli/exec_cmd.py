"""`podtap exec`: the command every developer types."""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.status import Status

from podtap.cli.operator_address import OperatorChoice, choosing_operator
from podtap.cli.output import err_console, fail

if TYPE_CHECKING:
    from podtap.client.host.operator_api import OperatorAddress
    from podtap.core.config import ResolvedConfig
    from podtap.core.exec_spec import ExecSpec
    from podtap.core.protocol import Log


class ConcurrentSteal(StrEnum):
    """--on-concurrent-steal (the values of core.arbitration.OnConcurrentSteal, without
    importing it: the CLI starts faster)."""

    abort = "abort"
    continue_ = "continue"
    override = "override"


@choosing_operator(context=False)  # --context is read with the config (kube_context)
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
        help="Steal only HTTP requests with a header line matching this regex (RE2), "
        "for example 'x-user: alice'; replaces any http_filter of the config file.",
    ),
    fs_mode: str | None = typer.Option(
        None,
        "--fs-mode",
        help="Remote files: read (default: the pod's own files), local (none), "
        "localwithoverrides (only feature.fs.read_only paths), write (as read).",
    ),
    no_outgoing: bool = typer.Option(
        False,
        "--no-outgoing",
        help="Make every outgoing TCP connection and UDP flow from this machine instead of "
        "the pod (feature.network.outgoing: false); name lookups still follow the pod.",
    ),
    no_remote_dns: bool = typer.Option(
        False,
        "--no-remote-dns",
        help="Resolve every name on this machine (its resolver, search list and /etc/hosts) "
        "instead of the pod (feature.network.dns: false).",
    ),
    on_concurrent_steal: ConcurrentSteal | None = typer.Option(
        None,
        "--on-concurrent-steal",
        help="When another session already steals a port you steal: abort (default: stop "
        "before COMMAND starts, naming the holder), continue (run without that port), "
        "override (take the port if allowed; the holder is told). "
        "Config: feature.network.incoming.on_concurrent_steal.",
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        help="Session key: a name of your choosing for this run, e.g. a ticket or a branch "
        "(config: key; PODTAP_KEY / MIRRORD_KEY). Shown by `podtap operator status`, which "
        "filters on it with --key; fills {{ key }} in config templates.",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="The operator profile to run under: NAME (cluster) or NS/NAME (config: "
        "profile; PODTAP_PROFILE). The operator sends it back at connect and the run uses "
        "your config with the profile applied; one line says what it changed.",
    ),
    context: str | None = typer.Option(
        None,
        "--context",
        help="The kubeconfig context whose API server leads to the operator (config: "
        "kube_context; PODTAP_KUBE_CONTEXT / MIRRORD_KUBE_CONTEXT).",
    ),
    *,
    choice: OperatorChoice,
) -> None:
    """Run COMMAND locally as if inside the target pod: its environment, its DNS, its
    outgoing TCP (peers see the pod's IP) and the incoming traffic of the ports COMMAND
    listens on (mirrored, or stolen with --steal, per request with --filter). Exits with
    COMMAND's exit code.

    Settings come from the flags, then PODTAP_*/MIRRORD_* variables, then the config file
    (-f, or podtap.json / .mirrord/mirrord.json here); see `podtap verify-config FILE`.

    Example: podtap exec -t deployment/shop -- curl -s http://catalog/items"""
    # imported here: every podtap command (the agent too) starts faster without them
    from podtap.core.config import ConfigError, resolve_report
    from podtap.core.exec_spec import ExecSpec
    from podtap.core.targets import POD_KINDS

    try:
        report = resolve_report(
            # targetless is refused here, before connecting; the operator resolves the rest
            resolvable_kinds=POD_KINDS,
            backend="podtap",
            cwd=Path.cwd(),
            file=config_file,
            env=os.environ,
            cli={
                "target": target,
                "namespace": namespace,
                "steal": steal or None,
                "filter": http_filter,
                "fs_mode": fs_mode,
                "no_outgoing": no_outgoing or None,
                "no_remote_dns": no_remote_dns or None,
                "kube_context": context,
                "profile": profile,
                "key": key,
                "on_concurrent_steal": (
                    on_concurrent_steal.value if on_concurrent_steal is not None else None
                ),
            },
        )
        config, warnings = report.config, report.warnings
        spec = ExecSpec.from_config(config, argv=command)
    except ConfigError as exc:
        fail(escape(str(exc)))
    for warning in [*warnings, *_new_notices(spec, warnings)]:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if spec.session.target is None or spec.session.target == "targetless":
        fail(
            "give a target: -t deployment/NAME (or `target` in the config file); "
            "list them with `podtap ls`"
        )
    raise typer.Exit(_run(spec, choice.address(context=config.kube_context), config=config))


def _new_notices(spec: ExecSpec, warnings: list[str]) -> list[str]:
    """The spec's notices the config layer has not already given (about the same key)."""
    return [str(n) for n in spec.notices if not any(f" {n.key} " in f" {w}" for w in warnings)]


def _run(spec: ExecSpec, operator: OperatorAddress, *, config: ResolvedConfig) -> int:
    from podtap.client.host.execute import ExecFailed, ExecUi, run_exec
    from podtap.client.host.operator_api import OperatorRefused, OperatorUnavailable

    # Progress: one live line on a terminal (gone once the command starts), plain lines
    # otherwise, so logs show where a slow start stopped.
    live = err_console.is_terminal
    status = Status("starting", console=err_console)
    if live:
        status.start()

    spinning = live  # the live line runs until the command starts; then plain lines

    def on_status(text: str) -> None:
        nonlocal spinning
        if text.startswith("session ended"):
            status.stop()
            err_console.print(f"[red]podtap:[/] {text}", highlight=False)
            return
        if spinning:
            status.update(text)
            if " starting " in text:
                status.stop()
                spinning = False
        else:  # e.g. "lost the operator …; reconnecting" while the command runs
            err_console.print(f"podtap: {text}", highlight=False, markup=False, soft_wrap=True)

    def on_log(entry: Log) -> None:
        err_console.print(
            f"[yellow]podtap {entry.level.value}:[/] {escape(entry.message)}",
            highlight=False,
            soft_wrap=True,  # one line, as the operator said it
        )

    def on_notice(text: str) -> None:
        err_console.print(f"podtap: {text}", highlight=False, markup=False, soft_wrap=True)

    ui = ExecUi(on_log=on_log, on_status=on_status, on_notice=on_notice)
    try:
        return asyncio.run(run_exec(operator, spec, ui, config=config))
    except (OperatorUnavailable, OperatorRefused, ExecFailed) as exc:
        status.stop()
        fail(escape(str(exc)))
    except KeyboardInterrupt:
        return 130
    finally:
        status.stop()
