"""Validating and layering configuration: file < environment < CLI flags.

Pure: reads files (never sockets or processes). Every key is accounted for
(:mod:`~podtap.core.config.known_keys`): mirrord keys podtap does not implement, and fields it
parses but does not carry out yet, are warnings naming the key (listed in
:attr:`ConfigReport.unsupported`); keys in neither podtap's nor mirrord's schema, and invalid
values, raise :class:`ConfigError` listing every problem with its dotted path and where it came
from (the file name, the environment variable or the CLI flag).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from podtap.core.config.errors import ConfigError, ConfigIssue
from podtap.core.config.files import (
    CONFIG_CANDIDATES,
    find_config_file,
    load_file,
    read_config_file,
)
from podtap.core.config.known_keys import UNSUPPORTED_KEYS, is_unsupported, not_acted
from podtap.core.config.models import ResolvedConfig
from podtap.core.config.overrides import CLI_FLAGS, ENV_VARS, cli_overrides, env_overrides
from podtap.core.field_path import field_path
from podtap.core.targets import TargetKind, unresolvable_reason

__all__ = [
    "CLI_FLAGS",
    "CONFIG_CANDIDATES",
    "ENV_VARS",
    "UNSUPPORTED_KEYS",
    "ConfigError",
    "ConfigIssue",
    "ConfigReport",
    "find_config_file",
    "load_file",
    "resolve_config",
    "resolve_report",
    "validate_config",
]

_UNKNOWN = "not a known key (in neither podtap's nor mirrord's schema): check its spelling, "
_UNKNOWN += "docs/config.md lists the keys"


@dataclass(slots=True)
class ConfigReport:
    """The effective configuration, the warnings to show (each once), and the keys that are
    set but not supported yet (``podtap verify-config -o json`` lists them)."""

    config: ResolvedConfig
    warnings: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- validation


@dataclass(slots=True)
class _Extras:
    """What the walk over a validated config found among the keys it does not model."""

    unsupported: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _collect_extras(model: BaseModel, path: str, schema_path: str, found: _Extras) -> None:
    """Classify (and drop) every unknown key of ``model`` and its sub-models. ``schema_path``
    is ``path`` with map keys as ``*`` and list indices as ``[]``, as in mirrord's schema."""
    extra = model.__pydantic_extra__
    if extra:
        for key in sorted(extra):
            sub = f"{path}.{key}" if path else key
            if is_unsupported(f"{schema_path}.{key}" if schema_path else key):
                if extra[key] is not None:  # null: not given
                    found.unsupported.append(sub)
            else:
                found.unknown.append(sub)
        extra.clear()
    for name in type(model).model_fields:
        sub = f"{path}.{name}" if path else name
        _walk(getattr(model, name), sub, f"{schema_path}.{name}" if schema_path else name, found)


def _walk(value: Any, path: str, schema_path: str, found: _Extras) -> None:
    if isinstance(value, BaseModel):
        _collect_extras(value, path, schema_path, found)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{path}.{k}", f"{schema_path}.*", found)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", f"{schema_path}[]", found)


def _as_written(raw: Mapping[str, Any]) -> Callable[[str], str]:
    """Paths as the file wrote them: ``split_queues`` written as a map (read as a list) is
    named by queue id (``feature.split_queues.orders.queue_type``), not by index."""
    feature = raw.get("feature")
    queues = feature.get("split_queues") if isinstance(feature, dict) else None
    if not isinstance(queues, dict):
        return lambda path: path
    names = {
        f"feature.split_queues[{i}]": f"feature.split_queues.{k}" for i, k in enumerate(queues)
    }

    def rewrite(path: str) -> str:
        for index, name in names.items():
            if path == index or path.startswith((index + ".", index + "[")):
                return name + path[len(index) :]
        return path

    return rewrite


