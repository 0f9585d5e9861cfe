"""What an operator installed by the Helm chart is started with: its environment.

The chart's README (charts/podtap-operator/README.md) is the contract: every variable is
always set, an empty string means "not set". A bad value stops the operator at start with
one line naming the variable, so `kubectl logs` says what to fix in the values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LOG_LEVELS["error"] = logging.ERROR


class SettingsError(ValueError):
    """A variable of the operator's environment is missing or wrong (the message says which)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeOperatorSettings:
    namespace: str
    pod_name: str
    listen: str = "0.0.0.0:8443"
    tls_dir: Path = Path("/etc/podtap/tls")
    lease_name: str = "podtap-operator-leader"
    leader_label: str = "podtap.dev/leader"
    role_namespaces: tuple[str, ...] = ()
    log_level: int = logging.INFO
    json_log: bool = False
    metrics_port: int = 0
    state_dir: Path = Path("/tmp/podtap")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KubeOperatorSettings:
        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def flag(name: str) -> bool:
            value = get(name, "false").lower()
            if value not in ("true", "false"):
                raise SettingsError(f"{name} must be true or false, not {value!r}")
            return value == "true"

        namespace = get("PODTAP_NAMESPACE")
        if not namespace:
            raise SettingsError(
                "PODTAP_NAMESPACE is not set: the operator must know its namespace "
                "(the chart sets it from the downward API)"
            )
        level = get("PODTAP_LOG_LEVEL", "info").lower()
        if level not in LOG_LEVELS:
            raise SettingsError(
                f"PODTAP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}"
            )
        port_text = get("PODTAP_METRICS_PORT", "0")
        if not port_text.isdigit() or int(port_text) > 65535:
            raise SettingsError(f"PODTAP_METRICS_PORT must be a port or 0, not {port_text!r}")
        listen = get("PODTAP_LISTEN", "0.0.0.0:8443")
        _, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit():
            raise SettingsError(f"PODTAP_LISTEN must be HOST:PORT, not {listen!r}")
        return cls(
            namespace=namespace,
            pod_name=get("PODTAP_POD_NAME", "podtap-operator"),
            listen=listen,
            tls_dir=Path(get("PODTAP_TLS_DIR", "/etc/podtap/tls")),
            lease_name=get("PODTAP_LEASE_NAME", "podtap-operator-leader"),
            leader_label=get("PODTAP_LEADER_LABEL", "podtap.dev/leader"),
            role_namespaces=tuple(
                n.strip() for n in get("PODTAP_ROLE_NAMESPACES").split(",") if n.strip()
            ),
            log_level=LOG_LEVELS[level],
            json_log=flag("PODTAP_JSON_LOG"),
            metrics_port=int(port_text),
            state_dir=Path(get("PODTAP_STATE_DIR", "/tmp/podtap")),
        )
