"""Every key a config file may hold, and what podtap does with it.

Five kinds of key, so that none is silently ignored:

- **implemented**: a field of the models (:mod:`podtap.core.config.models`);
- **not supported yet**: a key of mirrord's published schema (``schema/mirrord-schema.json``)
  that podtap does not implement: :data:`UNSUPPORTED_KEYS`, warned about by name, once;
- **parsed, not acted on**: a field podtap validates but does not carry out yet
  (:func:`not_acted`), warned about the same way while it is set;
- **refused**: a filter podtap's agent cannot apply (:data:`REFUSED_KEYS`), an error: ignored,
  it would steal more than the filter says;
- **unknown**: in neither schema, an error naming its path (mirrord refuses unknown keys too,
  and a misspelt filter key ignored would steal more than the user asked for).

A test walks mirrord's schema and checks every key of it is implemented, not supported yet
(or under such a key), or refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podtap.core.config.models import ResolvedConfig

__all__ = [
    "LEGACY_KEYS",
    "REFUSED_KEYS",
    "UNSUPPORTED_KEYS",
    "is_unsupported",
    "not_acted",
    "schema_key_paths",
]

#: Keys of mirrord's schema podtap does not implement yet (their whole subtree is ignored).
#: Paths are dotted; ``[]`` stands for any item of a list (mirrord's schema also spells the
#: ``split_queues`` entries ``*``, for its map form, which podtap reads as the list).
UNSUPPORTED_KEYS: frozenset[str] = frozenset(
    {
        "accept_invalid_certificates",
        "agent",
        "api",
        "baggage",
        "ci",
        "container",
        "experimental",
        "external_proxy",
        "internal_proxy",
        "kubeconfig",
        "multi_cluster",
        "sip_binaries",
        "skip_build_tools",
        "skip_extra_build_tools",
        "skip_processes",
        "skip_sip",
        "startup_retry",
        "telemetry",
        "traceparent",
        "use_proxy",
        "feature.copy_target.exclude_containers",
        "feature.copy_target.exclude_init_containers",
        "feature.db_branches",
        "feature.env.load_from_process",
        "feature.env.mapping",
        "feature.fs.mapping",
        "feature.fs.readonly_file_buffer",
        "feature.hostname",
        "feature.magic",
        "feature.network.ipv6",
        "feature.network.incoming.https_delivery",
        "feature.network.incoming.listen_ports",
        "feature.network.incoming.tls_delivery",
        "feature.network.outgoing.unix_streams",
        "feature.preview",
        "feature.split_queues[].payload_protobuf",
    }
)

#: Keys of mirrord's schema that are errors: filter forms podtap's agent cannot apply, which
#: ignored would steal more than the filter says (refused in :mod:`~podtap.core.config.network`).
REFUSED_KEYS: frozenset[str] = frozenset(
    {
        "feature.network.incoming.http_filter.body_filter",
        "feature.network.incoming.http_filter.header_filter_jq",
        *(
            f"feature.network.incoming.http_filter.{composite}[].{key}"
            for composite in ("all_of", "any_of")
            for key in ("body", "matches", "query")
        ),
    }
)

#: Keys of earlier mirrord releases, no longer in its schema: still warned, not refused.
LEGACY_KEYS: frozenset[str] = frozenset(
    {
        "connect_agent_name",
        "connect_agent_port",
        "connect_tcp",
        "pause",
        "feature.capture_error_trace",
    }
)


def is_unsupported(schema_path: str) -> bool:
    """Whether an unknown key at ``schema_path`` (``*``/``[]`` for map keys and list items) is
    one of mirrord's that podtap knows but does not implement."""
    return schema_path in UNSUPPORTED_KEYS or schema_path in LEGACY_KEYS


#: The ``queue_type`` values the operator splits (docs/queues.md).
SPLIT_TYPES: frozenset[str] = frozenset({"SQS", "RMQ", "Kafka"})


def not_acted(config: ResolvedConfig) -> Iterator[tuple[str, str]]:
    """(path, why) for every field that is set but that podtap does not carry out yet."""
    f = config.feature
    if others := sorted({q.queue_type.value for q in f.split_queues} - SPLIT_TYPES):
        yield (
            "feature.split_queues",
            (f"{', '.join(others)} queues are not split (podtap splits SQS, RMQ and Kafka)"),
        )
    if f.copy_target.enabled:
        yield "feature.copy_target", "the target is not copied: podtap joins its own pod"
    if config.operator is False:
        yield "operator", "podtap always goes through its operator; false has no effect"


# --------------------------------------------------------------------------- schema walk


def schema_key_paths(schema: dict[str, Any]) -> set[str]:
    """Every key path of a JSON schema (mirrord's), ``*`` for map values, ``[]`` for items."""
    defs: dict[str, Any] = schema.get("$defs", {})
    paths: set[str] = set()

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], prefix: str, seen: frozenset[str]) -> None:
        ref = node.get("$ref")
        if ref in seen:
            return
        seen = seen | {ref} if ref else seen
        node = resolve(node)
        for combinator in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(combinator, []):
                walk(sub, prefix, seen)
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            walk(sub, path, seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{prefix}.*", seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{prefix}[]", seen)

    walk(schema, "", frozenset())
    return paths
