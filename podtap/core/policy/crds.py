"""The CustomResourceDefinitions of the policy and profile kinds, generated from the models.

``scripts/policy-crds`` writes them into the chart's templates (and ``--check`` says when
they drifted); tests/chart/test_policy_crds.py checks the rendered chart equals
:func:`definitions`. The schemas are pydantic's JSON schema made structural, as the API
server requires: references inlined, ``T | None`` as ``nullable``, no titles or defaults (the
models fill those), a free-form object as ``x-kubernetes-preserve-unknown-fields``,
``exclusiveMinimum`` as OpenAPI v3's flag on ``minimum`` (not JSON Schema's number).

Groups: podtap's kinds are in ``policies.podtap.dev`` and ``profiles.podtap.dev`` as
mirrord's are in ``policies.`` / ``profiles.mirrord.metalbear.co``: a mirrord manifest
carries over by its domain alone, and RBAC can let every developer read profiles (they
select them) while policies stay an admin's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import BaseModel

from podtap.core.policy.models import PolicySpec, ProfileSpec

__all__ = ["KINDS", "CrdKind", "definition", "definitions", "spec_schema", "template"]

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CrdKind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    model: type[BaseModel]
    template: str
    """The chart template file (under templates/) holding the definition."""

    @property
    def mirrord(self) -> bool:
        return self.group.endswith(".mirrord.metalbear.co")


KINDS: Final = (
    CrdKind("policies.podtap.dev", "v1alpha1", "PodtapPolicy", "podtappolicies", True,
            PolicySpec, "crd-policies.yaml"),
    CrdKind("policies.podtap.dev", "v1alpha1", "PodtapClusterPolicy", "podtapclusterpolicies",
            False, PolicySpec, "crd-policies.yaml"),
    CrdKind("profiles.podtap.dev", "v1alpha1", "PodtapProfile", "podtapprofiles", True,
            ProfileSpec, "crd-profiles.yaml"),
    CrdKind("profiles.podtap.dev", "v1alpha1", "PodtapClusterProfile", "podtapclusterprofiles",
            False, ProfileSpec, "crd-profiles.yaml"),
    CrdKind("policies.mirrord.metalbear.co", "v1alpha", "MirrordPolicy", "mirrordpolicies",
            True, PolicySpec, "crd-policies-mirrord.yaml"),
    CrdKind("policies.mirrord.metalbear.co", "v1alpha", "MirrordClusterPolicy",
            "mirrordclusterpolicies", False, PolicySpec, "crd-policies-mirrord.yaml"),
    CrdKind("profiles.mirrord.metalbear.co", "v1alpha", "MirrordProfile", "mirrordprofiles",
            True, ProfileSpec, "crd-profiles-mirrord.yaml"),
    CrdKind("profiles.mirrord.metalbear.co", "v1alpha", "MirrordClusterProfile",
            "mirrordclusterprofiles", False, ProfileSpec, "crd-profiles-mirrord.yaml"),
)  # fmt: skip

_DROPPED: Final = frozenset({"title", "default", "$defs"})


def _structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" in node:
        ref = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_structural(ref, defs), **_structural(rest, defs)}
    if "anyOf" in node:
        kept = [n for n in node["anyOf"] if n.get("type") != "null"]
        assert len(kept) == 1, f"not structural: {node}"
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        nullable = len(kept) < len(node["anyOf"])
        return {**_structural(kept[0], defs), **_structural(rest, defs)} | (
            {"nullable": True} if nullable else {}
        )
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        elif key == "items":
            out[key] = _structural(value, defs)
        elif key == "additionalProperties":
            if value is True and "properties" not in node:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _structural(value, defs)
        elif key == "exclusiveMinimum" and "minimum" not in node:
            out["minimum"], out[key] = value, True  # OpenAPI v3's flag, not JSON Schema's number
        else:
            out[key] = value
    return out


def spec_schema(model: type[BaseModel]) -> Schema:
    """The structural openAPIV3Schema of a ``spec`` validated by ``model``."""
    raw = model.model_json_schema(by_alias=True)
    return _structural(raw, raw.get("$defs", {}))


def definition(kind: CrdKind) -> Schema:
    """The CustomResourceDefinition of ``kind`` (without the chart's labels)."""
    root = {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": spec_schema(kind.model)},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kind.group}"},
        "spec": {
            "group": kind.group,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "categories": ["mirrord" if kind.mirrord else "podtap"],
            },
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [
                {
                    "name": kind.version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def definitions() -> dict[str, Schema]:
    """Every definition by its name (``podtappolicies.policies.podtap.dev``...)."""
    return {f"{k.plural}.{k.group}": definition(k) for k in KINDS}


_HEAD = """{{{{- /* Written by scripts/policy-crds from {source}: do not edit. */}}}}
{{{{- if {condition} }}}}
"""
_META = """---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {name}
  labels:
    {{{{- include "podtap-operator.labels" . | nindent 4 }}}}
  {{{{- if .Values.crds.keep }}}}
  annotations:
    helm.sh/resource-policy: keep
  {{{{- end }}}}
"""


def template(
    name: str, *, kinds: Sequence[CrdKind] = KINDS, source: str = "podtap/core/policy"
) -> str:
    """The text of the chart template ``name`` (one of the ``template`` of ``kinds``,
    :data:`KINDS` unless given; ``source``: the package the models come from)."""
    kinds = [k for k in kinds if k.template == name]
    mirrord = kinds[0].mirrord
    condition = (
        "and .Values.crds.install .Values.crds.mirrord" if mirrord else ".Values.crds.install"
    )
    out = _HEAD.format(condition=condition, source=source)
    for kind in kinds:
        crd = definition(kind)
        out += _META.format(name=crd["metadata"]["name"])
        out += yaml.safe_dump({"spec": crd["spec"]}, sort_keys=False, width=100)
    return out + "{{- end }}\n"
