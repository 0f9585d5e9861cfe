"""A broker's connection settings from a property list resource, resolved without I/O.

A split config's ``clientConfig`` may name a ``PodtapBrokerConfig`` (any broker) or, for
Kafka, mirrord's ``MirrordKafkaClientConfig``, in the operator's namespace. Its ``spec``:
``properties: [{name, value}]`` (or ``valueFrom: {configMapKeyRef|secretKeyRef: {name,
key}}``, as a pod's env var; a property with neither removes what a parent set),
``parent: NAME`` (another of the same kind, whose properties the child inherits and may
override; a cycle is an error) and ``loadFromSecret: NS/NAME`` (every key of that Secret is a
property, below the same resource's ``properties``). From the highest priority down: the
child's ``properties``, its secret, the parent's ``properties``, the parent's secret.

:func:`find_broker_config` reads the chain of resources (the shell lists the kinds);
:meth:`BrokerChain.sources` says which Secrets and ConfigMaps to read; :meth:`BrokerChain.
resolve` gives the flat map the broker settings take. Errors (:class:`BrokerConfigError`)
are one line naming the resource and the fault, and never hold a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from podtap.core.kube.container_env import secret_text
from podtap.core.queues.models import QueueKind, spec_error

__all__ = [
    "BROKER_KIND",
    "MIRRORD_KAFKA_KIND",
    "BrokerChain",
    "BrokerConfigError",
    "BrokerConfigSpec",
    "Source",
    "find_broker_config",
    "source_data",
]

BROKER_KIND: Final = "PodtapBrokerConfig"
MIRRORD_KAFKA_KIND: Final = "MirrordKafkaClientConfig"
Source = tuple[str, str]  # ("Secret" | "ConfigMap", name), in the operator's namespace


class BrokerConfigError(ValueError):
    """A property list that cannot be resolved (one line naming the resource)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _KeyRef(_Spec):
    name: str = Field(min_length=1)
    key: str = Field(min_length=1)


class ConfigMapKeyRef(_KeyRef):
    """A key of a ConfigMap (its own class: the CRD's schema repeats no node)."""


class SecretKeyRef(_KeyRef):
    """A key of a Secret."""


class ValueFrom(_Spec):
    """One key of a ConfigMap or a Secret in the operator's namespace."""

    config_map_key_ref: ConfigMapKeyRef | None = Field(default=None, alias="configMapKeyRef")
    secret_key_ref: SecretKeyRef | None = Field(default=None, alias="secretKeyRef")

    @model_validator(mode="after")
    def _one(self) -> ValueFrom:
        if (self.config_map_key_ref is None) == (self.secret_key_ref is None):
            raise ValueError("give exactly one of configMapKeyRef or secretKeyRef")
        return self

    @property
    def source(self) -> tuple[Source, str]:
        if self.secret_key_ref is not None:
            return ("Secret", self.secret_key_ref.name), self.secret_key_ref.key
        assert self.config_map_key_ref is not None
        return ("ConfigMap", self.config_map_key_ref.name), self.config_map_key_ref.key


class Property(_Spec):
    """One property: ``value``, or ``valueFrom``, or neither (remove the parent's)."""

    name: str = Field(min_length=1)
    value: str | None = None
    value_from: ValueFrom | None = Field(default=None, alias="valueFrom")

    @model_validator(mode="after")
    def _not_both(self) -> Property:
        if self.value is not None and self.value_from is not None:
            raise ValueError("give at most one of value or valueFrom")
        return self


class BrokerConfigSpec(_Spec):
    """The spec of a ``PodtapBrokerConfig`` (and of mirrord's ``MirrordKafkaClientConfig``)."""

    properties: tuple[Property, ...] = ()
    parent: str | None = Field(default=None, min_length=1)
    load_from_secret: str | None = Field(
        default=None, alias="loadFromSecret", pattern=r"^([a-z0-9.-]+/)?[a-z0-9.-]+$"
    )


def _parse(label: str, obj: Mapping[str, Any]) -> BrokerConfigSpec:
    try:
        return BrokerConfigSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        raise BrokerConfigError(f"{label}: {spec_error(exc)}") from None


