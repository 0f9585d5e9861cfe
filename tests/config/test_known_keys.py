"""Every key of mirrord's published config schema (schema/mirrord-schema.json) is known to
podtap: implemented, not supported yet (warned), or refused with the reason (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

from podtap.core.config import config_json_schema
from podtap.core.config.known_keys import (
    LEGACY_KEYS,
    REFUSED_KEYS,
    UNSUPPORTED_KEYS,
    schema_key_paths,
)
from podtap.core.targets import KINDS

MIRRORD_SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "mirrord-schema.json"


def mirrord_keys() -> set[str]:
    paths = schema_key_paths(json.loads(MIRRORD_SCHEMA.read_text()))
    # podtap reads split_queues' map form as its list form
    return {p.replace("feature.split_queues.*", "feature.split_queues[]") for p in paths}


def podtap_keys() -> set[str]:
    return schema_key_paths(config_json_schema())


def under(path: str, keys: frozenset[str]) -> bool:
    return any(path == k or path.startswith((k + ".", k + "[")) for k in keys)


def test_the_mirrord_schema_is_mirrords() -> None:
    schema = json.loads(MIRRORD_SCHEMA.read_text())
    assert schema["title"] == "Getting Started" and "target" in schema["properties"]
    assert len(mirrord_keys()) > 400


def test_every_mirrord_key_is_known() -> None:
    target_objects = {info.object_key for info in KINDS} | {"container"}
    target_keys = {f"target.{k}" for k in target_objects} | {
        f"target.path.{k}" for k in target_objects
    }
    unknown = {
        p
        for p in mirrord_keys() - podtap_keys() - target_keys
        if not under(p, UNSUPPORTED_KEYS) and not under(p, REFUSED_KEYS)
    }
    assert unknown == set()


def test_the_key_lists_name_real_mirrord_keys_podtap_does_not_model() -> None:
    mirrord, podtap = mirrord_keys(), podtap_keys()
    assert mirrord >= UNSUPPORTED_KEYS | REFUSED_KEYS
    assert not (UNSUPPORTED_KEYS | REFUSED_KEYS) & podtap
    assert not LEGACY_KEYS & mirrord  # gone from mirrord's schema, still only warned
    assert podtap - mirrord == {"$schema", "feature.env.enabled"}
