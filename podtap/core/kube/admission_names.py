"""Object names and labels, checked per kind as ``ValidateObjectMeta`` checks them.

Each kind picks its name rule in kube-apiserver: most names are DNS subdomains, a Namespace is
a DNS-1123 label, a Service a DNS-1035 label (it becomes a DNS name and must start with a
letter), RBAC objects only have to be a path segment. A wrong one is the 422 users meet first
(``metadata.name: Invalid value: "My_App": a lowercase RFC 1123 subdomain must consist of ...``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from podtap.core.kube.admission_errors import Problem, Violation
from podtap.core.kube.label_syntax import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_key,
    is_label_value,
    max_len_error,
    regex_error,
)

__all__ = ["is_dns1035_label", "is_path_segment", "is_port_name", "validate_meta"]

_DNS1035_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_DNS1035_RE: Final = re.compile(_DNS1035_FMT)
_PORT_CHARS: Final = re.compile(r"[-a-z0-9]+")

NameRule = Callable[[str], list[str]]


def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: a Service's name."""
    errors = [max_len_error(63)] if len(value.encode()) > 63 else []
    if not _DNS1035_RE.fullmatch(value):
        errors.append(regex_error(_DNS1035_MSG, _DNS1035_FMT, "my-name", "abc-123"))
    return errors


def is_path_segment(value: str) -> list[str]:
    """``IsValidPathSegmentName``: RBAC names may be anything a URL path segment can carry."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def is_port_name(value: str) -> list[str]:
    """``IsValidPortName`` (an IANA service name): a container or service port's name."""
    errors = [max_len_error(15)] if len(value.encode()) > 15 else []
    if not _PORT_CHARS.fullmatch(value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


_BY_KIND: Final[dict[tuple[str, str], NameRule]] = {
    ("", "Namespace"): is_dns1123_label,
    ("", "Service"): is_dns1035_label,
    **{("rbac.authorization.k8s.io", kind): is_path_segment for kind in (
        "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")},
}  # fmt: skip


def _rule(group: str, kind: str) -> NameRule:
    return _BY_KIND.get((group, kind), is_dns1123_subdomain)


def _prefix(rule: NameRule) -> NameRule:
    """``maskTrailingDash``: a generateName may end in '-', the random suffix follows it."""
    return lambda value: rule(value[:-1] + "a" if len(value) > 1 and value[-1] == "-" else value)


def validate_meta(meta: dict[str, Any], *, group: str, kind: str) -> list[Violation]:
    """``ValidateObjectMeta``'s generateName, name and label checks, in its order."""
    rule = _rule(group, kind)
    out: list[Violation] = []
    generate = meta.get("generateName") or ""
    for message in _prefix(rule)(generate) if generate else ():
        out.append(Violation(Problem.INVALID, "metadata.generateName", generate, message))
    name = meta.get("name") or ""
    if not name and not generate:  # a generated name is made before validation runs
        why = "name or generateName is required"
        out.append(Violation(Problem.REQUIRED, "metadata.name", "", why))
    for message in rule(name) if name else ():
        out.append(Violation(Problem.INVALID, "metadata.name", name, message))
    out.extend(validate_labels(meta.get("labels") or {}, path="metadata.labels"))
    return out


def validate_labels(labels: dict[str, str], *, path: str) -> list[Violation]:
    """``ValidateLabels``: each key a qualified name, each value a label value (keys sorted)."""
    out: list[Violation] = []
    for key in sorted(labels):
        out.extend(Violation(Problem.INVALID, path, key, msg) for msg in is_label_key(key))
        value = labels[key]
        out.extend(Violation(Problem.INVALID, path, value, msg) for msg in is_label_value(value))
    return out
