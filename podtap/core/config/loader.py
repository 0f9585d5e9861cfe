"""Finding, parsing and layering configuration: file < environment < CLI flags.

Pure: reads files (never sockets or processes). Unknown keys become warnings naming the key
path; invalid values raise :class:`ConfigError` listing every problem with its dotted path and
where it came from (the file name, the environment variable or the CLI flag).
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from podtap.core.config.models import IncomingMode, ResolvedConfig

__all__ = [
    "CLI_FLAGS",
    "CONFIG_CANDIDATES",
    "ENV_VARS",
    "UNSUPPORTED_KEYS",
    "ConfigError",
    "ConfigIssue",
    "find_config_file",
    "load_file",
    "resolve_config",
    "validate_config",
]

#: Looked up in this order in the working directory when no ``-f FILE`` is given.
CONFIG_CANDIDATES: tuple[str, ...] = tuple(
    f"{stem}.{ext}"
    for stem in ("podtap", ".mirrord/mirrord")
    for ext in ("json", "toml", "yaml", "yml")
)

#: mirrord keys podtap knows about but does not implement yet (warned about by name).
UNSUPPORTED_KEYS: frozenset[str] = frozenset(
    {
        "accept_invalid_certificates",
        "agent",
        "connect_agent_name",
        "connect_agent_port",
        "connect_tcp",
        "container",
        "experimental",
        "external_proxy",
        "internal_proxy",
        "kubeconfig",
        "pause",
        "sip_binaries",
        "skip_build_tools",
        "skip_processes",
        "skip_extra_build_tools",
        "telemetry",
        "use_proxy",
        "feature.capture_error_trace",
        "feature.hostname",
        "feature.env.load_from_process",
        "feature.env.mapping",
        "feature.fs.mapping",
        "feature.fs.readonly_file_buffer",
        "feature.network.ipv6",
        "feature.network.incoming.https_delivery",
        "feature.network.incoming.listen_ports",
        "feature.network.incoming.tls_delivery",
        "feature.network.incoming.http_filter.body_filter",
        "feature.network.outgoing.unix_streams",
        "target.container",
    }
)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One invalid value: ``path`` is dotted (``feature.network.outgoing.filter.remote[1]``),
    ``source`` the file name, ``env PODTAP_X`` or ``flag --x``."""

    path: str
    message: str
    source: str

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class ConfigError(ValueError):
    """Every problem of a configuration at once."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"{n} error{'s' if n != 1 else ''} in the configuration"
        return head + "".join(f"\n  {issue}" for issue in self.issues)


# --------------------------------------------------------------------------- files


def find_config_file(cwd: Path) -> tuple[Path | None, list[str]]:
    """The first of :data:`CONFIG_CANDIDATES` in ``cwd``; warns about the others found."""
    found = [cwd / name for name in CONFIG_CANDIDATES if (cwd / name).is_file()]
    if not found:
        return None, []
    warnings = [
        f"{p.relative_to(cwd)} is ignored: {found[0].relative_to(cwd)} comes first"
        for p in found[1:]
    ]
    return found[0], warnings


def load_file(path: Path) -> dict[str, Any]:
    """Parse a JSON, TOML or YAML file (by extension) into a mapping."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([ConfigIssue("", f"cannot read: {e.strerror or e}", name)]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data: Any = json.loads(text) if text.strip() else {}
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
            if data is None:
                data = {}
        else:
            raise ConfigError(
                [ConfigIssue("", "unknown file type: use .json, .toml, .yaml or .yml", name)]
            )
    except json.JSONDecodeError as e:
        raise ConfigError(
            [ConfigIssue("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", name)]
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([ConfigIssue("", f"invalid TOML: {e}", name)]) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigIssue("", f"invalid YAML: {e}", name)]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigIssue("", f"expected a mapping at the top, got {type(data).__name__}", name)]
        )
    return data


