#!/usr/bin/env python3
"""Regenerate podtap/core/kube/patch_keys.json from Kubernetes' OpenAPI definitions.

Usage: scripts/gen_patch_keys.py [DEFINITIONS.json] [-o OUT]

DEFINITIONS is either Kubernetes' ``api/openapi-spec/swagger.json`` (definitions under
``definitions``) or the ``_definitions.json`` that the ``kubernetes-validate`` package ships
(under ``$defs``); both keep the ``x-kubernetes-patch-*`` / ``-list-*`` / ``-map-type``
extensions. Without an argument the newest schema of an installed kubernetes-validate is read.

The table keeps, for every type reachable from the kinds below, each field's shape and only
the facts that strategic merge patch and server-side apply need, so the server never has to
ship or parse the 2 MB schema. Nothing here is a source of truth: rerun it after a Kubernetes
minor release and commit the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# API groups whose kinds kubectl and helm create here; "" is the core group.
GROUPS = {
    "",
    "apps",
    "batch",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "discovery.k8s.io",
    "coordination.k8s.io",
    "networking.k8s.io",
    "policy",
    "autoscaling",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "events.k8s.io",
}
# Key fields the server defaults before keying a list item (``protocol`` of ports); the
# kubernetes-validate copy drops OpenAPI ``default``s, so they are stated here.
KEY_DEFAULTS = {"protocol": "TCP"}
OUT = Path(__file__).resolve().parent.parent / "podtap" / "core" / "kube" / "patch_keys.json"


def _default_source() -> Path:
    import kubernetes_validate  # type: ignore[import-untyped]

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    newest = max(
        (p for p in root.iterdir() if p.name.endswith("-local")),
        key=lambda p: tuple(int(x) for x in p.name[1:].split("-")[0].split(".")),
    )
    return newest / "_definitions.json"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _is_stable(version: str) -> bool:
    return "alpha" not in version and "beta" not in version


class Builder:
    """Walks definitions from the kinds, emitting the compact type refs of patch_keys.json."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.types: dict[str, Any] = {}

    def ref(self, prop: dict[str, Any]) -> Any:
        """A field's type: "" scalar, "*" untyped, a type name, or an inline list/map."""
        if "allOf" in prop and len(prop["allOf"]) == 1:
            prop = {**prop["allOf"][0], **{k: v for k, v in prop.items() if k != "allOf"}}
        if "$ref" in prop:
            return self.named(_ref_name(prop["$ref"]))
        kind = prop.get("type")
        kind = next(k for k in kind if k != "null") if isinstance(kind, list) and kind else kind
        if kind == "array":
            out: dict[str, Any] = {"list": prop.get("x-kubernetes-list-type", "atomic")}
            if out["list"] == "map":
                out["keys"] = prop.get("x-kubernetes-list-map-keys", [])
            if "x-kubernetes-patch-strategy" in prop:
                out["strategy"] = prop["x-kubernetes-patch-strategy"]
            if "x-kubernetes-patch-merge-key" in prop:
                out["mergeKey"] = prop["x-kubernetes-patch-merge-key"]
            out["items"] = self.ref(prop.get("items", {}))
            return out
        if kind == "object" or "additionalProperties" in prop or "properties" in prop:
            if "properties" in prop:
                raise ValueError(f"inline struct not supported: {sorted(prop)}")
            values = prop.get("additionalProperties")
            if not isinstance(values, dict):
                return "*"
            out = {"map": self.ref(values)}
            if prop.get("x-kubernetes-map-type") == "atomic":
                out["atomic"] = True
            return out
        if "oneOf" in prop or kind in ("string", "integer", "number", "boolean"):
            return ""
        return "*"

    def named(self, name: str) -> str:
        if name in self.types:
            return name
        d = self.defs[name]
        if "properties" not in d:
            self.types[name] = self.ref(d) or ""
            if self.types[name] in ("", "*"):
                return str(self.types.pop(name))
            return name
        entry: dict[str, Any] = {"fields": {}}
        self.types[name] = entry
        if d.get("x-kubernetes-map-type") == "atomic":
            entry["atomic"] = True
        strategies = {}
        for field, prop in sorted(d["properties"].items()):
            entry["fields"][field] = self.ref(prop)
            strategy = prop.get("x-kubernetes-patch-strategy")
            if strategy and prop.get("type") not in ("array", ["array", "null"]):
                strategies[field] = strategy
        if strategies:
            entry["strategies"] = strategies
        return name


def build(defs: dict[str, Any]) -> dict[str, Any]:
    b = Builder(defs)
    kinds: dict[str, str] = {}
    for name, d in sorted(defs.items()):
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            if gvk["group"] in GROUPS and _is_stable(gvk["version"]) and "properties" in d:
                if gvk["kind"].endswith("List") or gvk["kind"] in (
                    "Status",
                    "WatchEvent",
                    "DeleteOptions",
                ):
                    continue
                gv = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                kinds[f"{gv}/{gvk['kind']}"] = b.named(name)
    return {"keyDefaults": KEY_DEFAULTS, "kinds": kinds, "types": b.types}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("definitions", nargs="?", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    doc = json.loads((args.definitions or _default_source()).read_text())
    defs = doc.get("definitions") or doc["$defs"]
    table = build(defs)
    args.out.write_text(json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(table['kinds'])} kinds, {len(table['types'])} types")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
