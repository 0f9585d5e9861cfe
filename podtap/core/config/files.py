"""Finding a config file, rendering its templates and parsing it (JSON, TOML or YAML).

As in mirrord, the file's text is rendered (:mod:`~podtap.core.config.templating`) before it is
parsed, with ``key`` (``--key``, ``PODTAP_KEY``/``MIRRORD_KEY``, else the file's own ``key``
field, else a generated one) and ``git_branch`` as variables and ``get_env`` reading the
environment given.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from podtap.core.config.errors import ConfigError, ConfigIssue
from podtap.core.config.templating import TemplateError, find_git_branch, render

__all__ = [
    "CONFIG_CANDIDATES",
    "LoadedFile",
    "find_config_file",
    "load_file",
    "parse_text",
    "read_config_file",
]

#: Looked up in this order in the working directory when no ``-f FILE`` is given.
CONFIG_CANDIDATES: tuple[str, ...] = tuple(
    f"{stem}.{ext}"
    for stem in ("podtap", ".mirrord/mirrord")
    for ext in ("json", "toml", "yaml", "yml")
)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


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


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("", message, name)])


def parse_text(text: str, *, suffix: str, name: str) -> dict[str, Any]:
    """Parse a file's (rendered) text by its extension into a mapping."""
    suffix = suffix.lower()
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
            raise _fail(name, "unknown file type: use .json, .toml, .yaml or .yml")
    except json.JSONDecodeError as e:
        raise _fail(name, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except tomllib.TOMLDecodeError as e:
        raise _fail(name, f"invalid TOML: {e}") from None
    except yaml.YAMLError as e:
        raise _fail(name, f"invalid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise _fail(name, f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _raw_key(text: str, *, suffix: str, name: str) -> str | None:
    """The file's own ``key``, read before rendering (mirrord's first pass); None when the
    unrendered text does not parse or has no string ``key``."""
    try:
        value = parse_text(text, suffix=suffix, name=name).get("key")
    except ConfigError:
        return None
    return value if isinstance(value, str) else None


def read_config_file(
    path: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    key: str | None = None,
    name: str | None = None,
) -> LoadedFile:
    """Read, render and parse ``path``; ``key`` is the session key given outside the file,
    ``name`` the file as messages call it (default: ``path``)."""
    name = name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise _fail(name, f"cannot read: {e.strerror or e}") from None
    variables: dict[str, str] = {}
    branch = find_git_branch(cwd, env)
    if branch is not None:
        variables["git_branch"] = branch
    suffix = path.suffix
    try:
        if key is None and (raw := _raw_key(text, suffix=suffix, name=name)) is not None:
            key = render(raw, variables=variables, env=env).text
        generated = f"podtap-{secrets.token_hex(4)}"
        rendered = render(text, variables={**variables, "key": key or generated}, env=env)
        data = parse_text(rendered.text, suffix=suffix, name=name)
        own = data.get("key")
        if key is None and "key" in rendered.used and isinstance(own, str):
            # the unrendered text did not parse (a template in it spans quotes): take the
            # file's key from this first pass and render again with it
            if generated in own:
                raise _fail(name, "key: it cannot use {{ key }} itself")
            key = own
            rendered = render(text, variables={**variables, "key": key}, env=env)
            data = parse_text(rendered.text, suffix=suffix, name=name)
    except TemplateError as e:
        raise _fail(name, f"{e} (templates: docs/config.md)") from None
    warnings: list[str] = []
    if key is None and "key" in rendered.used:
        data["key"] = generated
        warnings.append(
            f"{name}: {{{{ key }}}} was rendered with a generated key {generated!r}: "
            "set key in the file, PODTAP_KEY or --key to choose it"
        )
    return LoadedFile(data, warnings)


def load_file(path: Path) -> dict[str, Any]:
    """Parse a JSON, TOML or YAML file (by extension) into a mapping, templates rendered
    without environment."""
    return read_config_file(path, cwd=path.parent, env={}).data
