"""``SubjectAccessReview``, ``SelfSubjectAccessReview`` and ``SelfSubjectRulesReview``, evaluated.

``kubectl auth can-i VERB RESOURCE`` creates a SelfSubjectAccessReview and prints ``yes`` or
``no`` from ``status.allowed``; ``kubectl auth can-i --list`` creates a SelfSubjectRulesReview
and prints its rules; controllers and webhooks create SubjectAccessReviews about others. Each
function takes the review object as sent and returns its ``status`` as the server fills it:
``allowed`` always, ``reason`` and ``evaluationError`` only when not empty (Go's
``omitempty``). RBAC never denies outright, so ``denied`` is never set. A malformed review is
refused with the server's 422 (:class:`~podtap.core.kube.refusal.Refusal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from podtap.core.kube.field_errors import aggregate
from podtap.core.kube.field_selectors import parse_field_selector
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.rbac import Attributes, Policy, authorize, rules_for
from podtap.core.kube.refusal import bad_request, invalid
from podtap.core.kube.selector_parser import parse_selector
from podtap.core.kube.selectors import SelectorError
from podtap.core.kube.users import UserInfo

__all__ = [
    "self_subject_access_review",
    "self_subject_rules_review",
    "subject_access_review",
]

_GROUP: Final = "authorization.k8s.io"


def _non_resource_value(attrs: Mapping[str, Any]) -> str:
    path, verb = go_quote(attrs.get("path", "")), go_quote(attrs.get("verb", ""))
    return f"authorization.NonResourceAttributes{{Path:{path}, Verb:{verb}}}"


def _spec_errors(spec: Mapping[str, Any], *, self_review: bool) -> list[str]:
    """``ValidateSubjectAccessReviewSpec`` (and its Self variant), in Go's words and order."""
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    errors = []
    if resource is not None and non_resource is not None:
        errors.append(
            f"spec.nonResourceAttributes: Invalid value: {_non_resource_value(non_resource)}: "
            "cannot be specified in combination with resourceAttributes"
        )
    if resource is None and non_resource is None:
        errors.append(
            'spec.resourceAttributes: Invalid value: "null": '
            "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        )
    if not self_review and not spec.get("user") and not spec.get("groups"):
        errors.append(
            f"spec.user: Invalid value: {go_quote(spec.get('user') or '')}: "
            "at least one of user or group must be specified"
        )
    return errors


def _selector_errors(attrs: Mapping[str, Any]) -> list[str]:
    """``BuildEvaluationError``'s notes on raw selectors RBAC would have ignored anyway."""
    notes = []
    for key, parse in (("fieldSelector", parse_field_selector), ("labelSelector", parse_selector)):
        raw = (attrs.get(key) or {}).get("rawSelector")
        if raw:
            try:
                parse(raw)
            except SelectorError:
                notes.append(f"spec.resourceAttributes.{key} ignored due to parse error")
    return notes


def _attributes(user: UserInfo, spec: Mapping[str, Any]) -> Attributes:
    resource = spec.get("resourceAttributes")
    if resource is None:
        non_resource = spec.get("nonResourceAttributes") or {}
        return Attributes(
            user,
            non_resource.get("verb", ""),
            resource_request=False,
            path=non_resource.get("path", ""),
        )
    return Attributes(
        user,
        resource.get("verb", ""),
        api_group=resource.get("group", ""),
        resource=resource.get("resource", ""),
        subresource=resource.get("subresource", ""),
        name=resource.get("name", ""),
        namespace=resource.get("namespace", ""),
        api_version=resource.get("version") or "*",
    )


def _evaluate(user: UserInfo, spec: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    decision = authorize(_attributes(user, spec), policy=policy)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    notes = _selector_errors(spec.get("resourceAttributes") or {})
    if notes:
        status["evaluationError"] = "; ".join(notes)
    return status


def _checked_spec(review: Mapping[str, Any], kind: str, *, self_review: bool) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = review.get("spec") or {}
    errors = _spec_errors(spec, self_review=self_review)
    if errors:
        raise invalid(group=_GROUP, kind=kind, name="", errors=aggregate(errors))
    return spec


def subject_access_review(review: Mapping[str, Any], *, policy: Policy) -> dict[str, Any]:
    """The ``status`` of a SubjectAccessReview: may ``spec.user``/``groups`` do this?"""
    spec = _checked_spec(review, "SubjectAccessReview", self_review=False)
    extra = {key: tuple(values) for key, values in (spec.get("extra") or {}).items()}
    user = UserInfo(
        spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""), extra
    )
    return _evaluate(user, spec, policy)


def self_subject_access_review(
    review: Mapping[str, Any], *, user: UserInfo, policy: Policy
) -> dict[str, Any]:
    """The ``status`` of a SelfSubjectAccessReview: may the requester (``user``) do this?"""
    spec = _checked_spec(review, "SelfSubjectAccessReview", self_review=True)
    return _evaluate(user, spec, policy)


def self_subject_rules_review(
    review: Mapping[str, Any], *, user: UserInfo, policy: Policy
) -> dict[str, Any]:
    """The ``status`` of a SelfSubjectRulesReview: every rule ``user`` has in ``spec.namespace``.

    Raises the server's 400 ``no namespace on request`` when the namespace is missing.
    """
    namespace = (review.get("spec") or {}).get("namespace", "")
    if not namespace:
        raise bad_request("no namespace on request")
    found = rules_for(user, namespace, policy=policy)
    resource_rules = []
    non_resource_rules = []
    for rule in found.rules:
        if rule.resources:
            entry: dict[str, Any] = {"verbs": list(rule.verbs)}
            for key, values in (
                ("apiGroups", rule.api_groups),
                ("resources", rule.resources),
                ("resourceNames", rule.resource_names),
            ):
                if values:
                    entry[key] = list(values)
            resource_rules.append(entry)
        if rule.non_resource_urls:
            non_resource_rules.append(
                {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}
            )
    status: dict[str, Any] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if found.errors:
        status["evaluationError"] = aggregate(found.errors, unique=False)
    return status
