"""`podtap local`: the embedded single-node cluster (runs Kubernetes YAML as local processes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from podtap.backends.local import apiaccess
from podtap.backends.local.client import ApplyRejected, ClusterNotRunning, NodeClient
from podtap.backends.local.hostside import PortInUse, port_forward, run_in_pod
from podtap.backends.local.launcher import (
    NodeStartFailed,
    parts,
    start_node,
    stop_node,
)
from podtap.backends.local.logs import LogNotFound, find_log, follow_log
from podtap.backends.local.manifests import Manifest, ManifestError, load_files
from podtap.backends.local.operator_chart import (
    NAMESPACE,
    OPERATOR_DEPLOYMENT,
    RELEASE,
    OperatorChartFailed,
    install,
)
from podtap.backends.local.paths import ClusterPaths, UnsafeStateDir, cluster_name
from podtap.cli.local_get import KINDS_HELP, render_get
from podtap.cli.output import Format, console, err_console, fail

T = TypeVar("T")
app = typer.Typer(
    rich_markup_mode=None,
    help="An embedded single-node cluster: Kubernetes YAML run as local processes in their own "
    "network and mount namespaces. Try podtap here, or test against it.",
    no_args_is_help=True,
)

NameOpt = typer.Option(
    None,
    "--name",
    help="Which local cluster (default: $PODTAP_LOCAL_NAME "
    "or 'default'). Several can run side by side.",
)
NsOpt = typer.Option("default", "-n", "--namespace", help="Namespace.")
FilesOpt = typer.Option(..., "-f", "--filename", help="YAML/JSON file or directory; repeatable.")


def _paths(name: str | None) -> ClusterPaths:
    try:
        return ClusterPaths.for_name(cluster_name(name))
    except ValueError as exc:
        fail(str(exc))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (
        ClusterNotRunning,
        NodeStartFailed,
        PortInUse,
        LogNotFound,
        UnsafeStateDir,
        OperatorChartFailed,
        apiaccess.NoKubeconfig,
    ) as exc:
        coro.close()
        fail(str(exc))
    except ApplyRejected as exc:
        fail("the cluster refused the objects:\n  " + "\n  ".join(exc.problems))


def _load(files: list[Path]) -> list[Manifest]:
    try:
        return load_files(files)
    except ManifestError as exc:
        fail("invalid manifests, nothing was applied:\n  " + "\n  ".join(exc.problems))


async def _wait_ready(client: NodeClient, *, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    with console.status("waiting for pods") as status:
        while True:
            pods = await client.pods()
            ready = [p for p in pods if p["ready"] or p["phase"] == "Succeeded"]
            waiting = [p for p in pods if p not in ready]
            if not waiting:
                return pods
            status.update(
                f"waiting for pods: {len(ready)}/{len(pods)} ready "
                f"({', '.join(p['name'] for p in waiting[:3])})"
            )
            if time.monotonic() > deadline:
                for p in waiting:
                    why = p["message"] or ", ".join(
                        f"{c['name']}: {c['state']} {c['reason']}" for c in p["containers"]
                    )
                    err_console.print(f"[yellow]not ready:[/] {p['namespace']}/{p['name']}: {why}")
                return pods
            await asyncio.sleep(0.2)


async def _start_what_is_dead(client: NodeClient, paths: ClusterPaths, *, api_port: int) -> None:
    """Reuse a running cluster; start again a node that died (a stale pid file blocks
    nothing)."""
    (node,) = parts(paths)
    if health := await client.healthy():
        console.print(
            f"local cluster [bold]{paths.name}[/] is already running (pid {health['pid']})"
        )
        return
    with console.status(f"starting local cluster {paths.name}"):
        pid = await start_node(paths, api_port=api_port)
    again = f" ({node}: started it again)" if node.recorded is not None else ""
    console.print(f"started local cluster [bold]{paths.name}[/] (pid {pid}){again}")


@app.command()
def up(
    files: list[Path] = typer.Option([], "-f", "--filename", help="Files to apply; repeatable."),
    name: str | None = NameOpt,
    timeout: float = typer.Option(120, help="Seconds to wait for pods to become ready."),
    api_port: int = typer.Option(
        0, "--api-port", help="Port of the Kubernetes API on 127.0.0.1 (default: any free one)."
    ),
    operator_chart: bool = typer.Option(
        True,
        "--operator-chart/--no-operator-chart",
        envvar="PODTAP_LOCAL_OPERATOR_CHART",
        help="Install the operator into the cluster with charts/podtap-operator and helm "
        "(helm upgrade --install podtap -n podtap, waiting up to --timeout). Without it "
        "the cluster has no operator: podtap exec cannot use it.",
    ),
    operator_values: list[str] = typer.Option(
        [],
        "--operator-set",
        help="A value of the operator chart, as helm --set takes it "
        "(sessions.unusedTtl=10); repeatable.",
    ),
) -> None:
    """Start the local cluster in the background (or reuse it), install the operator chart,
    apply FILES, wait for pods.
    It serves the Kubernetes API: KUBECONFIG=$(podtap local kubeconfig) kubectl get pods -A"""
    paths = _paths(name)
    manifests = _load(files) if files else []

    async def go() -> None:
        client = NodeClient(paths)
        await _start_what_is_dead(client, paths, api_port=api_port)
        if operator_chart:
            with console.status("installing the operator (helm)…"):
                revision = await install(paths, timeout=timeout, values=operator_values)
            console.print(
                f"operator chart: release {RELEASE} in namespace {NAMESPACE}, revision "
                f"{revision} (helm -n {NAMESPACE} status {RELEASE})"
            )
        if manifests:
            for line in await client.apply(manifests):
                console.print(f"  {line}")
            await _wait_ready(client, timeout=timeout)
        typer.echo(render_get(await client.objects(), await client.pods(), "pods", None))
        flag = "" if paths.name == "default" else f" --name {paths.name}"
        console.print(
            f"\nUse it: [bold]podtap local get all{flag}[/], "
            f"[bold]podtap local port-forward{flag} svc/NAME 8080:80[/], "
            f"[bold]podtap local run{flag} -- curl http://NAME[/], "
            f"[bold]KUBECONFIG=$(podtap local kubeconfig{flag}) kubectl get pods -A[/]; "
            f"stop it: [bold]podtap local down{flag}[/]"
        )

    _run(go())


@app.command()
def apply(files: list[Path] = FilesOpt, name: str | None = NameOpt) -> None:
    """Create or update the objects in FILES (all or nothing)."""
    manifests = _load(files)
    for line in _run(NodeClient(_paths(name)).apply(manifests)):
        console.print(line)


@app.command()
def delete(files: list[Path] = FilesOpt, name: str | None = NameOpt) -> None:
    """Delete the objects named in FILES."""
    manifests = _load(files)
    for line in _run(NodeClient(_paths(name)).delete(manifests)):
        console.print(line)


@app.command()
def get(
    kind: str = typer.Argument(..., help=KINDS_HELP),
    namespace: str | None = typer.Option(
        None, "-n", "--namespace", help="Namespace (default: all)."
    ),
    output: Format = typer.Option(Format.table, "-o", "--output", help="table, wide, json, yaml"),
    name: str | None = NameOpt,
) -> None:
    """List objects of the cluster."""
    client = NodeClient(_paths(name))

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await client.objects(namespace=namespace), await client.pods(namespace)

    objects, pods = _run(go())
    try:
        rendered = render_get(objects, pods, kind, namespace, fmt=output)
    except KeyError as exc:
        fail(str(exc.args[0]))
    typer.echo(rendered)


@app.command()
def logs(
    pod: str = typer.Argument(..., help="Pod name, or deployment/NAME or statefulset/NAME."),
    container: str | None = typer.Option(None, "-c", "--container"),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new output."),
    namespace: str = NsOpt,
    name: str | None = NameOpt,
) -> None:
    """Print a container's output (all restarts, appended)."""
    paths = _paths(name)

    async def go() -> None:
        path = await find_log(NodeClient(paths), namespace=namespace, pod=pod, container=container)
        await follow_log(path, follow=follow)

    with contextlib.suppress(KeyboardInterrupt):
        _run(go())


