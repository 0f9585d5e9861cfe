"""The base of the local Kubernetes models: camelCase aliases, unknown fields ignored (the
node's admission, `runnable`, refuses those that would change what runs), frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class K8s(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )
