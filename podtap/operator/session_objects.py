"""A session record as a `PodtapSession` (podtap.dev/v1alpha1, cluster-scoped) and back.

`kubectl get podtapsessions` shows who uses what; an operator that restarts, or a new leader,
restores the sessions from these objects. The spec and status are for people and tools (the
chart's CRD documents them); the record itself, exactly as the operator keeps it, rides in an
annotation, so a restore loses nothing the columns leave out (filters, session keys, the
caller's principal).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from podtap.core.protocol import IncomingMode
from podtap.core.sessions import SessionRecord, SessionState
from podtap.core.targets import TargetError, TargetRef
from podtap.operator.records import record_from_json, record_to_json

GROUP: Final = "podtap.dev"
VERSION: Final = "v1alpha1"
PLURAL: Final = "podtapsessions"
KIND: Final = "PodtapSession"
COLLECTION: Final = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
RECORD_ANNOTATION: Final = "podtap.dev/record"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "podtap-operator"}

_STATES: Final = {
    SessionState.OPEN: "Connecting",
    SessionState.ATTACHED: "Active",
    SessionState.DETACHED: "Reconnecting",
    SessionState.RESUMED: "Active",
    SessionState.CLOSING: "Ending",
    SessionState.CLOSED: "Ending",
}
_KINDS: Final = {"label": "selector"}


def object_name(label: str) -> str:
    """The object's name for a session id (names are lower case)."""
    return label.lower()


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(record: SessionRecord) -> str:
    principal = str(record.principal)
    return principal.removeprefix("user:") if principal.startswith("user:") else record.owner


def _mode(record: SessionRecord) -> str:
    subs = list(record.subscriptions.values())
    steals = [s for s in subs if s.mode is IncomingMode.STEAL]
    if any(s.http_filter is None for s in steals):
        return "steal"
    if steals:
        return "filtered-steal"
    return "mirror" if subs else "none"


def _target(record: SessionRecord) -> dict[str, str]:
    out = {"kind": "", "name": record.target, "namespace": record.namespace}
    try:
        ref = TargetRef.parse(record.target)
    except TargetError:
        return {**out, "kind": "pod"}
    out = {"kind": _KINDS.get(ref.kind, ref.kind), "name": ref.name, "namespace": record.namespace}
    if ref.container:
        out["container"] = ref.container
    return out


def session_object(
    record: SessionRecord, *, groups: tuple[str, ...] = (), agent: str = ""
) -> dict[str, Any]:
    """The PodtapSession of ``record`` (spec and status; the caller writes status apart
    where the CRD has the subresource)."""
    ports = [
        {
            "port": int(s.port),
            "mode": s.mode.value,
            **({"filter": s.http_filter.describe(table=True)} if s.http_filter else {}),
        }
        for _, s in sorted(record.subscriptions.items())
    ]
    status: dict[str, Any] = {
        "state": _STATES.get(record.state, "Active"),
        "connections": 1 if record.connected else 0,
        "lastSeen": _time(record.last_seen),
    }
    if agent:
        status["agent"] = agent
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": object_name(record.label),
            "labels": dict(MANAGED_BY),
            "annotations": {RECORD_ANNOTATION: json.dumps(record_to_json(record))},
        },
        "spec": {
            "id": record.label,
            "user": _user(record),
            "groups": list(groups),
            "target": _target(record),
            "pod": record.pod,
            "mode": _mode(record),
            "ports": ports,
            "startedAt": _time(record.created),
        },
        "status": status,
    }


def record_of(obj: dict[str, Any], *, now: float) -> SessionRecord | None:
    """The record a PodtapSession holds (None: not one the operator wrote, or unreadable)."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(RECORD_ANNOTATION)
    if not text:
        return None
    try:
        return record_from_json(json.loads(text), now=now)
    except (ValueError, KeyError, TypeError):
        return None