@app.command("port-forward")
def port_forward_cmd(
    target: str = typer.Argument(..., help="svc/NAME or pod/NAME."),
    ports: str = typer.Argument(..., help="LOCAL:REMOTE (LOCAL 0 picks a free port)."),
    namespace: str = NsOpt,
    name: str | None = NameOpt,
) -> None:
    """Listen on 127.0.0.1:LOCAL; connections reach the pod through its network interface."""
    local_s, _, remote_s = ports.partition(":")
    if not remote_s:
        local_s, remote_s = ports, ports
    if not (local_s.isdigit() and remote_s.isdigit()) or not 0 < int(remote_s) < 65536:
        fail(f"ports {ports!r}: expected LOCAL:REMOTE, for example 8080:80")
    paths = _paths(name)

    def ready(port: int) -> None:
        typer.echo(f"Forwarding from 127.0.0.1:{port} -> {target}:{remote_s}", color=False)

    with contextlib.suppress(KeyboardInterrupt):
        _run(
            port_forward(
                paths,
                namespace=namespace,
                target=target,
                local_port=int(local_s),
                remote_port=int(remote_s),
                on_ready=ready,
                on_error=lambda m: err_console.print(f"[red]{m}[/]"),
            )
        )


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: list[str] = typer.Argument(..., help="The command and its arguments (after --)."),
    namespace: str = NsOpt,
    name: str | None = NameOpt,
) -> None:
    """Run a command as a short-lived pod (own network namespace, cluster DNS) and exit
    with its exit code. Example: podtap local run -- curl -s http://shop/"""
    code = _run(run_in_pod(_paths(name), namespace=namespace, argv=command))
    raise typer.Exit(code)


