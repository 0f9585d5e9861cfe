"""A request the server refuses, carried as the ``Status`` object kube-apiserver would send.

The pure modules here decide; the HTTP shell only has to write :meth:`Refusal.status` with
:attr:`Refusal.code`. Each constructor mirrors one of apimachinery's ``errors.NewXxx``, whose
message shapes clients parse and print (``pods "x" is forbidden: ...``), including the
``details`` it fills (``kind`` is the *resource* for Forbidden, the kind for Invalid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.core.kube.goquote import go_quote

__all__ = ["Refusal", "bad_request", "failure_status", "forbidden", "invalid", "qualified"]


def failure_status(
    *, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``v1.Status`` body of a failed request, keys in the order the server writes them
    (``details`` only when given). Every refusal of the API server is written by this."""
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        out["details"] = dict(details)
    out["code"] = code
    return out


class Refusal(Exception):
    """An error response: HTTP ``code``, ``reason`` (``Forbidden``, ``BadRequest``), ``message``."""

    def __init__(
        self, *, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details) if details is not None else None

    def status(self) -> dict[str, Any]:
        """The ``v1.Status`` body, keys in the order the server writes them."""
        details = self.details
        return failure_status(
            code=self.code,
            reason=self.reason,
            message=self.message,
            details=None if details is None else {k: v for k, v in details.items() if v},
        )


def qualified(group: str, resource: str) -> str:
    """``GroupResource.String()``: ``pods``, ``deployments.apps``."""
    return f"{resource}.{group}" if group else resource


def forbidden(*, group: str, resource: str, name: str, error: str) -> Refusal:
    """``errors.NewForbidden``: ``RESOURCE "NAME" is forbidden: ERROR`` (403)."""
    if not resource and not group:
        message = f"forbidden: {error}"
    elif not name:
        message = f"{qualified(group, resource)} is forbidden: {error}"
    else:
        message = f"{qualified(group, resource)} {go_quote(name)} is forbidden: {error}"
    details = {"name": name, "group": group, "kind": resource}
    return Refusal(code=403, reason="Forbidden", message=message, details=details)


def bad_request(message: str) -> Refusal:
    """``errors.NewBadRequest`` (400, no details)."""
    return Refusal(code=400, reason="BadRequest", message=message)


def invalid(*, group: str, kind: str, name: str, errors: str) -> Refusal:
    """``errors.NewInvalid``: ``KIND.GROUP "NAME" is invalid: ERRORS`` (422).

    ``errors`` is the aggregated field-error text; causes are left to the caller's schema checks.
    """
    qualified_kind = f"{kind}.{group}" if group else kind
    message = f"{qualified_kind} {go_quote(name)} is invalid"
    if errors:
        message += f": {errors}"
    details = {"name": name, "group": group, "kind": kind}
    return Refusal(code=422, reason="Invalid", message=message, details=details)
