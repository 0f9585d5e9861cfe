"""Reading Kubernetes YAML/JSON files into checked objects, with errors that name
the file, the object and the field."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError, field_validator

from podtap.backends.local.models import K8s, ObjectMeta, PodSpec, ServiceSpec, WorkloadSpec
from podtap.core.field_path import field_path

DEFAULT_NAMESPACE = "default"
CLUSTER_SCOPED = {"Namespace"}


class Namespace(K8s):
    metadata: ObjectMeta


class Pod(K8s):
    metadata: ObjectMeta
    spec: PodSpec


class Deployment(K8s):
    metadata: ObjectMeta
    spec: WorkloadSpec


class StatefulSet(K8s):
    metadata: ObjectMeta
    spec: WorkloadSpec


class Service(K8s):
    metadata: ObjectMeta
    spec: ServiceSpec


class ConfigMap(K8s):
    metadata: ObjectMeta
    data: dict[str, str] = {}


class Secret(K8s):
    metadata: ObjectMeta
    data: dict[str, str] = {}
    string_data: dict[str, str] = {}

    @field_validator("data")
    @classmethod
    def _base64(cls, value: dict[str, str]) -> dict[str, str]:
        for key, encoded in value.items():
            try:
                base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"data.{key} is not valid base64") from exc
        return value

    def decoded(self) -> dict[str, bytes]:
        out = {k: base64.b64decode(v) for k, v in self.data.items()}
        out.update({k: v.encode() for k, v in self.string_data.items()})
        return out


class Unknown(K8s):
    """Any other kind (custom resources): stored and listed, not run."""

    metadata: ObjectMeta


KINDS: dict[str, type[K8s]] = {
    "Namespace": Namespace,
    "Pod": Pod,
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
    "Service": Service,
    "ConfigMap": ConfigMap,
    "Secret": Secret,
}


class ManifestError(ValueError):
    """One or more objects in the given files are invalid; nothing was applied."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class Manifest:
    """One checked object as read from a file."""

    kind: str
    name: str
    namespace: str | None
    raw: dict[str, Any] = field(compare=False)
    source: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or "", self.name)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def model(self) -> BaseModel:
        return KINDS.get(self.kind, Unknown).model_validate(self.raw)


def check(raw: Any, *, source: str, index: int) -> Manifest:
    """Validate one document; raise ManifestError naming file, object and field."""
    where = f"{source} (document {index + 1})"
    if not isinstance(raw, Mapping):
        raise ManifestError([f"{where}: expected a mapping with apiVersion, kind, metadata"])
    kind, meta = raw.get("kind"), raw.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(kind, str) or not kind:
        raise ManifestError([f"{where}: field kind: required (for example kind: Deployment)"])
    if not isinstance(raw.get("apiVersion"), str):
        raise ManifestError([f"{where}: {kind}/{name or '?'}: field apiVersion: required"])
    label = f"{source}: {kind}/{name or '?'}"
    try:
        KINDS.get(kind, Unknown).model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(
            [
                f"{label}: field {field_path(e['loc']) or '(object)'}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
    assert isinstance(meta, Mapping) and isinstance(name, str)
    namespace = None if kind in CLUSTER_SCOPED else meta.get("namespace") or DEFAULT_NAMESPACE
    return Manifest(kind, name, namespace, dict(raw), source)


def parse_text(text: str, *, source: str) -> list[Manifest]:
    if source.endswith(".json"):
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise ManifestError(
                [f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
            ) from None
        return _check_all(docs, source=source)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError([f"{source}: invalid YAML{at}: {problem}"]) from None
    return _check_all(docs, source=source)


def _check_all(docs: list[Any], *, source: str) -> list[Manifest]:
    flat: list[Any] = []
    for doc in docs:
        is_list = isinstance(doc, Mapping) and doc.get("kind") == "List"
        flat.extend(doc.get("items") or [] if is_list else [doc])
    problems: list[str] = []
    out: list[Manifest] = []
    for i, doc in enumerate(flat):
        try:
            out.append(check(doc, source=source, index=i))
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    return out


def manifest_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
    return [path]


def load_files(paths: Iterable[str | Path]) -> list[Manifest]:
    """Read every file (directories: their *.yaml, *.yml, *.json); all or nothing."""
    problems: list[str] = []
    out: list[Manifest] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            problems.append(f"{given}: no such file or directory")
            continue
        for file in manifest_files(path):
            try:
                out.extend(parse_text(file.read_text(encoding="utf-8"), source=str(file)))
            except ManifestError as exc:
                problems.extend(exc.problems)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{file}: cannot read: {exc}")
    seen: dict[tuple[str, str, str], str] = {}
    for m in out:
        if m.key in seen:
            problems.append(f"{m.source}: {m.ref} is also defined in {seen[m.key]}")
        seen[m.key] = m.source
    if problems:
        raise ManifestError(problems)
    return out
