"""Profiles selected by the client: the connect sends ``?profile=``, the operator answers
the upgrade with the profile it found (``X-Podtap-Profile``), and the client runs its own
config with that profile applied, so it no longer asks for what the profile forbids. The
real operator, its API and the real client code over the in-memory cluster, no root."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from podtap.client.host.channel import ClientChannel
from podtap.client.host.execute import ExecFailed, ExecUi, merged_env, profiled, run_exec
from podtap.client.host.operator_api import (
    ClientSession,
    OperatorAddress,
    OperatorApi,
    OperatorRefused,
    planned_steals,
)
from podtap.client.host.reconnect import keep_linked
from podtap.core.config import ConfigError, ResolvedConfig, validate_config
from podtap.core.exec_spec import ExecSpec, ProfileName
from podtap.core.ids import Port
from podtap.core.protocol import (
    EnvRequest,
    EnvResponse,
    HttpFilter,
    IncomingMode,
    Subscribe,
    SubscribeResult,
)
from podtap.net.tasks import TaskSet
from podtap.testing.wait import async_wait_until
from tests.operator.test_policies import Running, plain_connect, policy, run

SAFE = "default/safe"


def ns_profile(name: str, spec: dict[str, Any], *, version: str = "1") -> dict[str, Any]:
    """A PodtapProfile in `default` (shaped as the test policies are)."""
    obj = policy(name, spec)
    obj["metadata"]["resourceVersion"] = version
    return {**obj, "apiVersion": "profiles.podtap.dev/v1alpha1", "kind": "PodtapProfile"}


MIRROR_SAFE = ns_profile(
    "safe",
    {
        "featureAdjustments": [{"change": "incoming-mirror"}],
        "config": {"feature": {"env": {"unset": ["GREETING"]}}},
    },
)
QUIET = ns_profile("quiet", {"featureAdjustments": [{"change": "incoming-off"}]})


def user(profile: str | None = SAFE) -> ResolvedConfig:
    """A user who steals port 8000 whole (a planned steal, sent with the connect)."""
    doc = {
        "target": "deployment/web",
        "profile": profile,
        "feature": {"network": {"incoming": {"mode": "steal", "ports": [8000]}}},
    }
    return validate_config(doc)[0]


def connector(op: Running, spec: ExecSpec) -> Any:
    """Connects as `run_exec` does for `spec` (its planned steals, its profile)."""
    return functools.partial(
        OperatorApi(op.address).connect,
        "deployment/web",
        steals=planned_steals(spec.session.incoming),
        profile=spec.session.profile,
    )


@asynccontextmanager
async def channel_of(session: ClientSession) -> AsyncIterator[ClientChannel]:
    channel, tasks = ClientChannel(session), TaskSet()
    tasks.spawn(channel.run(), name=f"session {session.label}")
    try:
        yield channel
    finally:
        await tasks.close()


async def subscribe_as_planned(channel: ClientChannel, spec: ExecSpec) -> SubscribeResult:
    """What `Incoming` asks when the app listens on 8000, by the run's plan."""
    plan = spec.session.incoming
    assert plan.mode is not None and plan.remote_port(8000) == 8000
    reply = await channel.request(
        lambda rid: Subscribe(
            request=rid, port=Port(8000), mode=plan.mode, http_filter=plan.filter_for(8000)
        )
    )
    assert isinstance(reply, SubscribeResult)
    return reply


def test_the_profile_comes_back_and_the_run_mirrors_what_the_user_would_steal(
    tmp_path: Path,
) -> None:
    async def test(op: Running) -> None:
        config = user()
        spec = ExecSpec.from_config(config, argv=["app"])
        assert planned_steals(spec.session.incoming) == ((8000, None),)
        async with connector(op, spec)() as session:  # the planned steal is not refused
            assert session.profile is not None and session.profile.ref == SAFE
            effective, line = profiled(spec, config, session.profile)
            assert line == (
                'profile default/safe: feature.env.unset [] -> ["GREETING"], '
                "incoming steal -> mirror"
            )
            assert effective.session.incoming.mode is IncomingMode.MIRROR
            async with channel_of(session) as channel:
                assert (await subscribe_as_planned(channel, effective)).ok
                agent = op.cluster.agent("web")
                assert agent.subscribed() == {8000: [(session.id, IncomingMode.MIRROR)]}
                env = await channel.request(lambda rid: EnvRequest(request=rid))
                assert isinstance(env, EnvResponse) and env.env["GREETING"] == "hello"
                assert "GREETING" not in merged_env({}, env.env, effective.env)  # the merge
                rogue = await subscribe_as_planned(channel, spec)  # the user's own plan
                assert rogue.error == "profile default/safe makes incoming mirror: steal is refused"

    run(tmp_path, test, MIRROR_SAFE)


