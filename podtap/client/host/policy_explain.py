"""``podtap policy explain``: what the operator would decide, read through the kubeconfig.

As kubectl would, with the user's own credentials: the target object (its kind, name and
labels), the policies that can govern it (namespaced kinds in its namespace, cluster kinds),
and the profile the config selects; parsed as the operator's cache parses them
(:class:`~podtap.backends.kubernetes.policy_book.PolicyBook`), then the core's ``explain``.
Every failure is :class:`ExplainFailed`, one line saying what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.config import ConfigException, list_kube_config_contexts

from podtap.backends.kubernetes.config import ConfigError, kubeconfig_client, kubeconfig_paths
from podtap.backends.kubernetes.discovery import Discovery, UnknownKind
from podtap.backends.kubernetes.policy_book import book_of
from podtap.backends.kubernetes.resources import Resources
from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.backends.kubernetes.targets import WORKLOADS, Targets
from podtap.core.config import ResolvedConfig
from podtap.core.policy.crds import KINDS, CrdKind
from podtap.core.policy.explain import Explanation, explain
from podtap.core.policy.matching import SessionTarget
from podtap.core.policy.models import PolicyError
from podtap.core.policy.objects import POLICY_KINDS, PROFILE_KINDS, session_target
from podtap.core.policy.profile_wire import parse_profile_ref, profile_not_found
from podtap.core.targets import TargetRef

__all__ = ["ExplainFailed", "Explained", "context_namespace", "explain_session"]


class ExplainFailed(Exception):
    """Why there is no explanation, in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Explained:
    explanation: Explanation
    skipped: list[str]  # the bad policy and profile objects, one line each


def _refused(exc: ApiError, what: str) -> ExplainFailed:
    if exc.code == 403:
        return ExplainFailed(f"{exc}: ask your cluster admin for get and list on {what}")
    return ExplainFailed(f"reading {what}: {exc} (HTTP {exc.code})")


async def _target(targets: Targets, ref: TargetRef, *, namespace: str, copy: bool) -> SessionTarget:
    """The session's target with the labels of the object it names (read by name, as
    ``kubectl get KIND NAME``; a label target's labels are its selector's)."""
    if ref.kind in ("targetless", "label"):
        return session_target(ref, namespace=namespace, labels=ref.labels, copy=copy)
    kind, api_version = ("Pod", "v1") if ref.kind == "pod" else WORKLOADS[ref.kind]
    try:
        found = await targets.get(kind, api_version, namespace, ref.name)
    except ApiError as exc:
        raise _refused(exc, f"{kind.lower()}s in namespace {namespace}") from None
    if found is None:
        raise ExplainFailed(
            f"{ref.kind} {ref.name!r} not found in namespace {namespace!r} "
            "(list targets with `podtap ls`)"
        )
    labels = found["metadata"].get("labels") or {}
    return session_target(ref, namespace=namespace, labels=labels, copy=copy)


async def _objects(
    resources: Resources, kinds: list[CrdKind], *, namespace: str | None
) -> list[dict[str, Any]]:
    """Every object of `kinds` (namespaced ones in `namespace`); a kind not served: none."""
    out: list[dict[str, Any]] = []
    for kind in kinds:
        where = f" in namespace {namespace}" if kind.namespaced else " (cluster-wide)"
        try:
            out += await resources.of_kind(
                kind.kind, namespace=namespace if kind.namespaced else None
            )
        except UnknownKind:
            continue  # its CRD is not installed (mirrord's, with crds.mirrord false)
        except ApiError as exc:
            raise _refused(exc, f"{kind.plural}.{kind.group}{where}") from None
    return out


def _profile_kinds(ref: str) -> tuple[list[CrdKind], str | None]:
    """The kinds profile ``ref`` may be, and its namespace (ExplainFailed if ``ref`` is
    neither NAME nor NS/NAME, as `podtap exec --profile` and the operator say it)."""
    try:
        namespace, _ = parse_profile_ref(ref)
    except PolicyError as exc:
        raise ExplainFailed(str(exc)) from None
    profiles = [k for k in KINDS if k.kind in PROFILE_KINDS]
    return [k for k in profiles if k.namespaced == bool(namespace)], namespace


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig's ``context`` (else its current one), as kubectl
    takes it: ``default`` when the context names none."""
    files = os.pathsep.join(str(p) for p in kubeconfig_paths(kubeconfig) if p.is_file())
    if not files:  # no kubeconfig at all (the loader would only warn of it)
        return "default"
    try:
        contexts, current = list_kube_config_contexts(config_file=files)
    except (ConfigException, OSError, ValueError):  # kubectl would refuse it; the
        return "default"  # operator's own answer says what is wrong with reaching it
    chosen = next((c for c in contexts or () if c.get("name") == context), None) or current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


async def _read(
    rest: Rest, config: ResolvedConfig, ref: TargetRef, *, namespace: str
) -> tuple[list[dict[str, Any]], SessionTarget]:
    discovery = Discovery(rest)
    resources = Resources(rest, discovery)
    copy = config.feature.copy_target.enabled
    target = await _target(Targets(rest, discovery), ref, namespace=namespace, copy=copy)
    policy_kinds = [k for k in KINDS if k.kind in POLICY_KINDS]
    objects = await _objects(resources, policy_kinds, namespace=namespace)
    if config.profile is not None:
        kinds, where = _profile_kinds(config.profile)
        objects += await _objects(resources, kinds, namespace=where)
    return objects, target


async def explain_session(
    config: ResolvedConfig, *, kubeconfig: str | None, context: str | None
) -> Explained:
    """What the operator would decide for a session of ``config`` (its target, profile), in
    its target namespace, else the kubeconfig context's, else ``default`` (as kubectl)."""
    ref = TargetRef.parse(config.target.path or "targetless")
    if config.profile is not None:
        _profile_kinds(config.profile)  # a ref that cannot name a profile: before connecting
    try:
        api = await kubeconfig_client(path=kubeconfig, context=context)
        namespace = config.target.namespace or context_namespace(kubeconfig, context)
    except ConfigError as exc:
        raise ExplainFailed(str(exc)) from None
    try:
        async with api:
            objects, target = await _read(Rest(api), config, ref, namespace=namespace)
    except (aiohttp.ClientError, OSError) as exc:
        server = api.configuration.host
        raise ExplainFailed(f"cannot reach the Kubernetes API server {server}: {exc}") from None
    book, skipped = book_of(objects)
    snap = book.snapshot()
    if config.profile is not None and not any(p.ref == config.profile for p in snap.profiles):
        raise ExplainFailed(profile_not_found(config.profile))  # as the operator says it
    found = explain(
        snap.policies, snap.profiles, target=target, config=config, profile=config.profile
    )
    return Explained(explanation=found, skipped=skipped)
