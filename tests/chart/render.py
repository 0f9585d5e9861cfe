"""`helm template` of charts/podtap-operator with the real helm, once per set of values."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.kubeapi.server import tools

CHART = Path(__file__).parents[2] / "charts" / "podtap-operator"
RELEASE = "podtap-operator"
NAMESPACE = "podtap-system"
FULLNAME = "podtap-operator"

Obj = dict[str, Any]
# What a real cluster's discovery has and helm template does not assume (the embedded one lacks it).
API = ("--api-versions", "policy/v1/PodDisruptionBudget")


@functools.cache
def helm() -> Path:
    return tools() / "helm"


def template(values: Obj, *args: str) -> subprocess.CompletedProcess[str]:
    """helm template with `values` given on stdin (JSON is YAML), and more `args`."""
    argv = [str(helm()), "template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", "-", *API, *args]
    return subprocess.run(
        argv, input=json.dumps(values), capture_output=True, text=True, timeout=60, check=False
    )


@functools.cache
def _rendered(values_json: str) -> tuple[Obj, ...]:
    done = template(json.loads(values_json))
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if d)


def render(values: Obj) -> tuple[Obj, ...]:
    """The objects `values` render to (cached: each set of values is rendered once)."""
    return _rendered(json.dumps(values, sort_keys=True))


def refusal(values: Obj, *args: str) -> str:
    """The error helm prints for `values` (and `args`), which it must refuse."""
    done = template(values, *args)
    assert done.returncode != 0, f"helm accepted {values}"
    return done.stderr


def kinds(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: tuple[Obj, ...], kind: str, name: str | None = None) -> Obj:
    found = [o for o in kinds(objs, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def operator_container(objs: tuple[Obj, ...]) -> Obj:
    spec = one(objs, "Deployment")["spec"]["template"]["spec"]
    containers: list[Obj] = spec["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def env(objs: tuple[Obj, ...]) -> dict[str, str]:
    """The operator's plain env values (downward API ones as `fieldRef:PATH`)."""
    out: dict[str, str] = {}
    for e in operator_container(objs)["env"]:
        ref = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        out[e["name"]] = f"fieldRef:{ref}" if ref else e["value"]
    return out


def images(objs: tuple[Obj, ...]) -> Iterator[str]:
    """Every image any rendered pod template names."""
    for o in objs:
        spec = o.get("spec", {}).get("template", {}).get("spec", {})
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key, []):
                yield c["image"]


def rules(role: Obj) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every rule of a Role or ClusterRole."""
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
