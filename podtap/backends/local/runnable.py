"""Admission by the node: a workload it cannot run is refused when written, not left idle.

kube-apiserver's schema admission accepts a Deployment of `image: nginx` and nothing else;
the embedded cluster runs commands, not images, so such a pod could never start. Rather than
store it and show nothing (or a pod Pending for ever), the API refuses it with a 422 naming
the field, as a real server refuses what its admission plugins do not allow. The rules are
the local models' (`manifests.KINDS`), applied to the kinds the node runs; their metadata
rules are left to the API's own (which allows more names than a pod's DNS label).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from podtap.backends.local.kubeapi.resources import BUILTINS
from podtap.backends.local.kubeapi.status import Cause, invalid
from podtap.backends.local.manifests import KINDS

RUN_KINDS = ("Pod", "Deployment", "StatefulSet")


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_runnable(kind: str, obj: dict[str, Any]) -> None:
    """Raise the 422 Invalid a pod (or a workload's pod template) the node cannot run earns."""
    if kind not in RUN_KINDS:
        return
    try:
        KINDS[kind].model_validate(obj)
    except ValidationError as exc:
        causes = [
            Cause(
                _field(e["loc"]) or "spec",
                "FieldValueInvalid",
                f"Invalid value: the embedded cluster cannot run this: "
                f"{str(e['msg']).removeprefix('Value error, ')}",
            )
            for e in exc.errors()
            if not e["loc"] or e["loc"][0] != "metadata"
        ]
        if causes:
            rt = next(r for r in BUILTINS if r.kind == kind)
            name = str((obj.get("metadata") or {}).get("name", ""))
            raise invalid(rt, name, causes) from None
