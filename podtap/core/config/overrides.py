"""Environment variables and CLI flags over a config file (file < environment < flags).

Each override names the config path it sets, so that an invalid value is reported with the
variable or flag it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from podtap.core.config.models import IncomingMode, ResolvedConfig

__all__ = ["CLI_FLAGS", "ENV_VARS", "Override", "cli_overrides", "env_overrides"]

Setter = Callable[[dict[str, Any], Any], None]
#: (config path, origin, value, setter)
Override = tuple[str, str, Any, Setter]


def _set(path: str) -> Setter:
    keys = path.split(".")

    def setter(doc: dict[str, Any], value: Any) -> None:
        node = doc
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    return setter


def _header_filter(doc: dict[str, Any], value: Any) -> None:
    """A header filter from the environment or a flag replaces any filter of the file."""
    hf = doc["feature"]["network"]["incoming"]["http_filter"]
    for k in ("path_filter", "method_filter", "all_of", "any_of"):
        hf[k] = None
    hf["header_filter"] = value


def _steal(doc: dict[str, Any], value: Any) -> None:
    if value is None:
        return
    mode = IncomingMode.STEAL if value else IncomingMode.MIRROR
    doc["feature"]["network"]["incoming"]["mode"] = mode.value


def _no_outgoing(doc: dict[str, Any], value: Any) -> None:
    if value:
        out = doc["feature"]["network"]["outgoing"]
        out["tcp"] = out["udp"] = False


def _no_remote_dns(doc: dict[str, Any], value: Any) -> None:
    if value:
        doc["feature"]["network"]["dns"]["enabled"] = False


_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def _bool(text: str) -> bool | str:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return text  # left for the model to reject with a proper message


_MODE = "feature.network.incoming.mode"
_HEADER = "feature.network.incoming.http_filter.header_filter"

#: (config path, podtap variable, mirrord variable, parser, setter)
_CONCURRENT = "feature.network.incoming.on_concurrent_steal"
ENV_VARS: tuple[tuple[str, str, str | None, Callable[[str], Any], Setter], ...] = (
    ("target.path", "PODTAP_TARGET", "MIRRORD_IMPERSONATED_TARGET", str, _set("target.path")),
    (
        "target.namespace",
        "PODTAP_TARGET_NAMESPACE",
        "MIRRORD_TARGET_NAMESPACE",
        str,
        _set("target.namespace"),
    ),
    ("kube_context", "PODTAP_KUBE_CONTEXT", "MIRRORD_KUBE_CONTEXT", str, _set("kube_context")),
    # PODTAP_OPERATOR is the operator's address (cli/operator.py), not this switch
    ("operator", "PODTAP_OPERATOR_ENABLE", "MIRRORD_OPERATOR_ENABLE", _bool, _set("operator")),
    ("profile", "PODTAP_PROFILE", None, str, _set("profile")),
    ("key", "PODTAP_KEY", "MIRRORD_KEY", str, _set("key")),
    (_MODE, "PODTAP_INCOMING_MODE", None, str.lower, _set(_MODE)),
    (_MODE, "MIRRORD_AGENT_TCP_STEAL_TRAFFIC", None, _bool, _steal),
    (_HEADER, "PODTAP_HTTP_HEADER_FILTER", "MIRRORD_HTTP_HEADER_FILTER", str, _header_filter),
    (
        _CONCURRENT,
        "PODTAP_OPERATOR_ON_CONCURRENT_STEAL",
        "MIRRORD_OPERATOR_ON_CONCURRENT_STEAL",
        str.lower,
        _set(_CONCURRENT),
    ),
    (
        "feature.fs.mode",
        "PODTAP_FILE_MODE",
        "MIRRORD_FILE_MODE",
        str.lower,
        _set("feature.fs.mode"),
    ),
    (
        "feature.network.dns.enabled",
        "PODTAP_REMOTE_DNS",
        "MIRRORD_REMOTE_DNS",
        _bool,
        _set("feature.network.dns.enabled"),
    ),
    (
        "feature.network.outgoing.tcp",
        "PODTAP_TCP_OUTGOING",
        "MIRRORD_TCP_OUTGOING",
        _bool,
        _set("feature.network.outgoing.tcp"),
    ),
    (
        "feature.network.outgoing.udp",
        "PODTAP_UDP_OUTGOING",
        "MIRRORD_UDP_OUTGOING",
        _bool,
        _set("feature.network.outgoing.udp"),
    ),
    (
        "feature.env.include",
        "PODTAP_ENV_INCLUDE",
        "MIRRORD_OVERRIDE_ENV_VARS_INCLUDE",
        str,
        _set("feature.env.include"),
    ),
    (
        "feature.env.exclude",
        "PODTAP_ENV_EXCLUDE",
        "MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE",
        str,
        _set("feature.env.exclude"),
    ),
)

#: ``cli`` keys of :func:`resolve_config` (the ``podtap exec`` flags): name → (flag, path,
#: setter). ``None`` values mean "flag not given". Dotted config paths are accepted too.
CLI_FLAGS: dict[str, tuple[str, str, Setter]] = {
    "target": ("--target", "target.path", _set("target.path")),
    "namespace": ("--namespace", "target.namespace", _set("target.namespace")),
    "kube_context": ("--context", "kube_context", _set("kube_context")),
    "profile": ("--profile", "profile", _set("profile")),
    "steal": ("--steal", _MODE, _steal),
    "filter": ("--filter", _HEADER, _header_filter),
    "no_outgoing": ("--no-outgoing", "feature.network.outgoing", _no_outgoing),
    "no_remote_dns": ("--no-remote-dns", "feature.network.dns.enabled", _no_remote_dns),
    "fs_mode": ("--fs-mode", "feature.fs.mode", _set("feature.fs.mode")),
    "key": ("--key", "key", _set("key")),
    "on_concurrent_steal": (
        "--on-concurrent-steal",
        _CONCURRENT,
        _set(_CONCURRENT),
    ),
}


def env_overrides(
    env: Mapping[str, str],
) -> list[Override]:
    """(path, variable, value, setter) for every variable set; PODTAP_* beat MIRRORD_*."""
    out: list[Override] = []
    done: set[str] = set()
    for path, var, mirrord_var, parse, setter in ENV_VARS:
        for name in (var, mirrord_var):
            if name is None or name not in env:
                continue
            if path in done:
                break
            out.append((path, name, parse(env[name]), setter))
            done.add(path)
            break
    return out


def cli_overrides(cli: Mapping[str, Any]) -> list[Override]:
    out: list[Override] = []
    for name, value in cli.items():
        if value is None:
            continue
        if name in CLI_FLAGS:
            flag, path, setter = CLI_FLAGS[name]
            out.append((path, f"flag {flag}", value, setter))
        elif "." in name or name in ResolvedConfig.model_fields:
            out.append((name, f"flag {name}", value, _set(name)))
        else:
            raise ValueError(f"unknown CLI override {name!r}")
    return out
