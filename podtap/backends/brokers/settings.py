"""A split config's ``clientConfig`` read into each broker's connection settings.

The operator resolves the property list (literal values, ConfigMaps, Secrets) into a flat
map first; here a name is found however it is spelled, as Kafka properties
(``bootstrap.servers``), camelCase (``bootstrapServers``) or env vars
(``BOOTSTRAP_SERVERS``): case, dots, dashes and underscores do not count.
SQS: ``endpointUrl`` (else AWS's own), ``region`` (default ``us-east-1``),
``accessKeyId``/``secretAccessKey``/``sessionToken`` (else AWS's usual chain).
RabbitMQ: ``url`` (``amqp://user:password@host:port/vhost``). Kafka: ``bootstrap.servers``,
``group.id`` (the forwarder's consumer group; default ``podtap-forwarder``),
``enable.idempotence`` (``true``: the broker drops a batch the producer sent twice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from podtap.backends.brokers.base import BrokerError

__all__ = [
    "KafkaSettings",
    "RabbitSettings",
    "SqsSettings",
    "kafka_settings",
    "rabbit_settings",
    "redact_url",
    "sqs_settings",
]


@dataclass(frozen=True, slots=True)
class SqsSettings:
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    @property
    def address(self) -> str:
        return self.endpoint_url or f"sqs.{self.region}.amazonaws.com"


@dataclass(frozen=True, slots=True)
class RabbitSettings:
    url: str

    @property
    def address(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str
    group_id: str = "podtap-forwarder"
    idempotence: bool = False

    @property
    def address(self) -> str:
        return self.bootstrap_servers


def _norm(name: str) -> str:
    return re.sub(r"[._\-]", "", name).lower()


def _get(config: Mapping[str, Any], *names: str) -> str | None:
    wanted = {_norm(n) for n in names}
    for key, value in config.items():
        if _norm(key) in wanted and value is not None and str(value) != "":
            return str(value)
    return None


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def sqs_settings(config: Mapping[str, Any]) -> SqsSettings:
    return SqsSettings(
        endpoint_url=_get(config, "endpointUrl", "endpoint", "awsEndpointUrl"),
        region=_get(config, "region", "awsRegion", "awsDefaultRegion") or "us-east-1",
        access_key_id=_get(config, "accessKeyId", "awsAccessKeyId"),
        secret_access_key=_get(config, "secretAccessKey", "awsSecretAccessKey"),
        session_token=_get(config, "sessionToken", "awsSessionToken"),
    )


def rabbit_settings(config: Mapping[str, Any]) -> RabbitSettings:
    url = _get(config, "url", "amqpUrl", "uri")
    if url is None:
        raise BrokerError("clientConfig: RabbitMQ needs url (amqp://user:password@host:port/)")
    if urlsplit(url).scheme not in ("amqp", "amqps"):
        raise BrokerError(f"clientConfig.url: {redact_url(url)!r} is not an amqp:// URL")
    return RabbitSettings(url=url)


def kafka_settings(config: Mapping[str, Any]) -> KafkaSettings:
    servers = _get(config, "bootstrap.servers")
    if servers is None:
        raise BrokerError("clientConfig: Kafka needs bootstrap.servers (host:port,...)")
    return KafkaSettings(
        bootstrap_servers=servers,
        group_id=_get(config, "group.id") or "podtap-forwarder",
        idempotence=(_get(config, "enable.idempotence") or "false").lower() == "true",
    )
