"""The operator's view of the cluster's policies, and what they refuse of one session.

A :class:`PolicySource` gives the core's inputs (:meth:`~PolicySource.snapshot`) and says
when they change (:meth:`~PolicySource.changed`): the Kubernetes operator's is a
:class:`~podtap.backends.kubernetes.policy_watch.PolicyWatch`, the host-side operator's
:class:`NoPolicies`. :class:`SessionPolicies` holds, per session, what the policies are
matched on (its target: kind, name, container, namespace, the targeted object's labels)
and asks the core (:mod:`podtap.core.policy`) each time, on the snapshot of that moment,
so a change applies at once. It decides nothing itself."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from podtap.backends.base import ClusterBackend, ResolvedTarget
from podtap.backends.kubernetes.policy_book import PolicySnapshot
from podtap.core.config import IncomingMode as ConfigMode
from podtap.core.config import validate_config
from podtap.core.ids import Port, RequestId, SessionId, format_session_id
from podtap.core.policy.access import filter_env
from podtap.core.policy.connect import connect_refusal
from podtap.core.policy.incoming import subscribe_refusal
from podtap.core.policy.matching import FoundPolicy, SessionTarget, applicable
from podtap.core.policy.models import PolicyError
from podtap.core.policy.objects import select_profile, session_target
from podtap.core.policy.outgoing import dns_refusal
from podtap.core.policy.profile_wire import MAX_HEADER, encode_profile, profile_not_found
from podtap.core.policy.profiles import Fixes, FoundProfile, apply_profile
from podtap.core.protocol import (
    Connect,
    EnvResponse,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    HttpFilter,
    IncomingMode,
    Payload,
)
from podtap.operator.policy_guard import connect_answer, file_answer
from podtap.operator.settings import ConnectOptions, PolicyRefused, SessionRules

__all__ = ["NoPolicies", "PolicySource", "SessionPolicies", "TargetLabels"]

log = logging.getLogger(__name__)
_SAID: set[str] = set()  # backends whose lack of workload labels was logged


class PolicySource(Protocol):
    def snapshot(self) -> PolicySnapshot:
        """The policies and profiles in force now."""

    async def changed(self, *, since: int) -> PolicySnapshot:
        """The snapshot, as soon as its version is not ``since``."""


class NoPolicies:
    """A source without policies (the host-side operator has no policy objects)."""

    def snapshot(self) -> PolicySnapshot:
        return PolicySnapshot()

    async def changed(self, *, since: int) -> PolicySnapshot:
        await asyncio.Event().wait()  # never changes
        raise AssertionError("unreachable")


class TargetLabels(Protocol):
    """A backend that can read the labels of the object a session targets."""

    async def target_labels(self, resolved: ResolvedTarget) -> Mapping[str, str]: ...


async def target_of(backend: ClusterBackend, resolved: ResolvedTarget) -> SessionTarget:
    """What policies match a session on ``resolved`` on. The labels are the targeted
    object's: a pod's are in hand; of a workload, the backend reads them if it can, else
    it is logged and a ``selector`` policy does not apply to it."""
    ref, labels = resolved.target, None
    if ref.kind == "pod":
        labels = resolved.pod.labels
    elif (read := getattr(backend, "target_labels", None)) is not None:
        labels = dict(await read(resolved))
    elif (backend_kind := type(backend).__name__) not in _SAID:
        _SAID.add(backend_kind)
        log.warning(
            "%s cannot read the labels of a workload (%s): policies with a selector apply to "
            "pod targets only",
            backend_kind,
            ref,
        )
    return session_target(ref, namespace=resolved.namespace, labels=labels)


def _steals(
    options: ConnectOptions, fixes: Fixes | None
) -> tuple[tuple[Port, HttpFilter | None], ...]:
    """The planned steals left under ``fixes``: none when the profile leaves no steal."""
    if fixes is not None and fixes.incoming not in (None, ConfigMode.STEAL):
        return ()
    return options.steals


class SessionPolicies:
    """Per session, its rules; the refusals and filters of the policies in force now."""

    def __init__(self, source: PolicySource, *, audit: Callable[..., None]) -> None:
        self.source = source
        self.rules: dict[SessionId, SessionRules] = {}
        self._audit = audit
        self._asked: dict[tuple[SessionId, RequestId], str] = {}  # names being resolved
        self._names: dict[SessionId, dict[str, str]] = {}  # address -> name resolved

    def forget(self, session: SessionId) -> None:
        self.rules.pop(session, None)
        self._names.pop(session, None)
        for key in [k for k in self._asked if k[0] == session]:
            del self._asked[key]

    def applying(self, target: SessionTarget) -> list[FoundPolicy]:
        return applicable(self.source.snapshot().policies, target=target)

    async def admit(
        self, backend: ClusterBackend, resolved: ResolvedTarget, options: ConnectOptions
    ) -> SessionRules:
        """The rules of a session on ``resolved``; PolicyRefused (one line) if the policies
        refuse it: its profile (required, not allowed, unknown), a port it says it will
        steal."""
        target = await target_of(backend, resolved)
        policies = self.applying(target)
        refusal = connect_refusal(policies, profile=options.profile, target=target.path)
        if refusal is not None:
            raise PolicyRefused(refusal)
        profile = self._profile(options.profile) if options.profile is not None else None
        fixes = self._fixes(profile) if profile is not None else None
        for _, flt in _steals(options, fixes):
            refusal = refusal or subscribe_refusal(
                policies, mode=IncomingMode.STEAL, http_filter=flt, target=target.path, fixes=fixes
            )
        if refusal is not None:
            raise PolicyRefused(refusal)
        return SessionRules(target=target, fixes=fixes, profile=profile)

    def planned(self, options: ConnectOptions) -> ConnectOptions:
        """``options`` as the client will act on them: its planned steals were made from
        the user's config, and a profile (found now) that leaves no steal drops them, as
        the client applying the profile does (a steal it still tries is refused)."""
        if options.profile is None or not options.steals:
            return options
        profile = select_profile(self.source.snapshot().profiles, options.profile)
        try:
            fixes = self._fixes(profile) if profile is not None else None
        except PolicyRefused:
            return options  # admit says why
        return dataclasses.replace(options, steals=_steals(options, fixes))

    def resume_refusal(self, session: SessionId, *, profile: str | None) -> str | None:
        """Why resuming ``session`` with ``profile`` is refused (its profile would change
        under it), or None (a session not seen since this operator started: None)."""
        rules = self.rules.get(session)
        if rules is None:
            return None
        had = rules.profile.ref if rules.profile is not None else None
        if had == profile:
            return None
        label = format_session_id(session)
        if had is None:
            return f"session {label} was opened without a profile: resume it without one"
        return f"session {label} was opened with profile {had}: resume it with --profile {had}"

    def _profile(self, ref: str) -> FoundProfile:
        """Profile ``ref``, small enough to send back; PolicyRefused if not."""
        profile = select_profile(self.source.snapshot().profiles, ref)
        if profile is None:
            raise PolicyRefused(profile_not_found(ref), status=404)
        if (size := len(encode_profile(profile))) > MAX_HEADER:
            raise PolicyRefused(
                f"{profile.label} is too large to send to the client ({size} characters of "
                f"JSON, at most {MAX_HEADER}): make its config smaller",
                status=422,
            )
        return profile

    @staticmethod
    def _fixes(profile: FoundProfile) -> Fixes | None:
        """What ``profile`` fixes (over the defaults: the connect carries no config)."""
        try:
            return apply_profile(validate_config({})[0], profile).fixes
        except PolicyError as exc:
            raise PolicyRefused(str(exc)) from None

    def subscribe_refusal(
        self, session: SessionId, *, mode: IncomingMode, http_filter: HttpFilter | None
    ) -> str | None:
        """Why ``session`` may not subscribe so, or None (a session never seen: None)."""
        rules = self.rules.get(session)
        if rules is None:
            return None
        return subscribe_refusal(
            self.applying(rules.target),
            mode=mode,
            http_filter=http_filter,
            target=rules.target.path,
            fixes=rules.fixes,
        )

    def guard(self, session: SessionId, payload: Payload) -> Payload | None:
        """The operator's own answer to a client's frame a policy refuses (audited), or
        None: the frame goes on to the agent."""
        rules = self.rules.get(session)
        if rules is None:
            return None
        answered: tuple[Payload, str] | None = None
        if isinstance(payload, GetAddrInfoRequest):
            if (refusal := dns_refusal(payload.host, fixes=rules.fixes)) is None:
                self._asked[session, payload.request] = payload.host
                return None
            answered = GetAddrInfoResponse(request=payload.request, error=refusal), refusal
        elif isinstance(payload, Connect):
            names = self._names.get(session, {})
            policies = self.applying(rules.target)
            answered = connect_answer(policies, payload, names=names, fixes=rules.fixes)
        else:
            answered = file_answer(self.applying(rules.target), payload)
        if answered is None:
            return None
        answer, refusal = answered
        self._audit("refusal", session=format_session_id(session), reason=refusal)
        return answer

    def _resolved(self, session: SessionId, answer: GetAddrInfoResponse) -> None:
        host = self._asked.pop((session, answer.request), None)
        if host is not None:
            names = self._names.setdefault(session, {})
            names.update((address, host) for _, address in answer.addresses)

    def screen(self, session: SessionId, payload: Payload) -> Payload:
        """``payload`` from the agent as the client may see it: an env answer without the
        names a policy excludes. A name resolved is noted, for the outgoing rules."""
        rules = self.rules.get(session)
        if isinstance(payload, GetAddrInfoResponse):
            self._resolved(session, payload)
        if rules is None or not isinstance(payload, EnvResponse):
            return payload
        kept = filter_env(self.applying(rules.target), payload.env)
        if len(kept) == len(payload.env):
            return payload
        return EnvResponse(
            request=payload.request, env=kept, error=payload.error, mounts=payload.mounts
        )
