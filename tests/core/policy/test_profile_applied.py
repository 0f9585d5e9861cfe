"""The client's half of a profile: the operator's profile applied to the user's config,
the one line that says what changed, and what the connect already fixed (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.client.host.execute import ExecFailed, profiled
from podtap.core.config import ResolvedConfig, validate_config
from podtap.core.exec_spec import ExecSpec
from podtap.core.policy.applied import apply_at_connect
from podtap.core.policy.models import PolicyError, parse_profile_spec
from podtap.core.policy.profiles import FoundProfile, apply_profile
from podtap.core.protocol import IncomingMode
from podtap.testing.playbook import Raises, play

USER: dict[str, Any] = {
    "target": "deployment/web",
    "profile": "shop/safe",
    "feature": {
        "network": {
            "incoming": {"mode": "steal", "ports": [8000]},
            "dns": True,
        },
        "env": {"exclude": ["HOME"]},
    },
}


def user(**over: Any) -> ResolvedConfig:
    return validate_config({**USER, **over})[0]


def safe(spec: dict[str, Any]) -> FoundProfile:
    return FoundProfile(name="safe", namespace="shop", spec=parse_profile_spec(spec, name="x"))


def changes(*names: str, **config: Any) -> dict[str, Any]:
    return {"featureAdjustments": [{"change": c} for c in names], **config}


def test_the_line_says_what_the_profile_changed_in_the_users_config() -> None:
    play(
        lambda spec: [apply_at_connect(user(), safe(spec)).line],
        [
            (changes("incoming-mirror"), ["profile shop/safe: incoming steal -> mirror"]),
            (changes("incoming-steal"), ["profile shop/safe: your config already is what it sets"]),
            (
                changes("incoming-off", "dns-off"),
                ["profile shop/safe: dns on -> off, incoming steal -> off"],
            ),
            (
                changes(config={"feature": {"env": {"unset": ["TOKEN"]}}}),
                ['profile shop/safe: feature.env.unset [] -> ["TOKEN"]'],
            ),
            (
                changes(
                    "outgoing-off", config={"feature": {"fs": "local", "env": {"enabled": False}}}
                ),
                [
                    "profile shop/safe: feature.env.enabled on -> off, feature.fs.mode read -> "
                    "local, outgoing tcp on -> off, outgoing udp on -> off"
                ],
            ),
            (
                changes(config={"feature": {"env": {"unset": ["A"], "override": {"B": "1"}}}}),
                [
                    'profile shop/safe: feature.env.override {} -> {"B":"1"}, '
                    'feature.env.unset [] -> ["A"]'
                ],
            ),
            (
                changes("outgoing-off", config={"feature": {"fs": "local", "env": False}}),
                [  # a shorthand replaces its section: exclude goes too
                    'profile shop/safe: feature.env.enabled on -> off, feature.env.exclude ["HOME"]'
                    " -> [], feature.fs.mode read -> local, outgoing tcp on -> off, and 1 more "
                    "(podtap policy explain lists them)"
                ],
            ),
        ],
    )


def test_a_partial_config_is_merged_key_by_key_into_the_users() -> None:
    spec = changes(config={"feature": {"env": {"unset": ["TOKEN"]}}})
    config = apply_at_connect(user(), safe(spec)).config
    assert config.feature.env.exclude == ["HOME"] and config.feature.env.unset == ["TOKEN"]
    assert config.feature.network.incoming.ports == [8000]


def test_what_the_connect_carried_cannot_be_changed_by_the_profile() -> None:
    play(
        lambda config: [apply_at_connect(user(), safe(changes(config=config))).line],
        [
            ({"target": "deployment/other"}, Raises(PolicyError, match="sets target, which")),
            ({"key": "k"}, Raises(PolicyError, match="sets key, which podtap sends when")),
            (
                {"feature": {"network": {"incoming": {"on_concurrent_steal": "override"}}}},
                Raises(
                    PolicyError,
                    match="^profile shop/safe sets feature.network.incoming.on_concurrent_steal,"
                    " which podtap sends when the session opens, before it knows the profile: "
                    "it cannot be applied; ask its owner to leave that out, or run without "
                    "the profile$",
                ),
            ),
        ],
    )


def test_a_profile_that_does_not_fit_is_the_policy_error() -> None:
    spec = changes(
        config={"feature": {"network": {"incoming": {"http_filter": {"path_filter": "/"}}}}}
    )
    config = user(feature={"network": {"incoming": {"http_filter": {"header_filter": "x: 1"}}}})
    with pytest.raises(PolicyError, match=r"^profile shop/safe does not fit your config: "):
        apply_at_connect(config, safe(spec))


def test_the_spec_of_the_run_follows_the_profile() -> None:
    spec = ExecSpec.from_config(user(), argv=["app"])
    assert profiled(spec, user(), None) == (spec, None)
    mirrored, line = profiled(spec, user(), safe(changes("incoming-mirror", "dns-off")))
    assert mirrored.session.incoming.mode is IncomingMode.MIRROR and mirrored.argv == ("app",)
    assert not mirrored.network.dns.enabled and line is not None
    off, _ = profiled(spec, user(), safe(changes("incoming-off")))
    assert off.session.incoming.mode is None  # nothing is subscribed
    with pytest.raises(ExecFailed, match=r"^profile shop/safe sets key, which"):
        profiled(spec, user(), safe(changes(config={"key": "k"})))
    body = {"feature": {"network": {"incoming": {"http_filter": {"header_filter": " "}}}}}
    with pytest.raises(ExecFailed, match=r"^profile shop/safe does not fit your config: feature"):
        profiled(spec, user(), safe(changes(config=body)))


@pytest.mark.parametrize(
    "profile_config",
    [
        {"feature": {"network": {"incoming": {"http_filter": {"header_filter": "x-user: a"}}}}},
        {"feature": {"network": {"incoming": {"ports": [9000]}}}},
    ],
)
def test_a_profile_leaving_the_mode_to_the_user_does_not_fix_it(
    profile_config: dict[str, Any],
) -> None:
    """The operator applies the profile over the defaults (mirror), the client over the
    user's steal: what is fixed must not depend on it, or the steal would be refused."""
    profile = safe(changes(config=profile_config))
    over_defaults = apply_profile(validate_config({})[0], profile).fixes
    assert over_defaults is not None and over_defaults.incoming is None
    assert apply_at_connect(user(), profile).config.feature.network.incoming.mode.value == "steal"


@pytest.mark.parametrize(
    ("profile_config", "mode"),
    [
        ({"feature": {"network": {"incoming": "mirror"}}}, "mirror"),
        ({"feature": {"network": {"incoming": {"mode": "off"}}}}, "off"),
        ({"feature": {"network": {"incoming": False}}}, "off"),
        ({"feature": {"network": False}}, "off"),
    ],
)
def test_a_mode_the_profile_sets_is_fixed(profile_config: dict[str, Any], mode: str) -> None:
    fixes = apply_profile(validate_config({})[0], safe(changes(config=profile_config))).fixes
    assert fixes is not None and fixes.incoming is not None and fixes.incoming.value == mode
