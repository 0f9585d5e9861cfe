"""A split config's ``clientConfig`` read into each broker's connection settings.

The operator resolves the property list (literal values, ConfigMaps, Secrets) into a flat
map first; here a name is found however it is spelled, as Kafka properties
(``bootstrap.servers``), camelCase (``bootstrapServers``) or env vars
(``BOOTSTRAP_SERVERS``): case, dots, dashes and underscores do not count.
SQS: ``endpointUrl`` (else AWS's own), ``region`` (default ``us-east-1``),
``accessKeyId``/``secretAccessKey``/``sessionToken`` (else AWS's usual chain).
RabbitMQ: ``url`` (``amqp://user:password@host:port/vhost``). Kafka: ``bootstrap.servers``,
``group.id`` (the forwarder's consumer group; default ``podtap-forwarder``),
``enable.idempotence`` (``true``: the broker drops a batch the producer sent twice), and how
to reach a secured cluster, in librdkafka's names: ``security.protocol`` (``PLAINTEXT``,
``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL``), ``sasl.mechanism`` (``PLAIN``,
``SCRAM-SHA-256``, ``SCRAM-SHA-512``), ``sasl.username``, ``sasl.password``,
``ssl.ca.location`` or ``ssl.ca.pem``, ``ssl.certificate.location`` with
``ssl.key.location`` (and ``ssl.key.password``), ``ssl.endpoint.identification.algorithm``
(``none``: no host name check). A value podtap cannot use is a one-line error, never
skipped: a split must not fall back to an unsecured connection.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from podtap.backends.brokers.base import BrokerError

__all__ = [
    "KafkaSecurity",
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
class KafkaSecurity:
    """How to reach a secured Kafka (aiokafka's names); secrets are kept out of ``repr``."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ca_location: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    certificate_location: str | None = None
    key_location: str | None = None
    key_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    def options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients (reads the CA and key files)."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            out |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.protocol.endswith("SSL"):
            try:
                context = ssl.create_default_context(cafile=self.ca_location, cadata=self.ca_pem)
                if self.certificate_location:
                    context.load_cert_chain(
                        self.certificate_location, self.key_location, password=self.key_password
                    )
            except (OSError, ssl.SSLError) as exc:
                raise BrokerError(f"clientConfig: Kafka's TLS settings: {exc}") from None
            context.check_hostname = self.check_hostname
            out["ssl_context"] = context
        return out


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str
    group_id: str = "podtap-forwarder"
    idempotence: bool = False
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

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
        security=_kafka_security(config),
    )


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _kafka_security(config: Mapping[str, Any]) -> KafkaSecurity:
    protocol = (_get(config, "security.protocol") or "PLAINTEXT").upper()
    if protocol not in _PROTOCOLS:
        raise BrokerError(
            f"clientConfig.security.protocol: {protocol!r} is not one of {', '.join(_PROTOCOLS)}"
        )
    mechanism = (_get(config, "sasl.mechanism", "sasl.mechanisms") or "PLAIN").upper()
    if protocol.startswith("SASL_") and mechanism not in _MECHANISMS:
        raise BrokerError(
            f"clientConfig.sasl.mechanism: {mechanism!r} is not one podtap can use "
            f"({', '.join(_MECHANISMS)})"
        )
    username, password = _get(config, "sasl.username"), _get(config, "sasl.password")
    if protocol.startswith("SASL_") and (username is None or password is None):
        raise BrokerError(f"clientConfig: {protocol} needs sasl.username and sasl.password")
    for pem in ("ssl.certificate.pem", "ssl.key.pem"):
        if _get(config, pem) is not None:
            raise BrokerError(
                f"clientConfig.{pem}: give the file instead ({pem.replace('.pem', '.location')}, "
                "e.g. from a Secret mounted into the operator)"
            )
    algorithm = (_get(config, "ssl.endpoint.identification.algorithm") or "https").lower()
    return KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=username,
        sasl_password=password,
        ca_location=_get(config, "ssl.ca.location"),
        ca_pem=_get(config, "ssl.ca.pem"),
        certificate_location=_get(config, "ssl.certificate.location"),
        key_location=_get(config, "ssl.key.location"),
        key_password=_get(config, "ssl.key.password"),
        check_hostname=algorithm != "none",
    )
