"""The structured ``LabelSelector`` of Deployments, Services' policies, aggregation rules...

``{"matchLabels": {...}, "matchExpressions": [{"key", "operator", "values"}]}`` becomes a
:class:`~podtap.core.kube.selectors.Selector` as ``metav1.LabelSelectorAsSelector`` makes one:
a missing selector (``None``) matches nothing, an empty one everything, and only ``In``,
``NotIn``, ``Exists`` and ``DoesNotExist`` are operators here. :func:`to_label_selector` is the
way back (``metav1.ParseToLabelSelector``), which refuses ``>``/``<`` as Go does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from podtap.core.kube.goquote import go_quote
from podtap.core.kube.selector_parser import parse_requirements
from podtap.core.kube.selectors import (
    EVERYTHING,
    NOTHING,
    Operator,
    Requirement,
    Selector,
    SelectorError,
    new_requirement,
)

__all__ = ["from_label_selector", "matches_label_selector", "to_label_selector"]

_FROM_API: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}
_TO_API: Final = {op: name for name, op in _FROM_API.items()}


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """``LabelSelectorAsSelector``: ``None`` is ``Nothing``, ``{}`` is ``Everything``.

    Raises :class:`SelectorError` with Go's message for a bad key, value or operator.
    """
    if selector is None:
        return NOTHING
    match_labels: Mapping[str, str] = selector.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = [
        new_requirement(key, Operator.EQUALS, [value])
        for key, value in sorted(match_labels.items())
    ]
    for expression in expressions:
        name = expression.get("operator", "")
        if name not in _FROM_API:
            raise SelectorError(f"{go_quote(str(name))} is not a valid pod selector operator")
        values = list(expression.get("values") or [])
        requirements.append(new_requirement(expression.get("key", ""), _FROM_API[name], values))
    return Selector.of(requirements)


def matches_label_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` match the structured ``selector`` (raises :class:`SelectorError`)."""
    return from_label_selector(selector).matches(labels)


def _expression(requirement: Requirement) -> dict[str, Any]:
    if requirement.operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        raise SelectorError(
            f"{go_quote(requirement.operator.value)} isn't supported in label selectors"
        )
    entry: dict[str, Any] = {"key": requirement.key, "operator": _TO_API[requirement.operator]}
    if requirement.values:
        entry["values"] = sorted(set(requirement.values))
    return entry


def to_label_selector(text: str) -> dict[str, Any]:
    """``ParseToLabelSelector``: the structured form of a selector string.

    ``=`` and ``==`` land in ``matchLabels``, the rest in ``matchExpressions`` in key order.
    """
    try:
        requirements = parse_requirements(text)
    except SelectorError as error:
        raise SelectorError(f'couldn\'t parse the selector string "{text}": {error}') from None
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for requirement in requirements:
        if requirement.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS):
            match_labels[requirement.key] = requirement.values[0]
        else:
            expressions.append(_expression(requirement))
    return {"matchLabels": match_labels, "matchExpressions": expressions}
