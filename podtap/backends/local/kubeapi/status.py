"""`Status` error objects, worded exactly as kube-apiserver words them.

Clients branch on `reason` and `code` (kubectl's "Error from server (NotFound)", client-go's
IsConflict, Helm's retry on Conflict) and people read `message`, so each constructor copies
the real server's text from k8s.io/apimachinery/pkg/api/errors. Raised as `ApiError` anywhere
in a handler; the app turns it into the JSON body and HTTP code in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.core.kube.refusal import failure_status


@dataclass
class ApiError(Exception):
    """An error the API answers with: HTTP `code`, a `reason`, a message and details."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return failure_status(
            code=self.code,
            reason=self.reason,
            message=self.message,
            details=self.details or None,
        )


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if rt.group:
        out["group"] = rt.group
    out["kind"] = rt.plural
    return out


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    msg = f'{rt.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    msg = f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", msg, _details(rt, name))


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass(frozen=True)
class Cause:
    """One field error of an Invalid answer (`metadata.name: Required value: ...`)."""

    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str


def invalid(rt: ResourceType, name: str, causes: list[Cause]) -> ApiError:
    """422: `Pod "x" is invalid: metadata.name: Required value: ...`; several joined as a list."""
    parts = [f"{c.field}: {c.message}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = [
        {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
    ]
    return ApiError(422, "Invalid", f'{rt.qualified_kind} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    msg = (
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}"
    )
    if content_type:
        msg = f'the media type "{content_type}" is not supported yet; ' + msg
    return ApiError(415, "UnsupportedMediaType", msg)


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(*, user: str, verb: str, rt: ResourceType, namespace: str, name: str) -> ApiError:
    """403 worded as the RBAC authorizer's denial (`kubectl auth can-i` users read it)."""
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    msg = (
        f"{rt.qualified}{f' {chr(34)}{name}{chr(34)}' if name else ''} is forbidden: "
        f'User "{user}" cannot {verb} resource "{rt.plural}" in API group "{rt.group}"{where}'
    )
    details = _details(rt, name)
    if not name:
        details.pop("name")
    return ApiError(403, "Forbidden", msg, details)


def expired(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def not_yet(what: str) -> ApiError:
    """A seam: a feature another module will supply (patch, selectors, RBAC, impersonation)."""
    return ApiError(501, "NotImplemented", f"{what} is not supported yet by this server")
