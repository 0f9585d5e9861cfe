"""Which fields each kind can be selected by, and the value each field has in an object.

A real server refuses an unknown field before it lists anything, with one of two messages:
kinds that register their own list (``pkg/apis/core/v1/conversion.go`` and friends) say
``field label not supported: x``; every other kind falls back to
``"x" is not a known field selector: only "metadata.name", "metadata.namespace"``. Both are
``400 BadRequest``. Custom resources support ``metadata.name``, ``metadata.namespace`` when
namespaced, and the CRD's ``selectableFields``. The values come from each registry's
``ToSelectableFields``: strings as they are, numbers in decimal, booleans ``true``/``false``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from podtap.core.kube.field_selectors import FieldSelector
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.selectors import SelectorError

__all__ = [
    "SUPPORTED_FIELDS",
    "check_field_selector",
    "convert_field_label",
    "selectable_fields",
]

GroupKind = tuple[str, str]
_NAME: Final = "metadata.name"
_NAMESPACE: Final = "metadata.namespace"
_META: Final = (_NAME, _NAMESPACE)
_EVENT_FIELDS: Final = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

#: (group, kind) -> the field labels its conversion function accepts.
SUPPORTED_FIELDS: Final[Mapping[GroupKind, tuple[str, ...]]] = {
    ("", "Pod"): (
        *_META,
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        "spec.host",
    ),
    ("", "Node"): (_NAME, "spec.unschedulable"),
    ("", "ReplicationController"): (*_META, "status.replicas"),
    ("", "Event"): (*_EVENT_FIELDS, *_META),
    ("", "Namespace"): ("status.phase", _NAME),
    ("", "Secret"): ("type", *_META),
    ("", "Service"): (*_META, "spec.clusterIP", "spec.type"),
    ("apps", "ReplicaSet"): (*_META, "status.replicas"),
    ("batch", "Job"): (*_META, "status.successful"),
    ("certificates.k8s.io", "CertificateSigningRequest"): (_NAME, "spec.signerName"),
}
#: Old clients' spellings the server rewrites before matching.
_RENAMED: Final = {("", "Pod", "spec.host"): "spec.nodeName"}


def convert_field_label(
    group: str,
    kind: str,
    label: str,
    value: str,
    *,
    custom: bool = False,
    namespaced: bool = True,
    selectable: Collection[str] = (),
) -> tuple[str, str]:
    """``Scheme.ConvertFieldLabel``: ``(label, value)`` to match on, or :class:`SelectorError`.

    ``custom`` marks a custom resource, ``selectable`` its CRD's ``selectableFields`` paths
    (``spec.color``, without the leading dot).
    """
    if custom:
        if label == _NAME or (namespaced and label == _NAMESPACE) or label in selectable:
            return label, value
        raise SelectorError(f"field label not supported: {label}")
    supported = SUPPORTED_FIELDS.get((group, kind))
    if supported is None:
        if label in _META:
            return label, value
        raise SelectorError(
            f"{go_quote(label)} is not a known field selector: only "
            f"{go_quote(_NAME)}, {go_quote(_NAMESPACE)}"
        )
    if label not in supported:
        raise SelectorError(f"field label not supported: {label}")
    return _RENAMED.get((group, kind, label), label), value


def check_field_selector(
    selector: FieldSelector,
    *,
    group: str,
    kind: str,
    custom: bool = False,
    namespaced: bool = True,
    selectable: Collection[str] = (),
) -> FieldSelector:
    """The selector with every label converted for ``kind``; the first bad one raises."""

    def convert(label: str, value: str) -> tuple[str, str]:
        return convert_field_label(
            group, kind, label, value, custom=custom, namespaced=namespaced, selectable=selectable
        )

    return selector.transform(convert)


def _get(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pod_ip(obj: Mapping[str, Any]) -> str:
    ips = _get(obj, "status.podIPs") or []
    if ips and isinstance(ips[0], Mapping):
        return _text(ips[0].get("ip"))
    return _text(_get(obj, "status.podIP"))


def _event_source(obj: Mapping[str, Any]) -> str:
    return _text(_get(obj, "source.component")) or _text(obj.get("reportingController"))


_SPECIAL: Final[Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "Pod/status.podIP": _pod_ip,
    "Pod/spec.hostNetwork": lambda obj: _text(bool(_get(obj, "spec.hostNetwork"))),
    "Node/spec.unschedulable": lambda obj: _text(bool(_get(obj, "spec.unschedulable"))),
    "Job/status.successful": lambda obj: _text(_get(obj, "status.succeeded") or 0),
    "ReplicaSet/status.replicas": lambda obj: _text(_get(obj, "status.replicas") or 0),
    "ReplicationController/status.replicas": lambda obj: _text(_get(obj, "status.replicas") or 0),
    "Event/source": _event_source,
    "Event/reportingComponent": lambda obj: _text(obj.get("reportingController")),
}


def selectable_fields(
    group: str,
    kind: str,
    obj: Mapping[str, Any],
    *,
    namespaced: bool = True,
    selectable: Collection[str] = (),
) -> dict[str, str]:
    """The field set an object of ``kind`` is matched against (``ToSelectableFields``)."""
    fields = {_NAME: _text(_get(obj, _NAME))}
    if namespaced:
        fields[_NAMESPACE] = _text(_get(obj, _NAMESPACE))
    for label in (*SUPPORTED_FIELDS.get((group, kind), ()), *selectable):
        if label in fields or (group, kind, label) in _RENAMED or label == "status.podIPs":
            continue
        special = _SPECIAL.get(f"{kind}/{label}")
        fields[label] = special(obj) if special else _text(_get(obj, label))
    return fields
