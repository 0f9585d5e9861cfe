"""The profile between client and operator: its ref (NAME or NS/NAME) and the versioned
JSON header the operator answers a connect with (pure)."""

from __future__ import annotations

import json
from typing import Any

from podtap.client.host import operator_api
from podtap.core.policy.models import PolicyError, parse_profile_spec
from podtap.core.policy.profile_wire import (
    PROFILE_HEADER,
    decode_profile,
    encode_profile,
    parse_profile_ref,
)
from podtap.core.policy.profiles import FoundProfile
from podtap.testing.playbook import Raises, play

SPEC: dict[str, Any] = {
    "featureAdjustments": [{"change": "incoming-mirror"}, {"change": "dns-off"}],
    "config": {"feature": {"env": {"unset": ["SECRET_\u00e9"]}}},
}


def found(spec: dict[str, Any], *, namespace: str | None = "shop") -> FoundProfile:
    return FoundProfile(name="safe", namespace=namespace, spec=parse_profile_spec(spec, name="p"))


def test_refs_are_a_cluster_name_or_namespace_and_name() -> None:
    play(
        lambda ref: [parse_profile_ref(ref)],
        [
            ("mirror-only", [(None, "mirror-only")]),
            ("shop/safe", [("shop", "safe")]),
            ("team.a", [(None, "team.a")]),  # object names may hold dots, namespaces not
            ("", Raises(PolicyError, match=r"^profile '': give NAME \(a cluster profile\)")),
            ("a/b/c", Raises(PolicyError, match="must not contain dots|RFC 1123 label")),
            ("Shop/safe", Raises(PolicyError, match="RFC 1123 label")),
            ("shop/", Raises(PolicyError, match="RFC 1123 subdomain")),
            ("shop/Safe", Raises(PolicyError, match="RFC 1123 subdomain")),
        ],
    )


def test_the_header_is_compact_versioned_ascii_json_in_the_crds_field_names() -> None:
    text = encode_profile(found(SPEC))
    assert text.isascii() and " " not in text and "\n" not in text
    assert json.loads(text) == {"v": 1, "ref": "shop/safe", **SPEC}
    assert json.loads(encode_profile(found({}, namespace=None))) == {"v": 1, "ref": "safe"}


def test_decoding_gives_back_the_profile_the_operator_found() -> None:
    for profile in (found(SPEC), found({}, namespace=None), found({"config": {"key": "k"}})):
        assert decode_profile(encode_profile(profile)) == profile


def test_a_header_that_is_no_profile_of_this_version_is_one_line() -> None:
    play(
        decode_profile,
        [
            (
                "{",
                Raises(PolicyError, match=f"^the operator's {PROFILE_HEADER} header is not JSON"),
            ),
            ("[]", Raises(PolicyError, match="header names no profile$")),
            (
                '{"v":2,"ref":"safe"}',
                Raises(
                    PolicyError,
                    match="version 2 of X-Podtap-Profile, this podtap reads "
                    "version 1: use a podtap as recent as the operator$",
                ),
            ),
            (
                '{"v":1,"ref":"safe","featureAdjustments":[{"change":"steal-all"}]}',
                Raises(
                    PolicyError,
                    match=r"^profile safe: spec\.featureAdjustments\[0\]\.change: Input",
                ),
            ),
            ('{"v":1,"ref":"Bad"}', Raises(PolicyError, match="^profile 'Bad': give NAME")),
        ],
    )


def test_the_client_names_the_same_header_without_importing_the_policy_models() -> None:
    assert operator_api.PROFILE_HEADER == PROFILE_HEADER
