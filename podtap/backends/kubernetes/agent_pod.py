"""The agent pod's manifest and the settings it is built from (pure: no I/O).

The operator starts one agent per target pod, as a pod of its own on the target's node
(`nodeName`, so no scheduler decides), with `hostPID` to find the target container's
process by its container id and the four capabilities to enter its network namespace and
write its rules. The bearer token the operator presents is never in the pod spec (anyone
who may read pods would see it): the agent gets its SHA-256 and compares the hash of what
it is given. Settings come from the environment the chart sets
(charts/podtap-operator/README.md, "Environment").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podtap import __version__

__all__ = [
    "AGENT_SELECTOR",
    "CAPABILITIES",
    "LABEL_NAME",
    "LABEL_TARGET",
    "LABEL_TARGET_UID",
    "MANAGED_BY",
    "AgentPodSettings",
    "AgentSettingsError",
    "agent_container",
    "agent_pod",
    "agent_token",
    "agents_of",
    "ephemeral_agent",
    "owner_reference",
    "token_sha256",
]

CAPABILITIES = ("SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "NET_ADMIN")
LABEL_NAME = "app.kubernetes.io/name"
MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TARGET = "podtap.dev/target-pod"
LABEL_TARGET_UID = "podtap.dev/target-uid"
#: the selector of every agent pod an operator made (`kubectl get pods -l …`)
AGENT_SELECTOR = f"{LABEL_NAME}=podtap-agent,{MANAGED_BY}=podtap-operator"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_IMAGE = f"ghcr.io/podtap/podtap:{__version__}"
#: an agent waits this long at least for its operator (the first connection comes only once
#: the pod is seen Ready)
MIN_IDLE_EXIT = 10.0
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


class AgentSettingsError(ValueError):
    """A PODTAP_AGENT_* variable the operator cannot use; the message names it."""


@dataclass(frozen=True, kw_only=True)
class AgentPodSettings:
    image: str = DEFAULT_IMAGE
    pull_policy: str = "IfNotPresent"
    pull_secrets: tuple[str, ...] = ()
    ephemeral: bool = False
    port: int = 50051
    linger: float = 30.0
    namespace: str | None = None  # None: the target's
    resources: Mapping[str, Any] | None = None
    privileged: bool = False
    service_account: str = "default"
    #: how the operator reaches agents: "direct" (their pod IP), "port-forward" (through the
    #: API server), or "" for the default of where the operator runs (direct in the cluster)
    connect: str = ""
    #: the ClusterRole agent pods are owned by (the chart's `<fullname>`, which lives as long
    #: as the release), so the garbage collector deletes them with it even when the operator
    #: had no time to; "": no owner
    owner: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentPodSettings:
        """From the chart's PODTAP_AGENT_* and PODTAP_SERVICE_ACCOUNT (empty: the default);
        raises AgentSettingsError for a value that is not what the chart contract says."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        policy = get("PODTAP_AGENT_PULL_POLICY") or cls.pull_policy
        if policy not in PULL_POLICIES:
            raise AgentSettingsError(
                f"PODTAP_AGENT_PULL_POLICY={policy!r}: give one of {', '.join(PULL_POLICIES)}"
            )
        secrets = tuple(s.strip() for s in get("PODTAP_AGENT_PULL_SECRETS").split(",") if s.strip())
        return cls(
            image=get("PODTAP_AGENT_IMAGE") or DEFAULT_IMAGE,
            pull_policy=policy,
            pull_secrets=secrets,
            ephemeral=_flag(env, "PODTAP_AGENT_EPHEMERAL"),
            port=_port(get("PODTAP_AGENT_PORT")),
            linger=_seconds(get("PODTAP_AGENT_LINGER")),
            namespace=get("PODTAP_AGENT_NAMESPACE") or None,
            resources=_resources(get("PODTAP_AGENT_RESOURCES")),
            privileged=_flag(env, "PODTAP_AGENT_PRIVILEGED"),
            service_account=get("PODTAP_SERVICE_ACCOUNT") or cls.service_account,
            connect=_connect(get("PODTAP_AGENT_CONNECT")),
            owner=get("PODTAP_AGENT_OWNER"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in ("", "true", "false"):
        raise AgentSettingsError(f"{name}={value!r}: give true or false")
    return value == "true"


def _connect(value: str) -> str:
    if value not in ("", "direct", "port-forward"):
        raise AgentSettingsError(f"PODTAP_AGENT_CONNECT={value!r}: give direct or port-forward")
    return value


def _port(value: str) -> int:
    if not value:
        return AgentPodSettings.port
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise AgentSettingsError(f"PODTAP_AGENT_PORT={value!r}: give a port number 1-65535")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value) if value else AgentPodSettings.linger
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 86400:
        raise AgentSettingsError(f"PODTAP_AGENT_LINGER={value!r}: give seconds, 0 or more")
    return seconds


def _resources(value: str) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise AgentSettingsError(f"PODTAP_AGENT_RESOURCES is not JSON ({exc})") from None
    if not isinstance(parsed, dict) or set(parsed) - {"limits", "requests", "claims"}:
        raise AgentSettingsError(
            'PODTAP_AGENT_RESOURCES: give a container\'s resources, {"limits":{…},"requests":{…}}'
        )
    return parsed


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_token(key: bytes, name: str) -> str:
    """The token of the agent pod `name` under `key`, a secret every replica holds (the
    chart's TLS key): the leader after a failover can reach the agents an earlier one
    started, and adopt them, without any token in a pod spec or an object."""
    return hmac.new(key, f"podtap-agent-token:{name}".encode(), hashlib.sha256).hexdigest()


def agents_of(target: Mapping[str, Any]) -> str:
    """The label selector of the agent pods of the pod `target` (its JSON)."""
    return f"{AGENT_SELECTOR},{LABEL_TARGET_UID}={_label(target['metadata'].get('uid') or '')}"


def _label(value: str) -> str:
    """`value` as a label value (at most 63 characters of [A-Za-z0-9._-], alphanumeric ends)."""
    return _LABEL_VALUE.sub("-", value)[:63].strip("-._")


def agent_container(
    *, container_id: str, settings: AgentPodSettings, token: str, name: str = "agent"
) -> dict[str, Any]:
    """The agent's container: `podtap agent` for the process of `container_id`, listening on
    the agent port, leaving `linger` seconds (10 at least) after its operator is gone."""
    security: dict[str, Any] = {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
    }
    if settings.privileged:
        security["privileged"] = True
    container: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": settings.pull_policy,
        "command": [
            "podtap",
            "agent",
            "--container-id",
            container_id,
            "--listen",
            f"0.0.0.0:{settings.port}",
            "--idle-exit",
            f"{max(settings.linger, MIN_IDLE_EXIT):g}",
        ],
        "env": [{"name": "PODTAP_AGENT_TOKEN_SHA256", "value": token_sha256(token)}],
        "ports": [{"name": "agent", "containerPort": settings.port, "protocol": "TCP"}],
        "securityContext": security,
    }
    if settings.resources:
        container["resources"] = dict(settings.resources)
    return container