def _validate(
    data: Mapping[str, Any], *, source: str, sources: Mapping[str, str] | None = None
) -> tuple[ResolvedConfig, list[str]]:
    """The config and the unsupported keys it holds; unknown keys are errors."""
    raw = dict(data)
    raw.pop("$schema", None)
    as_written = _as_written(raw)
    try:
        config = ResolvedConfig.model_validate(raw)
    except ValidationError as e:
        issues = []
        for err in e.errors(include_url=False):
            path = as_written(field_path(err["loc"]))
            origin = source
            for p, s in (sources or {}).items():
                if path == p or path.startswith(p + ".") or p.startswith(path + "."):
                    origin = s
            msg = err["msg"].removeprefix("Value error, ")
            issues.append(ConfigIssue(path, msg, origin))
        raise ConfigError(issues) from None
    found = _Extras()
    _collect_extras(config, "", "", found)
    if found.unknown:
        raise ConfigError([ConfigIssue(as_written(p), _UNKNOWN, source) for p in found.unknown])
    return config, [as_written(p) for p in found.unsupported]


def _prefixed(source: str, text: str) -> str:
    return f"{source}: {text}" if source else text


def validate_config(
    data: Mapping[str, Any], *, source: str = "", sources: Mapping[str, str] | None = None
) -> tuple[ResolvedConfig, list[str]]:
    """Validate one raw mapping (shorthands allowed) into its canonical form, with a warning
    for each mirrord key podtap does not support yet.

    ``sources`` maps dotted paths to a more precise origin than ``source`` (an environment
    variable, a flag) for error messages."""
    config, unsupported = _validate(data, source=source, sources=sources)
    return config, [_prefixed(source, f"{p} is not supported yet; ignored") for p in unsupported]


# --------------------------------------------------------------------------- resolution


def _key_override(overrides: Sequence[tuple[str, str, Any, Any]]) -> str | None:
    keys = [value for path, _, value, _ in overrides if path == "key" and isinstance(value, str)]
    return keys[-1] if keys else None


def resolve_report(
    *,
    cwd: Path,
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
    resolvable_kinds: Collection[TargetKind] | None = None,
    backend: str = "the cluster backend",
) -> ConfigReport:
    """Like :func:`resolve_config`, with the unsupported keys listed apart. With
    ``resolvable_kinds``, a target of another kind is an error saying ``backend`` cannot
    resolve it (before anything connects)."""
    env = env or {}
    warnings: list[str] = []
    if file is not None:
        path: Path | None = file if file.is_absolute() else cwd / file
    else:
        path, found_warnings = find_config_file(cwd)
        warnings += found_warnings
    source = str(file) if file is not None else (str(path.relative_to(cwd)) if path else "")
    overrides = env_overrides(env) + cli_overrides(cli or {})
    raw: dict[str, Any] = {}
    if path is not None:
        key = _key_override(overrides)
        loaded = read_config_file(path, cwd=cwd, env=env, key=key, name=source)
        raw = loaded.data
        warnings += loaded.warnings
    config, unsupported = _validate(raw, source=source)
    warnings += [_prefixed(source, f"{p} is not supported yet; ignored") for p in unsupported]

    sources: dict[str, str] = {}
    if overrides:
        doc = copy.deepcopy(config.model_dump(mode="json"))
        for cpath, origin, value, setter in overrides:
            setter(doc, value)
            sources[cpath] = origin if origin.startswith("flag ") else f"env {origin}"
        config, _ = _validate(doc, source=source, sources=sources)
    for key_path, why in not_acted(config):
        unsupported.append(key_path)
        origin = sources.get(key_path, source)
        warnings.append(_prefixed(origin, f"{key_path} is not supported yet ({why}); ignored"))
    ref = config.target.ref
    if resolvable_kinds is not None and ref is not None:
        reason = unresolvable_reason(ref, resolvable=resolvable_kinds, backend=backend)
        if reason is not None:
            origin = sources.get("target.path", source)
            raise ConfigError([ConfigIssue("target.path", reason, origin)])
    return ConfigReport(config, warnings, unsupported)


def resolve_config(
    *,
    cwd: Path,
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> tuple[ResolvedConfig, list[str]]:
    """The effective configuration and the warnings to show (each once).

    ``file`` (``-f``, relative to ``cwd``) or else the first of :data:`CONFIG_CANDIDATES` in
    ``cwd``, its templates rendered; then :data:`ENV_VARS` from ``env``; then ``cli`` (keys of
    :data:`CLI_FLAGS` or dotted config paths). Raises :class:`ConfigError` listing every
    invalid value and every unknown key.
    """
    report = resolve_report(cwd=cwd, file=file, env=env, cli=cli)
    return report.config, report.warnings