@app.command()
def status(name: str | None = NameOpt) -> None:
    """Whether the node runs, and the operator the chart installed in it is ready (exit 1
    if either is not)."""
    paths = _paths(name)
    (node,) = parts(paths)
    console.print(str(node), highlight=False)
    if node.pid is None:
        console.print("operator: not running (the cluster is not)", highlight=False)
        raise typer.Exit(1)
    pods = _run(NodeClient(paths).pods(NAMESPACE))
    operators = [p for p in pods if p["name"].startswith(f"{OPERATOR_DEPLOYMENT}-")]
    for pod in operators:
        state = "ready" if pod["ready"] else f"not ready ({pod['phase']})"
        console.print(f"operator: pod {NAMESPACE}/{pod['name']} {state}", highlight=False)
    if not operators:
        flag = "" if paths.name == "default" else f" --name {paths.name}"
        console.print(
            f"operator: not installed (podtap local up{flag} installs it)", highlight=False
        )
    if not any(p["ready"] for p in operators):
        raise typer.Exit(1)


@app.command()
def down(name: str | None = NameOpt) -> None:
    """Stop the cluster: every pod, namespace, interface and rule goes with it."""
    paths = _paths(name)
    with console.status(f"stopping local cluster {paths.name}"):
        was_running = _run(stop_node(paths))
    console.print(
        f"local cluster {paths.name} " + ("stopped" if was_running else "was not running")
    )


@app.command()
def kubeconfig(
    name: str | None = NameOpt,
    user: str | None = typer.Option(
        None, "--user", help="Write a kubeconfig for this limited user (a client certificate)."
    ),
    groups: list[str] = typer.Option([], "--group", help="A group of --user; repeatable."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="With --user: write it here, readable by every local account (default: stdout).",
    ),
) -> None:
    """Print the path of the cluster's admin kubeconfig, for kubectl and helm:
    KUBECONFIG=$(podtap local kubeconfig) kubectl get pods -A. With --user, a kubeconfig for
    a user with no rights but those RBAC gives it, meant to be handed to another account."""
    paths = _paths(name)
    if user is None:
        if groups or out is not None:
            fail("--group and --out go with --user")
        typer.echo(str(_run(_admin_kubeconfig(paths))))
        return
    config = _run(_user_kubeconfig(paths, user=user, groups=tuple(groups)))
    if out is None:
        typer.echo(apiaccess.dump(config), nl=False)
        return
    apiaccess.write_shared(out.absolute(), config)
    err_console.print(f"wrote a kubeconfig for {user} to {out} (mode 0644)")


async def _admin_kubeconfig(paths: ClusterPaths) -> Path:
    if await NodeClient(paths).healthy() is None:
        raise ClusterNotRunning(paths.name)
    return apiaccess.admin_kubeconfig(paths)


async def _user_kubeconfig(
    paths: ClusterPaths, *, user: str, groups: tuple[str, ...]
) -> dict[str, Any]:
    await _admin_kubeconfig(paths)
    return apiaccess.user_kubeconfig(paths, user=user, groups=groups)
