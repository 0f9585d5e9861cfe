"""Policies and targets for the policy tests, written as an admin writes them."""

from __future__ import annotations

from typing import Any

from podtap.core.policy.matching import FoundPolicy, SessionTarget
from podtap.core.policy.models import parse_policy_spec

API = SessionTarget(kind="deployment", name="api", namespace="shop", labels={"app": "api"})


def policy(name: str = "p", namespace: str | None = "shop", **spec: Any) -> FoundPolicy:
    """A policy named ``namespace/name`` (cluster-wide when ``namespace`` is None)."""
    return FoundPolicy(name=name, namespace=namespace, spec=parse_policy_spec(spec, name=name))