def test_a_profile_turning_incoming_off_subscribes_nothing(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        config = user("default/quiet")
        spec = ExecSpec.from_config(config, argv=["app"])
        async with connector(op, spec)() as session:
            effective, line = profiled(spec, config, session.profile)
            assert line == "profile default/quiet: incoming steal -> off"
            assert effective.session.incoming.mode is None  # run_exec makes no Incoming
            assert op.cluster.agent("web").subscribed() == {}

    run(tmp_path, test, QUIET)


def test_a_missing_profile_is_a_404_in_one_line(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        with pytest.raises(OperatorRefused) as refused:
            async with OperatorApi(op.address).connect("deployment/web", profile="shop/nope"):
                pass
        assert refused.value.status == 404
        assert str(refused.value) == (
            "profile shop/nope is not found: list them with kubectl get podtapprofiles -A "
            "and kubectl get podtapclusterprofiles"
        )
        assert op.service.records == {}

    run(tmp_path, test)


def test_a_required_profile_is_refused_without_one_and_works_with_one(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        with pytest.raises(OperatorRefused) as refused:
            async with OperatorApi(op.address).connect("deployment/web"):
                pass
        assert refused.value.status == 403 and str(refused.value) == (
            "policy default/need-profile requires a profile on deployment/web: "
            "set profile or --profile"
        )
        async with OperatorApi(op.address).connect("deployment/web", profile=SAFE) as session:
            assert session.profile is not None and session.profile.ref == SAFE

    run(tmp_path, test, policy("need-profile", {"requireProfile": True}), MIRROR_SAFE)


def test_a_resume_sends_the_profile_again_and_keeps_it_enforced(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        spec = ExecSpec.from_config(user(), argv=["app"])
        connect, told = connector(op, spec), list[str]()
        async with connect() as session:
            channel, tasks = ClientChannel(session), TaskSet()
            linked = keep_linked(
                channel, reconnect=lambda sid: connect(resume=sid), ttl=30, tell=told.append
            )
            tasks.spawn(linked, name="linked")
            try:
                changed = ns_profile("safe", {"featureAdjustments": []}, version="2")
                op.policies.put(changed)  # seen by the resume, not by the run's config
                await op.service.attached[session.id].wire.ws.close()  # a blip
                await async_wait_until(
                    lambda: any("resumed" in t for t in told), timeout=5, what="the resume"
                )
                assert channel.session is not session and channel.session.id == session.id
                assert channel.session.profile is not None
                assert channel.session.profile.ref == SAFE
                assert (
                    "profile default/safe changed while the link was down: the operator "
                    "enforces the new one; restart the run to apply it here"
                ) in told
                rules = op.service.policies.rules[session.id]
                assert rules.profile is not None and rules.profile.spec.feature_adjustments == []
                status, error = await plain_connect(op, session=session.label)
                assert (status, error) == (
                    409,
                    f"session {session.label} was opened with profile {SAFE}: "
                    f"resume it with --profile {SAFE}",
                )
            finally:
                await tasks.close()

    run(tmp_path, test, MIRROR_SAFE)


def test_a_bad_ref_is_refused_alike_by_the_config_the_client_and_the_operator(
    tmp_path: Path,
) -> None:
    problem = "give NAME (a cluster profile) or NS/NAME (a namespaced one), as Kubernetes"

    async def test(op: Running) -> None:
        with pytest.raises(ConfigError) as bad:  # verify-config, exec, policy explain
            user("Shop/safe")
        assert str(bad.value.issues[0]).startswith(f"profile: {problem}")
        status, error = await plain_connect(op, profile="Shop/safe")
        assert status == 400 and error.startswith(f"profile 'Shop/safe': {problem}")
        spec = ExecSpec.from_config(user(), argv=["app"])  # a spec made by hand, not checked
        spec = replace(spec, session=replace(spec.session, profile=ProfileName("Shop/safe")))
        ui = ExecUi(on_log=lambda _: None, on_status=lambda _: None)
        with pytest.raises(ExecFailed) as failed:  # before reaching any operator
            await run_exec(OperatorAddress("unix:/nonexistent"), spec, ui, config=user())
        assert str(failed.value) == error

    run(tmp_path, test)


def test_a_profile_too_large_for_a_header_is_refused_naming_it(tmp_path: Path) -> None:
    big = ns_profile("big", {"config": {"feature": {"env": {"override": {"X": "x" * 9000}}}}})

    async def test(op: Running) -> None:
        status, error = await plain_connect(op, profile="default/big")
        assert status == 422 and error.startswith("profile default/big is too large to send ")
        assert error.endswith("characters of JSON, at most 8000): make its config smaller")

    run(tmp_path, test, big)


def test_a_profile_that_keeps_steal_still_checks_the_planned_steals(tmp_path: Path) -> None:
    keep = ns_profile("keep", {"config": {"feature": {"env": {"unset": ["X"]}}}})
    no_unfiltered = policy("no-unfiltered", {"block": ["steal-without-filter"]})

    async def test(op: Running) -> None:
        spec = ExecSpec.from_config(user("default/keep"), argv=["app"])
        with pytest.raises(OperatorRefused) as refused:
            async with connector(op, spec)():
                pass
        assert refused.value.status == 403
        assert str(refused.value).startswith("policy default/no-unfiltered blocks steal without")
        filtered = connector(op, spec)(steals=[(Port(8000), HttpFilter(header="x-user: a"))])
        async with filtered as session:
            assert session.profile is not None and session.profile.ref == "default/keep"

    run(tmp_path, test, keep, no_unfiltered)
