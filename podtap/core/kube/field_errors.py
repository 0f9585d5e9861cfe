"""apimachinery's ``field.Error``, worded as kube-apiserver words it.

Validation messages reach users inside a ``Status`` (``spec.user: Invalid value: "": at least one
of user or group must be specified``) and kubectl prints them as they are, so the shape is
copied from ``k8s.io/apimachinery/pkg/util/validation/field/errors.go``: ``PATH: TYPE: VALUE:
DETAIL``, a Go-quoted string value, ``[]string{"a", "b"}`` for a list (Go's ``%#v``), ``<nil>``
for a path that was never given. Several errors join as ``[e1, e2]`` (``utilerrors.Aggregate``),
dropping repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from podtap.core.kube.goquote import go_quote

__all__ = ["ErrorType", "FieldError", "aggregate", "go_value"]


class ErrorType(Enum):
    """The ``field.ErrorType`` values we raise, with the words Go prints for each."""

    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    REQUIRED = "Required value"
    FORBIDDEN = "Forbidden"


FieldValue = str | Sequence[str] | None


def go_value(value: FieldValue) -> str:
    """A bad value as ``ErrorBody`` prints it: ``%q`` for a string, ``%#v`` for a ``[]string``."""
    if value is None:
        return "[]string(nil)"
    if isinstance(value, str):
        return go_quote(value)
    return "[]string{" + ", ".join(go_quote(item) for item in value) + "}"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One ``*field.Error``; ``path`` is ``None`` where Go's path is a nil ``*field.Path``."""

    type: ErrorType
    path: str | None
    value: FieldValue
    detail: str = ""

    def __str__(self) -> str:
        body = self.type.value
        if self.type in (ErrorType.INVALID, ErrorType.NOT_SUPPORTED):
            body += ": " + go_value(self.value)
        if self.detail:
            body += ": " + self.detail
        return f"{'<nil>' if self.path is None else self.path}: {body}"


def aggregate(errors: Sequence[object], *, unique: bool = True) -> str:
    """``ErrorList.ToAggregate().Error()``: one error alone, several as ``[a, b]``.

    Repeats are dropped (``ToAggregate``) unless ``unique=False`` (``utilerrors.NewAggregate``).
    """
    messages = [str(error) for error in errors]
    if unique:
        messages = list(dict.fromkeys(messages))
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"
