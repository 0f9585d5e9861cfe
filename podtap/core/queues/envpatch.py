"""Which env vars of which containers name a split queue, and what they become.

``appConfig`` is read against the workload's pod template: ``env`` names one var,
``envLike`` is a regex over var names (every var it matches is a queue, each its own
original); ``containers`` limits the search (a name the pod does not have is an error);
``valuePattern`` (group ``name``, else the first group, else the whole match) or
``valueSelector`` (a jq path into a JSON value) finds the queue's name inside a longer
value, such as an SQS queue URL, which is then replaced in place. A var set from a
ConfigMap or Secret (``valueFrom``) needs its value from the running pod (``resolved``).
A var the pod does not have is an error, unless ``fallback`` names the queue: the var is
then added. Errors are :class:`EnvPatchError`, one line naming the field and container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podtap.core.jqprog import JqError, compile_jq
from podtap.core.queues.models import AppConfig
from podtap.core.safe_regex import FilterRegexError, compile_filter_regex

__all__ = ["EnvBinding", "EnvPatchError", "find_queue_env", "patched_value", "queue_name"]


class EnvPatchError(ValueError):
    """``appConfig`` does not fit the pod; one line naming the field and container."""


@dataclass(frozen=True, slots=True)
class EnvBinding:
    """One var of one container that holds a queue's name (``queue``, within ``value``)."""

    container: str
    var: str
    value: str | None  # None: the pod lacks the var; ``fallback`` named the queue
    queue: str


def _containers(app: AppConfig, spec: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    every = list(spec.get("containers") or [])
    if not app.containers:
        return every
    names = [c.get("name") for c in every]
    for wanted in app.containers:
        if wanted not in names:
            raise EnvPatchError(
                f"{where}.containers: the pod has no container {wanted!r} (it has "
                f"{', '.join(map(str, names)) or 'none'})"
            )
    return [c for c in every if c.get("name") in app.containers]


def _env_values(container: Mapping[str, Any], resolved: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in container.get("env") or []:
        name = item.get("name")
        if "valueFrom" in item:
            if name in resolved:
                values[name] = resolved[name]
            continue
        values[name] = str(item.get("value", ""))
    for name in resolved:
        values.setdefault(name, resolved[name])
    return values


def find_queue_env(
    app: AppConfig,
    spec: Mapping[str, Any],
    *,
    where: str,
    resolved: Mapping[str, Mapping[str, str]] | None = None,
) -> list[EnvBinding]:
    """Every env binding ``app`` names in pod ``spec`` (``where``: the field, for errors)."""
    resolved = resolved or {}
    bindings: list[EnvBinding] = []
    for container in _containers(app, spec, where):
        cname = str(container.get("name"))
        env = _env_values(container, resolved.get(cname, {}))
        for var in _matching(app, env, where):
            bindings.append(EnvBinding(cname, var, env[var], queue_name(app, env[var], where)))
    if bindings:
        return bindings
    if app.fallback is not None and app.env is not None:
        # no container holds the var: add it to the named containers, else to the first
        targets = _containers(app, spec, where)
        targets = targets if app.containers else targets[:1]
        return [EnvBinding(str(c.get("name")), app.env, None, app.fallback) for c in targets]
    which = f"env var {app.env!r}" if app.env else f"env var matching {app.env_like!r}"
    indirect = sorted(_indirect(app, spec, where))
    if indirect:  # it has the var, but from a ConfigMap or Secret: its value is not here
        raise EnvPatchError(
            f"{where}: {', '.join(indirect)} is set from a ConfigMap or Secret (valueFrom), "
            "which a split cannot repoint yet: set the queue as a literal env value"
        )
    raise EnvPatchError(f"{where}: the pod has no {which} (set appConfig.fallback to add one)")


def _indirect(app: AppConfig, spec: Mapping[str, Any], where: str) -> set[str]:
    """The vars ``app`` names that the pod sets with ``valueFrom``."""
    found: set[str] = set()
    for container in _containers(app, spec, where):
        names = {str(i.get("name")): "" for i in container.get("env") or [] if "valueFrom" in i}
        found.update(_matching(app, names, where))
    return found


def _matching(app: AppConfig, env: Mapping[str, str], where: str) -> list[str]:
    if app.env is not None:
        return [app.env] if app.env in env else []
    try:
        regex = compile_filter_regex(f"^(?:{app.env_like})$")
    except FilterRegexError as exc:
        raise EnvPatchError(f"{where}.envLike: {exc}") from None
    return sorted(name for name in env if regex.search(name))


def _span(app: AppConfig, value: str, where: str) -> tuple[int, int]:
    if app.value_pattern is None:
        return 0, len(value)
    try:
        pattern = re.compile(app.value_pattern)  # short env values, written by the admin
    except re.error as exc:
        raise EnvPatchError(f"{where}.valuePattern: invalid regex: {exc}") from None
    found = pattern.search(value)
    if found is None:
        raise EnvPatchError(f"{where}.valuePattern: {app.value_pattern!r} not in {value!r}")
    group = "name" if "name" in pattern.groupindex else (1 if pattern.groups else 0)
    return found.span(group)


def _selected(app: AppConfig, value: str, where: str) -> tuple[Any, str]:
    try:
        document = json.loads(value)
        name = compile_jq(str(app.value_selector)).outputs(document)
    except (ValueError, JqError) as exc:
        raise EnvPatchError(f"{where}.valueSelector: {exc}") from None
    if not name or not isinstance(name[0], str):
        raise EnvPatchError(f"{where}.valueSelector: {app.value_selector!r} selects no string")
    return document, name[0]


def queue_name(app: AppConfig, value: str, where: str) -> str:
    """The queue's name inside an env var's ``value``."""
    if app.value_selector is not None:
        return _selected(app, value, where)[1]
    start, end = _span(app, value, where)
    return value[start:end]


def patched_value(app: AppConfig, binding: EnvBinding, new: str, *, where: str) -> str:
    """``binding``'s value with its queue's name replaced by ``new``."""
    if binding.value is None:
        return new
    if app.value_selector is not None:
        document, _ = _selected(app, binding.value, where)
        program = compile_jq(f"({app.value_selector}) |= $new", args={"new": new})
        return json.dumps(program.outputs(document)[0], separators=(",", ":"))
    start, end = _span(app, binding.value, where)
    return binding.value[:start] + new + binding.value[end:]