@dataclass(frozen=True, slots=True)
class BrokerChain:
    """A resource and its parents, the farthest parent first."""

    kind: str
    namespace: str
    configs: tuple[tuple[str, BrokerConfigSpec], ...]

    def _secret(self, name: str, spec: BrokerConfigSpec) -> Source | None:
        if spec.load_from_secret is None:
            return None
        ns, _, secret = spec.load_from_secret.rpartition("/")
        if ns and ns != self.namespace:
            raise BrokerConfigError(
                f"{self.kind} {name}: loadFromSecret {spec.load_from_secret!r}: the operator "
                f"reads Secrets only in its own namespace {self.namespace!r}"
            )
        return "Secret", secret

    def sources(self) -> list[Source]:
        """The Secrets and ConfigMaps to read, each once."""
        out: dict[Source, None] = {}
        for name, spec in self.configs:
            if (secret := self._secret(name, spec)) is not None:
                out[secret] = None
            out.update((p.value_from.source[0], None) for p in spec.properties if p.value_from)
        return list(out)

    def resolve(self, data: Mapping[Source, Mapping[str, str] | None]) -> dict[str, str]:
        """The flat property map, given each source's data (``None``: it does not exist)."""
        out: dict[str, str] = {}
        for name, spec in self.configs:
            if (secret := self._secret(name, spec)) is not None:
                out.update(self._data(name, secret, data))
            for prop in spec.properties:
                if prop.value_from is not None:
                    source, key = prop.value_from.source
                    found = self._data(name, source, data)
                    if key not in found:
                        raise BrokerConfigError(
                            f"{self.kind} {name}: {self._label(source)} has no key {key!r}"
                        )
                    out[prop.name] = found[key]
                elif prop.value is not None:
                    out[prop.name] = prop.value
                else:
                    out.pop(prop.name, None)
        return out

    def _label(self, source: Source) -> str:
        return f"{source[0].lower()} {self.namespace}/{source[1]}"

    def _data(
        self, name: str, source: Source, data: Mapping[Source, Mapping[str, str] | None]
    ) -> Mapping[str, str]:
        found = data.get(source)
        if found is None:
            raise BrokerConfigError(f"{self.kind} {name}: {self._label(source)} not found")
        return found


def find_broker_config(
    name: str,
    *,
    queue_kind: QueueKind,
    namespace: str,
    objects: Mapping[str, Sequence[Mapping[str, Any]]],
) -> BrokerChain:
    """The chain of the resource ``name`` in ``objects`` (kind -> the objects of that kind
    in ``namespace``, the operator's): a ``PodtapBrokerConfig``, else for Kafka a
    ``MirrordKafkaClientConfig``; its parents are of its own kind."""
    kinds = (BROKER_KIND, MIRRORD_KAFKA_KIND) if queue_kind is QueueKind.KAFKA else (BROKER_KIND,)
    for kind in kinds:
        by_name = {str(o["metadata"]["name"]): o for o in objects.get(kind, ())}
        if name in by_name:
            return _chain(kind, name, namespace, by_name)
    raise BrokerConfigError(
        f"no {' or '.join(kinds)} {name!r} in the operator's namespace {namespace!r}"
    )


def _chain(
    kind: str, name: str, namespace: str, by_name: Mapping[str, Mapping[str, Any]]
) -> BrokerChain:
    seen: list[str] = []
    configs: list[tuple[str, BrokerConfigSpec]] = []
    current: str | None = name
    while current is not None:
        seen.append(current)
        spec = _parse(f"{kind} {current}", by_name[current])
        configs.append((current, spec))
        if spec.parent is not None and spec.parent not in by_name:
            raise BrokerConfigError(f"{kind} {current}: parent {spec.parent!r} not found")
        if spec.parent in seen:
            cycle = " -> ".join([*seen, str(spec.parent)])
            raise BrokerConfigError(
                f"{kind} {current}: parent {spec.parent!r} is a cycle ({cycle})"
            )
        current = spec.parent
    return BrokerChain(kind, namespace, tuple(reversed(configs)))


def source_data(kind: str, obj: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A Secret's (decoded) or a ConfigMap's data, ``None`` for no object."""
    if obj is None:
        return None
    return (
        secret_text(obj)
        if kind == "Secret"
        else {k: str(v) for k, v in (obj.get("data") or {}).items()}
    )