def agent_pod(
    target: Mapping[str, Any],
    *,
    container_id: str,
    settings: AgentPodSettings,
    token: str,
    suffix: str,
    owner: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The agent pod for the container `container_id` of the pod `target` (its JSON), named
    ``podtap-agent-<suffix>``, ready once its port answers; `owner` is its ownerReference."""
    meta = target["metadata"]
    node = (target.get("spec") or {}).get("nodeName")
    if not node:
        raise ValueError(f"pod {meta['name']} is not on a node yet: no agent can join it")
    container = agent_container(container_id=container_id, settings=settings, token=token)
    container["readinessProbe"] = {
        "tcpSocket": {"port": settings.port},
        "periodSeconds": 1,
        "failureThreshold": 3,
    }
    spec: dict[str, Any] = {
        "nodeName": node,
        "hostPID": True,
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "serviceAccountName": settings.service_account,
        "terminationGracePeriodSeconds": 5,
        "tolerations": [{"operator": "Exists"}],
        "containers": [container],
    }
    if settings.pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in settings.pull_secrets]
    labels = {
        LABEL_NAME: "podtap-agent",
        MANAGED_BY: "podtap-operator",
        LABEL_TARGET: _label(meta["name"]),
        LABEL_TARGET_UID: _label(meta.get("uid") or ""),
    }
    metadata: dict[str, Any] = {
        "name": f"podtap-agent-{suffix}",
        "namespace": settings.namespace or meta["namespace"],
        "labels": labels,
        "annotations": {"podtap.dev/target": f"{meta['namespace']}/{meta['name']}"},
    }
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def owner_reference(role: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to the ClusterRole `role` (its JSON). A namespaced dependent may have
    a cluster-scoped owner; no blockOwnerDeletion (it would need update on the role's
    finalizers)."""
    meta = role["metadata"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "name": meta["name"],
        "uid": meta["uid"],
    }


def ephemeral_agent(
    *,
    target_container: str,
    container_id: str,
    settings: AgentPodSettings,
    token: str,
    suffix: str,
) -> dict[str, Any]:
    """The agent as an ephemeral container of the target pod (``PODTAP_AGENT_EPHEMERAL``):
    in the target's PID namespace (`targetContainerName`) and its pod's network, so it
    listens on the target pod's address. Ephemeral containers may have no ports, probes
    or resources (the API refuses them), and are never removed: the agent exits when its
    operator has gone."""
    container = agent_container(
        container_id=container_id, settings=settings, token=token, name=f"podtap-agent-{suffix}"
    )
    for refused in ("ports", "resources"):
        container.pop(refused, None)
    container["targetContainerName"] = target_container
    return container
