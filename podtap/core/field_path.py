"""A field's path as Kubernetes and podtap write it in errors: `spec.containers[0].name`."""

from __future__ import annotations

from collections.abc import Iterable


def field_path(parts: Iterable[int | str]) -> str:
    """`("spec", "containers", 0, "name")` -> `spec.containers[0].name` (a pydantic `loc`,
    a JSON-schema path); an index is bracketed, a name dotted after the first part."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
