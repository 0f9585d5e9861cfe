"""`podtap operator`: run the operator, and see or end the sessions it holds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from podtap.cli.operator_address import (
    NameOpt,
    OperatorChoice,
    OperatorOpt,
    address,
    call,
    choosing_operator,
)
from podtap.cli.output import Format, age, columns, console, fail
from podtap.core import operator_paths as paths

if TYPE_CHECKING:
    from podtap.core.lifecycle import Limits

__all__ = ["NameOpt", "OperatorOpt", "address", "app", "call"]  # what other commands use

app = typer.Typer(
    rich_markup_mode=None,
    help="The operator: the one component that talks to agents, tracks every "
    "session and arbitrates between developers.",
    no_args_is_help=True,
)
session_app = typer.Typer(help="End sessions.", no_args_is_help=True)
app.add_typer(session_app, name="session")

KeyOpt = typer.Option(
    None, "--key", help="Only the sessions with this session key (`podtap exec --key`, config key)."
)


@app.command()
def serve(
    unused_ttl: float = typer.Option(
        30.0, envvar="PODTAP_UNUSED_TTL", help="Seconds a session survives without client (min 6)."
    ),
    setup_deadline: float = typer.Option(
        180.0, envvar="PODTAP_SETUP_DEADLINE", help="Seconds for the first client to connect."
    ),
    max_time: float | None = typer.Option(
        None, envvar="PODTAP_MAX_TIME", help="Longest a session may live (seconds)."
    ),
    kube: bool = typer.Option(
        True,
        "--kube",
        hidden=True,
        help="Serve through the Kubernetes API (the only way; kept for the chart's command).",
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Outside a pod: the cluster's kubeconfig."
    ),
    context: str | None = typer.Option(None, "--context", help="With --kubeconfig: its context."),
) -> None:
    """Run the operator in a cluster, as the Helm chart does (charts/podtap-operator, also
    what `podtap local up` installs): its settings come from the PODTAP_* environment the
    chart sets (charts/podtap-operator/README.md)."""
    from podtap.core.lifecycle import Limits

    try:
        limits = Limits(unused_ttl=unused_ttl, setup_deadline=setup_deadline, max_time=max_time)
    except ValueError as exc:
        fail(str(exc))
    _serve_kube(limits=limits, kubeconfig=kubeconfig, context=context)


def _serve_kube(*, limits: Limits, kubeconfig: Path | None, context: str | None) -> None:
    from podtap.backends.kubernetes.agent_pod import AgentSettingsError
    from podtap.backends.kubernetes.config import ConfigError
    from podtap.operator.kube_serve import StartFailed, run_kube
    from podtap.operator.kube_settings import SettingsError
    from podtap.operator.settings import OperatorError

    try:
        run_kube(limits=limits, kubeconfig=kubeconfig, context=context)
    except (SettingsError, StartFailed, ConfigError, OperatorError, AgentSettingsError) as exc:
        fail(str(exc))


STATUS = paths.operator_path().removeprefix(paths.API)


def _with_key(path: str, key: str | None) -> str:
    from podtap.client.host.operator_api import query

    return path + query(key=key)


def _rows(sessions: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            s["id"],
            s["namespace"],
            s["target"],
            s["owner"],
            s.get("key") or "-",
            s["ports"],
            age(s["age"]),
            "yes" if s["connected"] else "no",
        ]
        for s in sessions
    ]


@app.command()
@choosing_operator()
def status(
    output: Format = typer.Option(Format.table, "-o", "--output", help="table or json"),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh every 2 s until Ctrl-C."),
    key: str | None = KeyOpt,
    *,
    choice: OperatorChoice,
) -> None:
    """Operator version, uptime, the policies and profiles in force, and every session (or
    those with --key) with its key, ports and filters."""
    where = choice.address()
    while True:
        data = call(where, "GET", _with_key(STATUS, key))
        if output is Format.json:
            typer.echo(json.dumps(data, indent=2))
        else:
            if watch:
                console.clear()
            typer.echo(
                f"podtap operator {data['version']}, up {age(data['uptime'])}, "
                f"{len(data['sessions'])} session(s), {len(data['agents'])} agent(s)"
            )
            for what in ("policies", "profiles"):  # an older operator does not say
                if data.get(what):
                    typer.echo(f"{what} in force: {', '.join(data[what])}")
            if data["sessions"]:
                typer.echo(
                    columns(
                        [
                            "SESSION",
                            "NAMESPACE",
                            "TARGET",
                            "USER",
                            "KEY",
                            "PORTS",
                            "AGE",
                            "CONNECTED",
                        ],
                        _rows(data["sessions"]),
                    )
                )
        if not watch:
            return
        try:
            time.sleep(2)
        except KeyboardInterrupt:
            return


@session_app.command("kill")
@choosing_operator()
def kill(
    session: str = typer.Argument(..., help="Session id (16 hex digits)."),
    *,
    choice: OperatorChoice,
) -> None:
    """End one session (yours, or anyone's if you are an admin)."""
    data = call(choice.address(), "DELETE", f"/sessions/{session}")
    typer.echo(f"killed session {', '.join(data['killed'])}")


@app.command("kill-all")
@session_app.command("kill-all")
@choosing_operator()
def kill_all(
    key: str | None = typer.Option(
        None,
        "--key",
        help="Only the sessions with this session key: yours (an admin's: anyone's).",
    ),
    *,
    choice: OperatorChoice,
) -> None:
    """End every session (admins only), or with --key every session of yours with that key."""
    data = call(choice.address(), "DELETE", _with_key("/sessions", key))
    typer.echo(f"killed {len(data['killed'])} session(s)")


@app.command()
@choosing_operator()
def prune(*, choice: OperatorChoice) -> None:
    """End sessions whose client is gone."""
    data = call(choice.address(), "DELETE", "/sessions?detached=true")
    typer.echo(f"pruned {len(data['pruned'])} session(s)")
