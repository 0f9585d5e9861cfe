"""Which operator a command talks to: the options every such command has, and the choice.

The order (`podtap.client.host.operator_choice`): ``--operator`` / ``$PODTAP_OPERATOR``; else
``--name`` (a local cluster); else the API server of ``--kubeconfig`` / ``--context`` (or
``kube_context`` / ``$PODTAP_KUBE_CONTEXT``), or of ``$KUBECONFIG`` / ``~/.kube/config`` when
its cluster serves the operator's API; else the local cluster's API server. ``-v`` says
which.
A cluster without the APIService is reached by port-forward to the operator's pod
(``--operator-via``, ``--operator-namespace``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from podtap.cli.output import fail

if TYPE_CHECKING:
    from podtap.client.host.operator_api import OperatorAddress
    from podtap.client.host.operator_choice import LocalCluster

OperatorOpt = typer.Option(
    None,
    "--operator",
    help="unix:/PATH, http://HOST:PORT or https://HOST:PORT of the operator itself (default: "
    "$PODTAP_OPERATOR; else through the Kubernetes API server of --kubeconfig/--context, or "
    "of $KUBECONFIG / ~/.kube/config when its cluster has the operator installed; else the "
    "local cluster's, through its API server).",
)
NameOpt = typer.Option(None, "--name", help="Local cluster whose operator to use.")
KubeconfigOpt = typer.Option(
    None,
    "--kubeconfig",
    help="Reach the operator through this kubeconfig's API server (default: $KUBECONFIG, "
    "else ~/.kube/config, when its cluster has the operator installed).",
)
ContextOpt = typer.Option(
    None,
    "--context",
    envvar="PODTAP_KUBE_CONTEXT",
    help="The kubeconfig context to use (default: its current context).",
)
ViaOpt = typer.Option(
    "auto",
    "--operator-via",
    envvar="PODTAP_OPERATOR_VIA",
    help="How to reach the operator through the kubeconfig's cluster: apiservice (its "
    "aggregated API), port-forward (to its pod; needs a token-based kubeconfig) or auto "
    "(the APIService, else port-forward).",
)
OperatorNamespaceOpt = typer.Option(
    "podtap",
    "--operator-namespace",
    envvar="PODTAP_OPERATOR_NAMESPACE",
    help="Namespace of the operator's Service, for --operator-via port-forward.",
)
VerboseOpt = typer.Option(
    False, "-v", "--verbose", help="Say which operator is used, and how it was chosen."
)


@dataclass(frozen=True, kw_only=True)
class OperatorChoice:
    """What a command's options say about the operator to use."""

    operator: str | None = None
    name: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    operator_via: str = "auto"
    operator_namespace: str = "podtap"
    verbose: bool = False

    def address(self, *, context: str | None = None) -> OperatorAddress:
        """The operator to use (`context`: one the command read from its config instead)."""
        return address(
            self.operator,
            self.name,
            kubeconfig=self.kubeconfig,
            context=context or self.context,
            via=self.operator_via,
            operator_namespace=self.operator_namespace,
            verbose=self.verbose,
        )


_OPTIONS: dict[str, tuple[Any, Any]] = {
    "operator": (str | None, OperatorOpt),
    "name": (str | None, NameOpt),
    "kubeconfig": (str | None, KubeconfigOpt),
    "context": (str | None, ContextOpt),
    "operator_via": (str, ViaOpt),
    "operator_namespace": (str, OperatorNamespaceOpt),
    "verbose": (bool, VerboseOpt),
}


def choosing_operator(
    *, context: bool = True
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command taking `choice: OperatorChoice` gets the options that fill it (without
    --context when the command has its own, as `exec` has for its config)."""
    added = {k: v for k, v in _OPTIONS.items() if context or k != "context"}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command)
        kept = [p for p in signature.parameters.values() if p.name != "choice"]
        extra = [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=hint)
            for k, (hint, opt) in added.items()
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            given = {k: kwargs.pop(k) for k in added}
            command(*args, choice=OperatorChoice(**given), **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*kept, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{k: v for k, v in command.__annotations__.items() if k != "choice"},
            **{k: hint for k, (hint, _) in added.items()},
        }
        return wrapper

    return decorate


def address(
    operator: str | None,
    name: str | None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    via: str = "auto",
    operator_namespace: str = "podtap",
    verbose: bool = False,
) -> OperatorAddress:
    """The operator to use, or a one-line error (exit 1) saying why there is none."""
    from podtap.client.host.kube_address import KubeconfigError
    from podtap.client.host.operator_api import OperatorRefused, OperatorUnavailable
    from podtap.client.host.operator_choice import VIAS, Sources, choose

    if verbose:
        _debug_to_stderr()
    if via not in VIAS:
        fail(f"--operator-via / PODTAP_OPERATOR_VIA: {via!r} is not one of {', '.join(VIAS)}")
    if not operator_namespace:
        fail("--operator-namespace / PODTAP_OPERATOR_NAMESPACE is empty: name a namespace")
    sources = Sources(
        operator=operator or os.environ.get("PODTAP_OPERATOR"),
        local_name=name,
        kubeconfig=kubeconfig,
        context=context,
        env_kubeconfig=os.environ.get("KUBECONFIG") or None,
        home_kubeconfig=(Path.home() / ".kube" / "config").is_file(),
        via=via,
        operator_namespace=operator_namespace,
    )
    try:
        return asyncio.run(choose(sources, local=_local))
    except (KubeconfigError, OperatorRefused, OperatorUnavailable) as exc:
        fail(escape(str(exc)))


def _local(name: str | None) -> LocalCluster:
    """The local cluster the command means, with its admin kubeconfig if it runs."""
    from podtap.backends.local.launcher import node_pid
    from podtap.backends.local.paths import ClusterPaths, cluster_name
    from podtap.client.host.operator_choice import LocalCluster

    try:
        paths = ClusterPaths.for_name(cluster_name(name))
    except ValueError as exc:
        fail(str(exc))
    running = node_pid(paths) is not None and paths.kubeconfig.is_file()
    return LocalCluster(name=paths.name, kubeconfig=paths.kubeconfig if running else None)


def _debug_to_stderr() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("podtap: %(message)s"))
    chosen = logging.getLogger("podtap.client")
    chosen.addHandler(handler)
    chosen.setLevel(logging.DEBUG)


def call(operator: OperatorAddress, method: str, path: str) -> Any:
    """The operator's JSON answer, or a one-line error (exit 1)."""
    from podtap.client.host.operator_api import OperatorApi, OperatorRefused, OperatorUnavailable

    try:
        return asyncio.run(OperatorApi(operator).call(method, path))
    except (OperatorUnavailable, OperatorRefused) as exc:
        fail(escape(str(exc)))
