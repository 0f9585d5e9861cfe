"""Admission like a real kube-apiserver: decode, default, split status, validate — or refuse.

One pure function stands between a request body and the store. It runs the server's steps in
the server's order, because the order decides which error a bad manifest earns:

1. the body's ``apiVersion``/``kind`` against the served kind (a kind nobody registered is a 400
   ``no kind "deployment" is registered for version "apps/v1"``, case matters);
2. decoding: for a built-in, into its Go structs (:mod:`admission_decode`: wrong types are 400s,
   unknown fields dropped); for a custom resource, pruning by the CRD's structural schema
   (:mod:`admission_prune`). Unknown fields then follow ``fieldValidation``: ``Strict``
   (kubectl's default) refuses them all in one 400, ``Warn`` returns them as warnings (the shell
   sends each as ``Warning: 299 - "unknown field \\"spec.foo\\""``), ``Ignore`` drops them
   silently;
3. a custom resource's ``null`` pruning and schema ``default`` s;
4. the status subresource split (:mod:`admission_status`);
5. validation: the hand-written rules of built-ins (:mod:`admission_rules`) or the CRD's schema
   (:mod:`admission_crd`), all violations in one 422.

Built-in defaulting (``SetDefaults_*``) is not done here; the rules treat an unset defaulted
field as its default.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final, Literal

from podtap.core.kube.admission_crd import validate_custom
from podtap.core.kube.admission_decode import DecodeError, decode
from podtap.core.kube.admission_errors import Violation, cannot_handle, refuse_invalid
from podtap.core.kube.admission_names import validate_meta
from podtap.core.kube.admission_prune import apply_defaults, drop_nulls, prune
from podtap.core.kube.admission_rules import validate_builtin
from podtap.core.kube.admission_schemas import root_for
from podtap.core.kube.admission_status import Operation, kept_for_write
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.refusal import bad_request

__all__ = ["Admitted", "FieldValidation", "KindInfo", "admit", "warning_header"]

Obj = dict[str, Any]
FieldValidation = Literal["Strict", "Warn", "Ignore"]
_OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_SCHEME: Final = "k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30"


@dataclass(frozen=True, slots=True)
class KindInfo:
    """The kind a request path serves; ``subresource`` is ``""`` or ``"status"``."""

    group: str
    version: str
    kind: str
    subresource: str = ""
    has_status: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True, slots=True)
class Admitted:
    """The object to store and the warnings to send with the answer."""

    object: Obj
    warnings: tuple[str, ...] = ()


def warning_header(text: str) -> str:
    """A ``Warning`` header value as the server writes it: ``299 - "text"``."""
    return f"299 - {go_quote(text)}"


def _version_of(api_version: str) -> str:
    return api_version.rpartition("/")[2]


def _check_kind(obj: Obj, info: KindInfo) -> Obj:
    """Fill a missing apiVersion/kind from the path, refuse one the path does not serve."""
    out = copy.deepcopy(obj)
    api_version = out.setdefault("apiVersion", info.api_version) or info.api_version
    kind = out.setdefault("kind", info.kind) or info.kind
    out["apiVersion"], out["kind"] = api_version, kind
    group, _, version = api_version.rpartition("/")
    if kind != info.kind or api_version != info.api_version:
        if root_for(group=group, version=version, kind=kind) is None:
            error = (
                f"no kind {go_quote(kind)} is registered for version {go_quote(api_version)}"
                f" in scheme {go_quote(_SCHEME)}"
            )
            raise cannot_handle(kind=kind, version=version, into=info.kind, error=error)
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API"
            f" version ({info.api_version})"
        )
    return out


def _unknown(
    paths: list[str], *, obj: Obj, info: KindInfo, mode: FieldValidation
) -> tuple[str, ...]:
    """Apply ``fieldValidation`` to the unknown fields met while decoding."""
    messages = tuple(f"unknown field {go_quote(path)}" for path in paths)
    if not messages or mode == "Ignore":
        return ()
    if mode == "Warn":
        return messages
    error = "strict decoding error: " + ", ".join(messages)
    raise cannot_handle(
        kind=obj["kind"], version=_version_of(obj["apiVersion"]), into=info.kind, error=error
    )


def _decode(obj: Obj, *, root: str, under: str, info: KindInfo) -> tuple[Obj, list[str]]:
    try:
        decoded = decode(obj, root=root, under=under)
    except DecodeError as error:
        raise cannot_handle(
            kind=info.kind, version=info.version, into=info.kind, error=str(error)
        ) from None
    return decoded.object, decoded.unknown


def _refuse(obj: Obj, *, group: str, info: KindInfo, violations: list[Violation]) -> None:
    if violations:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise refuse_invalid(group=group, kind=info.kind, name=name, violations=violations)


def _builtin(obj: Obj, *, info: KindInfo, mode: FieldValidation) -> tuple[Obj, tuple[str, ...]]:
    root = root_for(group=info.group, version=info.version, kind=info.kind)
    if root is None:
        return obj, ()
    decoded, unknown = _decode(obj, root=root, under="", info=info)
    return decoded, _unknown(unknown, obj=obj, info=info, mode=mode)


def _served_version(crd: Obj, version: str) -> Obj:
    for served in (crd.get("spec") or {}).get("versions") or []:
        if served.get("name") == version:
            return dict(served)
    raise ValueError(f"the CRD does not serve version {version}")


def _custom(
    obj: Obj, *, info: KindInfo, schema: Obj, mode: FieldValidation
) -> tuple[Obj, tuple[str, ...]]:
    unknown = prune(obj, schema)
    meta, meta_unknown = _decode(
        obj.get("metadata") or {}, root=_OBJECT_META, under="metadata", info=info
    )
    if "metadata" in obj:
        obj["metadata"] = meta
    warnings = _unknown(sorted(unknown + meta_unknown), obj=obj, info=info, mode=mode)
    drop_nulls(obj, schema)
    apply_defaults(obj, schema)
    return obj, warnings


def admit(
    obj: Obj,
    *,
    operation: Operation,
    kind_info: KindInfo,
    crd: Obj | None = None,
    field_validation: FieldValidation = "Strict",
    old: Obj | None = None,
) -> Admitted:
    """The object to store for a write of ``obj``, or a :class:`Refusal` raised.

    ``crd`` is the CustomResourceDefinition when ``kind_info`` is a custom kind; ``old`` is the
    stored object for an update (needed by the status subresource split).
    """
    body = _check_kind(obj, kind_info)
    if crd is None:
        decoded, warnings = _builtin(body, info=kind_info, mode=field_validation)
        has_status, group = kind_info.has_status, kind_info.group
    else:
        served = _served_version(crd, kind_info.version)
        schema = (served.get("schema") or {}).get("openAPIV3Schema") or {}
        decoded, warnings = _custom(body, info=kind_info, schema=schema, mode=field_validation)
        has_status = "status" in (served.get("subresources") or {})
        group = (crd.get("spec") or {}).get("group", kind_info.group)
    kept = kept_for_write(
        decoded,
        old=old,
        operation=operation,
        subresource=kind_info.subresource,
        has_status=has_status,
    )
    if crd is None:
        violations = validate_builtin(kept, group=group, kind=kind_info.kind)
    else:
        violations = validate_meta(kept.get("metadata") or {}, group=group, kind=kind_info.kind)
        violations += validate_custom(kept, schema=schema)
    _refuse(kept, group=group, info=kind_info, violations=violations)
    return Admitted(object=kept, warnings=warnings)
