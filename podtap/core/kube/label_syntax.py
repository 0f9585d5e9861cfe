"""Label keys and values, DNS labels and subdomains: the syntax checks of apimachinery.

Each check returns the list of complaints apimachinery returns (empty when valid), in its words
(``k8s.io/apimachinery/pkg/api/validate/content``), because those words end up in the ``400``
a bad selector earns and in the ``422`` a bad object earns. Lengths are counted in bytes, as Go's
``len`` counts them.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_key",
    "is_label_value",
]

_KEY_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_KEY_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_VALUE_FMT: Final = f"({_KEY_FMT})?"
_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS_SUBDOMAIN_FMT: Final = _DNS_LABEL_FMT + "(\\." + _DNS_LABEL_FMT + ")*"
_DNS_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_KEY_RE: Final = re.compile(_KEY_FMT)
_VALUE_RE: Final = re.compile(_VALUE_FMT)
_DNS_LABEL_RE: Final = re.compile(_DNS_LABEL_FMT)
_DNS_SUBDOMAIN_RE: Final = re.compile(_DNS_SUBDOMAIN_FMT)
_MAX_LABEL: Final = 63
_MAX_SUBDOMAIN: Final = 253


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """``content.RegexError``: the message, its examples and the regex it was checked with."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    """``content.MaxLenError``."""
    return f"must be no more than {length} bytes"


def _too_long(value: str, limit: int) -> bool:
    return len(value.encode()) > limit


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: a namespace name, a service-account's namespace."""
    errors = [max_len_error(_MAX_LABEL)] if _too_long(value, _MAX_LABEL) else []
    if not _DNS_LABEL_RE.fullmatch(value):
        if _DNS_SUBDOMAIN_RE.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_DNS_LABEL_MSG, _DNS_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: most object names, a label key's prefix."""
    errors = [max_len_error(_MAX_SUBDOMAIN)] if _too_long(value, _MAX_SUBDOMAIN) else []
    if not _DNS_SUBDOMAIN_RE.fullmatch(value):
        errors.append(regex_error(_DNS_SUBDOMAIN_MSG, _DNS_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_label_key(value: str) -> list[str]:
    """``IsLabelKey`` (a "qualified name"): ``[PREFIX/]NAME``, the prefix a DNS subdomain."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_KEY_MSG, _KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + error for error in is_dns1123_subdomain(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif _too_long(name, _MAX_LABEL):
        errors.append("name part " + max_len_error(_MAX_LABEL))
    if not _KEY_RE.fullmatch(name):
        errors.append(
            "name part " + regex_error(_KEY_MSG, _KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """``IsLabelValue``: empty, or up to 63 bytes of ``[-A-Za-z0-9_.]`` framed by alphanumerics."""
    errors = [max_len_error(_MAX_LABEL)] if _too_long(value, _MAX_LABEL) else []
    if not _VALUE_RE.fullmatch(value):
        errors.append(regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors
