"""Which part of a write is kept when a kind has a ``status`` subresource.

With ``/status`` served, the two endpoints split the object between two kinds of writers, as
the registry strategies do (``PrepareForCreate``/``PrepareForUpdate`` of the resource and of
its status): users and ``kubectl apply`` own everything but ``.status``, controllers own only
``.status``. So a create cannot set status, an update of the resource keeps the stored status
whatever the body says, and an update of ``/status`` keeps the stored object whatever the body
says except ``.status`` (and the managed fields the write has just computed for it). Without the
subresource, ``.status`` is an ordinary field and the body is taken whole.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

__all__ = ["Operation", "kept_for_write"]

Obj = dict[str, Any]
Operation = Literal["CREATE", "UPDATE"]


def kept_for_write(
    new: Obj, *, old: Obj | None, operation: Operation, subresource: str, has_status: bool
) -> Obj:
    """The object a write stores, from the body ``new`` and the stored ``old`` (a new dict)."""
    out = copy.deepcopy(new)
    if not has_status:
        return out
    if subresource == "status":
        if old is None:
            raise ValueError("a write to /status needs the stored object")
        kept = copy.deepcopy(old)
        managed = (new.get("metadata") or {}).get("managedFields")
        if managed is not None:
            kept.setdefault("metadata", {})["managedFields"] = copy.deepcopy(managed)
        if "status" in new:
            kept["status"] = out["status"]
        else:
            kept.pop("status", None)
        return kept
    if operation == "CREATE" or old is None:
        out.pop("status", None)
    elif "status" in old:
        out["status"] = copy.deepcopy(old["status"])
    else:
        out.pop("status", None)
    return out
