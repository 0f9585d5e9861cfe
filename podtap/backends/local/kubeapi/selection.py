"""`?labelSelector=` and `?fieldSelector=` as a predicate over stored objects.

Parsing and matching are apimachinery's, in podtap/core/kube; what is here is the server's
part: both selectors are checked before anything is listed, watched or deleted, so a bad one
is a 400 with the real server's message and never a silently wider answer (a selector
ignored by `kubectl delete -l` would delete everything). Field labels are converted per kind
as `Scheme.ConvertFieldLabel` does: built-ins by their registered field sets, custom
resources by `metadata.name` and, when namespaced, `metadata.namespace`.
"""

from __future__ import annotations

from collections.abc import Callable

from podtap.backends.local.kubeapi.resources import BUILTINS, ResourceType
from podtap.backends.local.kubeapi.status import bad_request
from podtap.backends.local.kubeapi.store import Obj
from podtap.core.kube.field_labels import check_field_selector, selectable_fields
from podtap.core.kube.field_selectors import parse_field_selector
from podtap.core.kube.selector_parser import parse_selector
from podtap.core.kube.selectors import SelectorError

Matcher = Callable[[Obj], bool]


def object_matcher(rt: ResourceType, *, label_selector: str, field_selector: str) -> Matcher:
    """The predicate both selectors make for objects of `rt`; 400 BadRequest when one is bad."""
    custom = rt not in BUILTINS
    try:
        labels = parse_selector(label_selector)
        fields = check_field_selector(
            parse_field_selector(field_selector),
            group=rt.group,
            kind=rt.kind,
            custom=custom,
            namespaced=rt.namespaced,
        )
    except SelectorError as e:
        raise bad_request(str(e)) from e
    if labels.empty and fields.empty:
        return lambda _obj: True

    def matches(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if not labels.matches(meta.get("labels") or {}):
            return False
        if fields.empty:
            return True
        known = selectable_fields(rt.group, rt.kind, obj, namespaced=rt.namespaced)
        return fields.matches(known)

    return matches
