"""A pod's graceful deletion, as kube-apiserver's pod strategy decides it (no I/O).

`DELETE pod` does not remove a pod that runs on a node: it sets `deletionTimestamp` (now plus
the grace) and `deletionGracePeriodSeconds`, and the kubelet, once it has stopped the
containers (SIGTERM, SIGKILL after the grace), deletes it again with grace 0 — only then does
it go. The grace is the request's `gracePeriodSeconds`, else the pod's
`terminationGracePeriodSeconds` (30 by default); it is 0 for a pod no node runs (no
`nodeName`) or that has finished (Succeeded, Failed), and a negative one counts as 1. A later
DELETE may shorten a pending grace, never lengthen it.
"""

from __future__ import annotations

import copy
import datetime

from podtap.backends.local.kubeapi.store import Obj

DEFAULT_GRACE = 30
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def requested(options: Obj) -> int | None:
    """The DeleteOptions' `gracePeriodSeconds` (body or query), None when not given."""
    value = options.get("gracePeriodSeconds")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def period(obj: Obj, *, asked: int | None) -> int:
    """The grace a deletion of the pod `obj` starts with (0: at once)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    seconds = asked if asked is not None else spec.get("terminationGracePeriodSeconds")
    seconds = DEFAULT_GRACE if seconds is None else int(seconds)
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    return 1 if seconds < 0 else seconds


def pending(obj: Obj) -> bool:
    """The object waits for its kubelet (a grace not yet cut to 0)."""
    return int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) > 0


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime(_FORMAT)


def marked(obj: Obj, seconds: int) -> None:
    """Set the deletion's timestamp and grace on `obj` (in place), if not set yet."""
    meta = obj["metadata"]
    now = datetime.datetime.now(datetime.UTC)
    meta.setdefault("deletionTimestamp", _stamp(now + datetime.timedelta(seconds=seconds)))
    meta.setdefault("deletionGracePeriodSeconds", seconds)


def shortened(obj: Obj, seconds: int) -> Obj | None:
    """`obj` with its pending grace cut to `seconds`, None when that is not shorter."""
    meta = obj["metadata"]
    current = int(meta.get("deletionGracePeriodSeconds") or 0)
    if seconds >= current:
        return None
    out = copy.deepcopy(obj)
    start = datetime.datetime.strptime(str(meta["deletionTimestamp"]), _FORMAT).replace(
        tzinfo=datetime.UTC
    ) - datetime.timedelta(seconds=current)
    out["metadata"]["deletionTimestamp"] = _stamp(start + datetime.timedelta(seconds=seconds))
    out["metadata"]["deletionGracePeriodSeconds"] = seconds
    return out
