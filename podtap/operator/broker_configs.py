"""A split config's named ``clientConfig``s read from the cluster: the operator's shell.

A queue whose ``clientConfig`` is a name gets the properties of that ``PodtapBrokerConfig``
(or, for Kafka, ``MirrordKafkaClientConfig``) in the operator's own namespace: the kinds are
listed there, each Secret and ConfigMap the chain names is read by one get, and
:mod:`podtap.core.queues.client_config` resolves them. Faults are one line
(:class:`BrokerConfigError`) naming the split config's field and the resource; no value read
is ever part of one, nor logged.
"""

from __future__ import annotations

import logging
from typing import Any

from podtap.backends.base import ClusterBackend
from podtap.core.queues import SplitConfig
from podtap.core.queues.client_config import (
    BROKER_KIND,
    MIRRORD_KAFKA_KIND,
    BrokerConfigError,
    Source,
    find_broker_config,
    source_data,
)

__all__ = ["resolve_client_configs"]

log = logging.getLogger(__name__)


async def _listed(backend: ClusterBackend, kind: str, namespace: str) -> list[dict[str, Any]]:
    try:
        return await backend.list_resources(kind, namespace=namespace)
    except Exception as exc:  # its CRD not installed: none of that kind
        log.debug("no %s: %s", kind, exc)
        return []


async def _read(backend: ClusterBackend, source: Source, namespace: str) -> dict[str, str] | None:
    kind, name = source
    try:
        obj = await backend.get_resource(kind, namespace=namespace, name=name)
    except Exception as exc:
        raise BrokerConfigError(
            f"{kind.lower()} {namespace}/{name} cannot be read ({type(exc).__name__}): check "
            "that the operator's role may get it"
        ) from None
    return source_data(kind, obj)


async def resolve_client_configs(
    backend: ClusterBackend, config: SplitConfig, *, namespace: str, label: str
) -> SplitConfig:
    """``config`` with every named ``clientConfig`` replaced by its resolved properties
    (``namespace``: the operator's; ``label``: the split config, for errors)."""
    named = [(i, q) for i, q in enumerate(config.queues) if q.client_config_name is not None]
    if not named:
        return config
    queues = list(config.queues)
    objects: dict[str, list[dict[str, Any]]] = {}
    for index, queue in named:
        where = f"{label}: spec.queues[{index}].clientConfig"
        if not namespace:
            raise BrokerConfigError(
                f"{where}: names {queue.client_config_name!r}, but this operator has no "
                "namespace to read it from (give the properties inline)"
            )
        for kind in (BROKER_KIND, MIRRORD_KAFKA_KIND):
            if kind not in objects:
                objects[kind] = await _listed(backend, kind, namespace)
        try:
            chain = find_broker_config(
                str(queue.client_config_name),
                queue_kind=queue.kind,
                namespace=namespace,
                objects=objects,
            )
            data = {s: await _read(backend, s, namespace) for s in chain.sources()}
            properties = chain.resolve(data)
        except BrokerConfigError as exc:
            raise BrokerConfigError(f"{where}: {exc}") from None
        queues[index] = queue.model_copy(update={"client_config": properties})
    return config.model_copy(update={"queues": tuple(queues)})
