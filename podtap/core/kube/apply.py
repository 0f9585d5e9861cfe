"""Server-side apply and the ``managedFields`` every write records, as kube-apiserver keeps them.

Each entry of ``metadata.managedFields`` says which fields one *manager* owns: an applier
(operation ``Apply``, named by ``fieldManager``: ``kubectl``, ``helm``) or an updater
(operation ``Update``: ``kubectl-client-side-apply``, ``kube-controller-manager``, or the
user agent's first word). The rules, from structured-merge-diff's ``Updater``:

- apply merges the applied configuration into the live object and then owns exactly the
  fields of that configuration; a field it owned last time and no longer applies is removed
  from the object unless another manager owns it;
- a field that apply would *change* while another manager owns it is a conflict: nothing is
  written and the server answers 409 (:func:`conflict_status`); ``force`` takes the fields
  over instead; two appliers setting the same value share the field;
- any other write (create, update, patch) gives its manager every field it changed, and takes
  them away from the others, without conflicts;
- ``apiVersion``, ``kind`` and ``metadata.name``/``namespace``/``uid``/``resourceVersion``/
  ``generation``/``creationTimestamp``/``managedFields`` are never owned; neither are the
  ``reset_fields`` a write to the main resource cannot touch (``status``).

Updaters are told apart by manager, operation, apiVersion and subresource; appliers by
manager and subresource (their ``apiVersion`` is the last one applied). Entries are sorted as
upstream sorts them: ``Apply`` before ``Update``, then by time, manager, apiVersion.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from podtap.core.kube.fieldset import FieldSet, Path, path_string, pe_field
from podtap.core.kube.patch import PatchError, json_equal
from podtap.core.kube.patch_schema import UNTYPED, GroupVersionKind, Type, type_for
from podtap.core.kube.typed_value import compare, field_set, merge, remove_paths

__all__ = [
    "ApplyResult",
    "Conflict",
    "conflict_status",
    "manager_for",
    "record_update",
    "server_side_apply",
]

_META = ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
         "generation", "managedFields", "resourceVersion")  # fmt: skip
_NEVER_OWNED = FieldSet()
for _path in [("f:apiVersion",), ("f:kind",), ("f:metadata",)] + [
    ("f:metadata", pe_field(m)) for m in _META
]:
    _NEVER_OWNED.insert(_path)


@dataclass
class Conflict:
    """A field another manager owns with another value; ``manager`` as the message shows it."""

    manager: str
    field: str


@dataclass
class ApplyResult:
    """The object to store (with ``managedFields``), or conflicts and the live object."""

    object: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)
    changed: bool = True


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet

    def ident(self) -> tuple[str, ...]:
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, version, self.subresource)

    def shown(self) -> str:
        """``printManager``: ``"helm"``, ``"kubectl-edit" using apps/v1``."""
        out = f'"{self.manager}"'
        if self.subresource:
            out += f' with subresource "{self.subresource}"'
        return f"{out} using {self.api_version}" if self.operation == "Update" else out

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation}
        out["apiVersion"] = self.api_version
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def manager_for(field_manager: str | None, user_agent: str) -> str:
    """``fieldManager`` if given, else the user agent up to its first ``/`` (``kubectl``),
    printable characters only, at most 128 (``managerOrUserAgent``)."""
    if field_manager:
        return field_manager
    first = user_agent.split("/", 1)[0]
    return "".join(c for c in first if unicodedata.category(c)[0] not in "CZ" or c == " ")[:128]


def _decode(obj: dict[str, Any] | None) -> list[_Entry]:
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    out = []
    for e in raw if isinstance(raw, list) else []:
        if not isinstance(e, dict) or e.get("operation") not in ("Apply", "Update"):
            raise PatchError("operation must be `Apply` or `Update`", code=400, reason="BadRequest")
        out.append(
            _Entry(
                str(e.get("manager", "")),
                str(e["operation"]),
                str(e.get("apiVersion", "")),
                str(e.get("subresource", "")),
                e.get("time"),
                FieldSet.from_fields_v1(e.get("fieldsV1")),
            )
        )
    return out


def _encode(entries: list[_Entry]) -> list[dict[str, Any]]:
    kept = [e for e in entries if not e.fields.empty()]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in kept]


def _body(obj: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(obj) if obj else {}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return out


def _schema(obj: dict[str, Any], schema: Type | None) -> Type:
    return schema or type_for(GroupVersionKind.of(obj)) or UNTYPED


def _owned(fields: FieldSet, reset_fields: Collection[str]) -> FieldSet:
    reset = FieldSet()
    for name in reset_fields:
        reset.insert((pe_field(name),))
    pruned = fields.difference(_NEVER_OWNED)
    for pe in list(pruned.children):
        if pe in reset.members:
            del pruned.children[pe]
    pruned.members -= reset.members
    return pruned


def _with_fields(obj: dict[str, Any], entries: list[_Entry]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    encoded = _encode(entries)
    meta = out.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    return out


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    now: str,
    schema: Type | None = None,
    subresource: str = "",
    reset_fields: Collection[str] = ("status",),
) -> ApplyResult:
    """Apply ``applied`` as ``manager`` to ``live`` (None: the object does not exist yet).

    ``schema`` is the CRD's model for a custom resource (``type_from_openapi``); built-ins
    find theirs. The caller stores ``result.object`` unless ``result.conflicts``.
    """
    if not manager:
        raise PatchError(
            "PATCH requests with apply content type must specify fieldManager",
            code=400,
            reason="BadRequest",
        )
    t = _schema(applied, schema)
    config = _body(applied)
    for name in reset_fields:
        config.pop(name, None)
    entries = _decode(live)
    before = _body(live)
    api_version = str(applied.get("apiVersion", ""))
    mine = _Entry(manager, "Apply", api_version, subresource, None, FieldSet())
    last = next((e for e in entries if e.ident() == mine.ident()), None)
    if last is not None:
        entries.remove(last)
        mine.time = last.time
    mine.fields = _owned(field_set(config, t), reset_fields)
    merged = merge(before, config, t)
    if last is not None:
        merged = _prune(merged, last.fields, [mine, *entries], t)
    merged = _drop_nulls(merged)
    change = compare(before, merged, t)
    changed = _owned(change.changed(), reset_fields)
    conflicts = [
        Conflict(e.shown(), path_string(p))
        for e in entries
        for p in e.fields.intersection(changed).paths()
    ]
    if conflicts and not force:
        conflicts.sort(key=lambda c: (c.manager, c.field))
        return ApplyResult(copy.deepcopy(live) if live else {}, conflicts, changed=False)
    for e in entries:
        e.fields = e.fields.difference(changed).difference(change.removed)
    is_change = not json_equal(before, merged)
    if is_change or mine.time is None:
        mine.time = now
    return ApplyResult(_with_fields(merged, [mine, *entries]), [], changed=is_change)


def _prune(merged: Any, last: FieldSet, owners: list[_Entry], t: Type) -> Any:
    """Remove what the applier owned before and nobody owns now (``Updater.prune``)."""
    owned = FieldSet()
    for e in owners:
        owned = owned.union(e.fields)
    gone: list[Path] = [
        p for p in last.difference(owned).paths() if not owned.has_below(p) and not owned.has(p)
    ]
    return remove_paths(merged, gone, t) if gone else merged


def _drop_nulls(value: Any) -> Any:
    """Typed objects cannot hold ``null`` fields: upstream's decoding drops them."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    now: str,
    operation: str = "Update",
    schema: Type | None = None,
    subresource: str = "",
    reset_fields: Collection[str] = ("status",),
) -> dict[str, Any]:
    """``new`` with ``managedFields`` recording that ``manager`` made the change from ``old``.

    ``managedFields`` the request itself carries win over the live ones (that is how kubectl
    moves ownership from client-side to server-side apply); absent, the live ones carry on.
    """
    t = _schema(new, schema)
    entries = _decode(new) or _decode(old)
    change = compare(_body(old), _body(new), t)
    changed = _owned(change.changed(), reset_fields)
    api_version = str(new.get("apiVersion", ""))
    mine = _Entry(manager, operation, api_version, subresource, None, FieldSet())
    for e in list(entries):
        if e.ident() == mine.ident():
            entries.remove(e)
            mine.time, mine.fields = e.time, e.fields
        else:
            e.fields = e.fields.difference(changed).difference(change.removed)
    mine.fields = mine.fields.difference(change.removed)
    if not changed.empty():
        mine.fields = mine.fields.union(changed)
        mine.time = now
    return _with_fields(_body(new), [mine, *entries])


def conflict_status(conflicts: list[Conflict]) -> dict[str, Any]:
    """The 409 ``Status`` for conflicts, worded as ``NewConflictError`` words it."""
    if len(conflicts) == 1:
        c = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {c.manager}: {c.field}"
    else:
        lines = []
        for who in sorted({c.manager for c in conflicts}):
            lines.append(f"conflicts with {who}:")
            lines += [f"- {c.field}" for c in conflicts if c.manager == who]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {c.manager}",
            "field": c.field,
        }
        for c in conflicts
    ]
    return PatchError(message, code=409, reason="Conflict", causes=causes).status()
