"""PATCH and server-side apply of the embedded API server, as pure functions over JSON objects.

What the API server helper calls, by the request's ``Content-Type``:

``application/merge-patch+json``
    ``merge_patch(live, patch)`` (RFC 7386) — and for custom resources everything kubectl
    sends, since kubectl never sends a strategic patch to a CR.
``application/json-patch+json``
    ``json_patch(live, ops)`` (RFC 6902 as ``evanphx/json-patch`` applies it, quirks included).
``application/strategic-merge-patch+json``
    ``strategic_merge_patch(live, patch, kind=GroupVersionKind.of(live))``: lists merge by the
    patch merge keys of the real OpenAPI, with the ``$patch``, ``$retainKeys``,
    ``$setElementOrder/…`` and ``$deleteFromPrimitiveList/…`` directives kubectl sends. For a
    kind the table does not know (a custom resource) it raises the 415 the real server answers.
``application/apply-patch+yaml``
    ``server_side_apply(live_or_None, applied, manager=…, force=…, now=…)`` →
    ``ApplyResult(object, conflicts)``; conflicts non-empty means answer ``conflict_status``'s
    409 and store nothing. ``object`` carries the new ``metadata.managedFields``.

After any other write (POST, PUT, merge/JSON/strategic PATCH) call
``record_update(old_or_None, new, manager=manager_for(field_manager, user_agent), now=…)`` so
the manager's fields are recorded as the real server records them (operation ``Update``).

Every failure is a :class:`PatchError` carrying what the Status needs (``code``, ``reason``,
``message``, optional ``causes``). Inputs are never mutated; results share no structure with
them. ``now`` is an RFC 3339 UTC time (``2026-01-02T03:04:05Z``) so that tests stay
deterministic. Schemas: :mod:`podtap.core.kube.patch_schema` (built-in kinds from
``patch_keys.json``; a CRD's ``openAPIV3Schema`` through ``type_from_openapi``, passed to apply
as ``schema=``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from podtap.core.kube.refusal import failure_status

__all__ = ["PatchError", "bad_request", "json_equal", "merge_patch"]


@dataclass
class PatchError(Exception):
    """A patch the server refuses, worded as kube-apiserver words the ``Status``."""

    message: str
    code: int = 422
    reason: str = "Invalid"
    causes: list[dict[str, str]] = field(default_factory=list)
    # What the library said, when the Status hides it (JSON patch failures answer a generic
    # "the server rejected our request ..." and keep this for logs).
    detail: str = ""

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        """The ``Status`` object to answer with."""
        return failure_status(
            code=self.code,
            reason=self.reason,
            message=self.message,
            details={"causes": list(self.causes)} if self.causes else None,
        )


def bad_request(message: str) -> PatchError:
    return PatchError(message, code=400, reason="BadRequest")


def json_equal(a: Any, b: Any) -> bool:
    """Equality of decoded JSON, where ``true`` is not ``1`` (Python says it is) but ``1`` is
    ``1.0`` (Go decodes both to float64)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


def merge_patch(live: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces.

    A non-object patch replaces the document, as the RFC says; the API server then refuses
    the result when it is not an object of the right kind, not here.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(live) if isinstance(live, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