# --------------------------------------------------------------------------- validation


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _collect_extras(model: BaseModel, prefix: str, warnings: list[str]) -> None:
    """Warn about (and drop) every unknown key of ``model`` and its sub-models."""
    extra = model.__pydantic_extra__
    if extra:
        for key in sorted(extra):
            path = f"{prefix}.{key}" if prefix else key
            if path in UNSUPPORTED_KEYS:
                warnings.append(f"{path} is not supported yet; ignored")
            else:
                warnings.append(f"{path} is not a known key; ignored")
        extra.clear()
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}.{name}" if prefix else name
        _walk(value, path, warnings)


def _walk(value: Any, path: str, warnings: list[str]) -> None:
    if isinstance(value, BaseModel):
        _collect_extras(value, path, warnings)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{path}.{k}", warnings)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", warnings)


def validate_config(
    data: Mapping[str, Any], *, source: str = "", sources: Mapping[str, str] | None = None
) -> tuple[ResolvedConfig, list[str]]:
    """Validate one raw mapping (shorthands allowed) into its canonical form.

    ``sources`` maps dotted paths to a more precise origin than ``source`` (an environment
    variable, a flag) for error messages."""
    raw = dict(data)
    raw.pop("$schema", None)
    try:
        config = ResolvedConfig.model_validate(raw)
    except ValidationError as e:
        issues = []
        for err in e.errors(include_url=False):
            path = _dotted(err["loc"])
            origin = source
            for p, s in (sources or {}).items():
                if path == p or path.startswith(p + ".") or p.startswith(path + "."):
                    origin = s
            msg = err["msg"].removeprefix("Value error, ")
            issues.append(ConfigIssue(path, msg, origin))
        raise ConfigError(issues) from None
    warnings: list[str] = []
    _collect_extras(config, "", warnings)
    if source:
        warnings = [f"{source}: {w}" for w in warnings]
    return config, warnings


# --------------------------------------------------------------------------- overrides

Setter = Callable[[dict[str, Any], Any], None]


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
    ("key", "PODTAP_KEY", None, str, _set("key")),
    (_MODE, "PODTAP_INCOMING_MODE", None, str.lower, _set(_MODE)),
    (_MODE, "MIRRORD_AGENT_TCP_STEAL_TRAFFIC", None, _bool, _steal),
    (_HEADER, "PODTAP_HTTP_HEADER_FILTER", "MIRRORD_HTTP_HEADER_FILTER", str, _header_filter),
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
}


def _env_overrides(
    env: Mapping[str, str],
) -> list[tuple[str, str, Any, Setter]]:
    """(path, variable, value, setter) for every variable set; PODTAP_* beat MIRRORD_*."""
    out: list[tuple[str, str, Any, Setter]] = []
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


def _cli_overrides(cli: Mapping[str, Any]) -> list[tuple[str, str, Any, Setter]]:
    out: list[tuple[str, str, Any, Setter]] = []
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


def resolve_config(
    *,
    cwd: Path,
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> tuple[ResolvedConfig, list[str]]:
    """The effective configuration and the warnings to show (each once).

    ``file`` (``-f``, relative to ``cwd``) or else the first of :data:`CONFIG_CANDIDATES` in
    ``cwd``; then :data:`ENV_VARS` from ``env``; then ``cli`` (keys of :data:`CLI_FLAGS` or
    dotted config paths). Raises :class:`ConfigError` listing every invalid value.
    """
    warnings: list[str] = []
    if file is not None:
        path: Path | None = file if file.is_absolute() else cwd / file
    else:
        path, found_warnings = find_config_file(cwd)
        warnings += found_warnings
    source = str(file) if file is not None else (str(path.relative_to(cwd)) if path else "")
    raw = load_file(path) if path is not None else {}
    config, file_warnings = validate_config(raw, source=source)
    warnings += file_warnings

    overrides = _env_overrides(env or {}) + _cli_overrides(cli or {})
    if not overrides:
        return config, warnings
    doc = copy.deepcopy(config.model_dump(mode="json"))
    sources: dict[str, str] = {}
    for cpath, origin, value, setter in overrides:
        setter(doc, value)
        sources[cpath] = origin if origin.startswith("flag ") else f"env {origin}"
    config, _ = validate_config(doc, source=source, sources=sources)
    return config, warnings
