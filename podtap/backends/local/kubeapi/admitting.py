"""Admission of every create and update: the body decoded and validated as the real server does.

`podtap.core.kube.admission.admit` is kube-apiserver's decode → prune → status split →
validate, in its order (which decides the error a bad manifest earns: a wrong type is a 400
from the decoder, a missing container image a 422 from validation). Here is the request's
part: which kind the path serves, the CRD of a custom kind, `?fieldValidation=` (kubectl and
Helm send `Strict`; a client that sends nothing gets the server default, `Warn`), and the
warnings the answer carries as `Warning: 299 - "..."` headers. Patches and applies come
through here too, as their results are stored by the same create and update.
"""

from __future__ import annotations

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.kinds import CRDS
from podtap.backends.local.kubeapi.resources import BUILTINS
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import bad_request
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.core.kube.admission import FieldValidation, KindInfo, admit
from podtap.core.kube.admission_status import Operation

MODES: tuple[FieldValidation, ...] = ("Strict", "Warn", "Ignore")


def field_validation(value: str) -> FieldValidation:
    """`?fieldValidation=`: one of the three modes, `Warn` when not given."""
    for mode in MODES:
        if value == mode:
            return mode
    if not value:
        return "Warn"
    raise bad_request(
        f"fieldValidation parameter unsupported: {value}, valid values are Ignore, Warn, Strict"
    )


def admitted(
    ctx: ApiContext,
    target: Target,
    obj: Obj,
    *,
    operation: Operation,
    old: Obj | None,
    mode: FieldValidation,
    warnings: list[str],
) -> Obj:
    """The body as it may be stored (unknown fields dropped), or the server's 400/422."""
    rt = target.rt
    subresource = "status" if target.subresource == "status" else ""
    info = KindInfo(rt.group, rt.version, rt.kind, subresource, rt.has_status())
    crd = None
    if rt not in BUILTINS:
        crd = ctx.store.get(Key(CRDS.group, CRDS.plural, "", f"{rt.plural}.{rt.group}"))
    result = admit(
        obj, operation=operation, kind_info=info, crd=crd, field_validation=mode, old=old
    )
    warnings.extend(result.warnings)
    if not subresource and rt in BUILTINS:
        for check in ctx.admission_checks:
            check(rt.kind, result.object)
    return result.object
