"""Which operator a command talks to, in this order:

1. ``--operator ADDR`` / ``$PODTAP_OPERATOR`` (``unix:/PATH``, ``http(s)://HOST:PORT``);
2. ``--name`` given: that embedded cluster's API server (its admin kubeconfig), whose
   answer is final;
3. a kubeconfig named explicitly (``--kubeconfig``, ``--context`` / ``kube_context`` /
   ``$PODTAP_KUBE_CONTEXT``): its API server, whose answer for ``operator.podtap.dev/v1`` is
   final (no operator installed, refused credentials, ... are errors);
4. a kubeconfig found (``$KUBECONFIG``, ``~/.kube/config``): its API server if it serves
   ``operator.podtap.dev/v1``, checked once by discovery; when it does not (404) or cannot
   be reached, the embedded cluster's if one runs here;
5. the embedded cluster's API server (``podtap local up``), through its admin kubeconfig.

The embedded cluster runs the operator as a real one does: installed with the chart, behind
its APIService; a client reaches it through the API server like any other cluster's.

A kubeconfig's cluster without the APIService (discovery 404), or ``via="port-forward"``,
reaches the operator by port-forward to its pod in ``operator_namespace``
(`operator_forward`); ``via="apiservice"`` never does.

`candidates` is the decision, pure; `choose` asks the API server and falls through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podtap.client.host.operator_api import (
    OperatorAddress,
    OperatorApi,
    OperatorRefused,
    OperatorUnavailable,
)

log = logging.getLogger("podtap.client")


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What the command line, the environment and the config say about the operator."""

    operator: str | None = None
    local_name: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    env_kubeconfig: str | None = None
    home_kubeconfig: bool = False
    via: str = "auto"
    operator_namespace: str = "podtap"


@dataclass(frozen=True)
class Given:
    value: str


@dataclass(frozen=True, kw_only=True)
class Kube:
    files: str | None
    context: str | None
    explicit: bool


@dataclass(frozen=True)
class Local:
    name: str | None


Candidate = Given | Kube | Local

VIA_AUTO, VIA_APISERVICE, VIA_FORWARD = "auto", "apiservice", "port-forward"
VIAS = (VIA_AUTO, VIA_APISERVICE, VIA_FORWARD)


def candidates(s: Sources) -> tuple[Candidate, ...]:
    """The addresses to try, in order (a later one only if an earlier finds no operator)."""
    if s.operator:
        return (Given(s.operator),)
    if s.local_name:
        return (Local(s.local_name),)
    if s.kubeconfig or s.context:
        return (Kube(files=s.kubeconfig or s.env_kubeconfig, context=s.context, explicit=True),)
    if s.env_kubeconfig or s.home_kubeconfig:
        if s.via == VIA_FORWARD:  # asked for: this kubeconfig's cluster, or an error
            return (Kube(files=s.env_kubeconfig, context=None, explicit=True),)
        return (Kube(files=s.env_kubeconfig, context=None, explicit=False), Local(None))
    return (Local(None),)


def falls_through(exc: Exception) -> bool:
    """Whether an implicit kubeconfig's failure lets the next candidate be tried: no
    operator there (404), the server unreachable, the kubeconfig unusable."""
    if isinstance(exc, OperatorRefused):
        return exc.status == 404
    return True


PROBE_TIMEOUT = 10.0
"""Seconds the discovery of a kubeconfig's server may take (a cluster off the network)."""


async def probe(address: OperatorAddress, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Discovery of ``operator.podtap.dev/v1`` (raises the refusal's one line)."""
    await OperatorApi(address).call("GET", "", timeout=timeout)


@dataclass(frozen=True, kw_only=True)
class LocalCluster:
    """An embedded cluster's name and its admin kubeconfig (None: it does not run here)."""

    name: str
    kubeconfig: Path | None


def not_running(name: str) -> OperatorUnavailable:
    flag = "" if name == "default" else f" --name {name}"
    return OperatorUnavailable(
        f"no operator to use: no kubeconfig names a cluster with podtap installed, and the "
        f"local cluster {name!r} does not run here: start it with `podtap local up{flag}`, "
        "or give --kubeconfig / --context"
    )


def without_operator(name: str) -> OperatorRefused:
    flag = "" if name == "default" else f" --name {name}"
    return OperatorRefused(
        404,
        f"the local cluster {name!r} has no podtap operator (it was started with "
        f"--no-operator-chart): install it with `podtap local up{flag}`",
    )


async def choose(
    sources: Sources,
    *,
    local: Callable[[str | None], LocalCluster],
    probe_timeout: float = PROBE_TIMEOUT,
) -> OperatorAddress:
    """The address to use (KubeconfigError, OperatorRefused or OperatorUnavailable if the
    chosen kubeconfig cannot reach an operator)."""
    from podtap.client.host.kube_address import KubeconfigError

    failure: Exception | None = None
    for candidate in candidates(sources):
        if isinstance(candidate, Given):
            log.debug("operator: %s (--operator / PODTAP_OPERATOR)", candidate.value)
            return OperatorAddress(candidate.value)
        if isinstance(candidate, Local):
            cluster = local(candidate.name)
            if cluster.kubeconfig is None:
                raise failure or not_running(cluster.name)
            log.debug("operator: the local cluster %s's, through its API server", cluster.name)
            try:
                return await _through_kube(
                    Kube(files=str(cluster.kubeconfig), context=None, explicit=True),
                    sources,
                    timeout=probe_timeout,
                )
            except OperatorRefused as exc:
                if exc.status == 404:
                    raise without_operator(cluster.name) from None
                raise
        try:
            return await _through_kube(candidate, sources, timeout=probe_timeout)
        except (KubeconfigError, OperatorRefused, OperatorUnavailable) as exc:
            if candidate.explicit or not falls_through(exc):
                raise
            log.debug("operator: not through the kubeconfig (%s)", exc)
            failure = exc
            continue
    raise AssertionError("the last candidate always answers")


async def _through_kube(candidate: Kube, sources: Sources, *, timeout: float) -> OperatorAddress:
    """The operator behind the kubeconfig's API server: its APIService, else (404, or asked
    for) a port-forward to its pod in the operator's namespace."""
    from podtap.client.host.kube_address import kube_address
    from podtap.client.host.operator_forward import find_operator

    kube = await kube_address(files=candidate.files, context=candidate.context)
    no_apiservice: OperatorRefused | None = None
    if sources.via != VIA_FORWARD:
        try:
            await probe(kube, timeout=timeout)
            log.debug("operator: through %s at %s", kube.credentials.where, kube.value)
            return kube
        except OperatorRefused as exc:
            if exc.status != 404 or sources.via != VIA_AUTO:
                raise
            log.debug("operator: no APIService (%s), so by port-forward", exc)
            no_apiservice = exc
    namespace = sources.operator_namespace
    try:
        found = await find_operator(kube.credentials, namespace=namespace, timeout=timeout)
    except OperatorRefused as missing:  # not there (or, implicitly, not ours to look for)
        implicit = not candidate.explicit and missing.status == 403
        if no_apiservice and (missing.status == 404 or implicit):
            raise no_apiservice from None
        raise
    f = found.found
    log.debug(
        "operator: by port-forward to pod %s/%s:%d through %s",
        f.namespace,
        f.pod,
        f.port,
        kube.value,
    )
    return found
