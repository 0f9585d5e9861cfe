"""The JSON schema of config files (``schema/podtap.schema.json``), generated from the models.

Regenerate with ``python -c "from podtap.core.config import render_schema as r;
print(r(), end='')" > schema/podtap.schema.json``; a test
checks the committed file is up to date.
"""

from __future__ import annotations

import json
from typing import Any

from podtap.core.config.models import ResolvedConfig

__all__ = ["SCHEMA_ID", "config_json_schema", "render_schema"]

SCHEMA_ID = "https://podtap.dev/schema/podtap.schema.json"


def config_json_schema() -> dict[str, Any]:
    """The schema of what a file may contain (shorthands included)."""
    schema = ResolvedConfig.model_json_schema(mode="validation")
    schema["properties"]["$schema"] = {"type": "string", "description": "schema URL (ignored)"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "podtap configuration (mirrord-compatible)",
    }


def render_schema() -> str:
    """The schema file's exact text."""
    return json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"
