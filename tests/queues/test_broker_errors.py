"""A broker that cannot be reached, or a clientConfig that cannot be used, is one clear
line saying where and what to check; the forwarder keeps trying and says why."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from podtap.backends.brokers.base import BrokerError, BrokerUnavailable
from podtap.backends.brokers.factory import broker_client
from podtap.backends.brokers.forwarder import Forwarder
from podtap.backends.brokers.settings import kafka_settings, redact_url, sqs_settings
from podtap.backends.local.kubeapi.pki import ClusterCA
from podtap.core.queues import QueueKind
from podtap.testing.brokers_proc import free_port
from podtap.testing.wait import async_wait_until


def _nowhere(kind: QueueKind, port: int) -> dict[str, str]:
    if kind is QueueKind.SQS:
        return {
            "endpointUrl": f"http://127.0.0.1:{port}",
            "accessKeyId": "a",
            "secretAccessKey": "b",
        }
    if kind is QueueKind.RMQ:
        return {"url": f"amqp://guest:s3cret@127.0.0.1:{port}/"}
    return {"bootstrap.servers": f"127.0.0.1:{port}"}


async def _connect(kind: QueueKind, port: int) -> str:
    client = broker_client(kind, _nowhere(kind, port))
    try:
        await client.connect()
    except BrokerUnavailable as exc:
        return str(exc)
    finally:
        await client.close()
    raise AssertionError("connected to nothing")


@pytest.mark.parametrize("kind", list(QueueKind))
def test_an_unreachable_broker_is_one_line_naming_its_address(kind: QueueKind) -> None:
    port = free_port()
    started = time.monotonic()
    message = asyncio.run(_connect(kind, port))
    assert time.monotonic() - started < 20
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and "check that it runs" in message
    assert "s3cret" not in message  # no password in a message


def test_a_client_config_without_its_address_says_which_key() -> None:
    with pytest.raises(BrokerError, match=r"bootstrap\.servers"):
        broker_client(QueueKind.KAFKA, {})
    with pytest.raises(BrokerError, match="needs url"):
        broker_client(QueueKind.RMQ, {"host": "x"})
    with pytest.raises(BrokerError, match="not an amqp:// URL"):
        broker_client(QueueKind.RMQ, {"url": "http://u:pw@x/"})


def test_keys_are_found_however_they_are_spelled() -> None:
    kafka = kafka_settings({"BOOTSTRAP_SERVERS": "k:9092", "groupId": "g"})
    assert (kafka.group_id, kafka.idempotence) == ("g", False)
    assert kafka_settings({"bootstrap.servers": "k", "enable.idempotence": "true"}).idempotence
    sqs = sqs_settings({"AWS_REGION": "eu-west-1", "endpoint_url": "http://e"})
    assert (sqs.region, sqs.endpoint_url) == ("eu-west-1", "http://e")
    assert redact_url("amqp://u:pw@h:5672/v") == "amqp://u:***@h:5672/v"


def test_a_secured_kafkas_settings_are_carried_or_refused_never_dropped(
    tmp_path: Path,
) -> None:
    ca = ClusterCA.create(cluster="kafka")
    client = ca.client(user="podtap")
    client.write(cert=tmp_path / "c.pem", key=tmp_path / "k.pem")
    config = {
        "bootstrap.servers": "k:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "podtap",
        "sasl.password": "s3cret",
        "ssl.ca.pem": ca.cert_pem.decode(),
        "ssl.certificate.location": str(tmp_path / "c.pem"),
        "ssl.key.location": str(tmp_path / "k.pem"),
        "ssl.endpoint.identification.algorithm": "none",
    }
    security = kafka_settings(config).security
    assert "s3cret" not in repr(kafka_settings(config))
    options = security.options()
    assert (options["security_protocol"], options["sasl_mechanism"]) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("podtap", "s3cret")
    context = options["ssl_context"]
    assert context.check_hostname is False and context.get_ca_certs()  # the CA given, trusted
    assert kafka_settings({"bootstrap.servers": "k"}).security.options() == {
        "security_protocol": "PLAINTEXT"
    }
    refused = {
        "security.protocol": ("TLS", "'TLS' is not one of PLAINTEXT, SSL"),
        "sasl.mechanism": ("GSSAPI", "'GSSAPI' is not one podtap can use"),
        "ssl.key.pem": ("-----BEGIN", "clientConfig.ssl.key.pem: give the file instead"),
    }
    for key, (value, message) in refused.items():
        with pytest.raises(BrokerError, match=re.escape(message)):
            kafka_settings({**config, key: value})
    no_password = {k: v for k, v in config.items() if k != "sasl.password"}
    with pytest.raises(BrokerError, match=r"SASL_SSL needs sasl\.username and sasl\.password"):
        kafka_settings(no_password)
    with pytest.raises(BrokerError, match="Kafka's TLS settings"):
        kafka_settings({**config, "ssl.ca.pem": "not a certificate"}).security.options()


async def _keeps_trying(port: int) -> Forwarder:
    fwd = Forwarder(
        broker_client(QueueKind.RMQ, _nowhere(QueueKind.RMQ, port)),
        original="orders",
        fallback="orders-fallback",
        max_backoff=0.2,
    )
    fwd.start()
    await async_wait_until(lambda: fwd.stats.last_error, timeout=10, what="an error")
    await asyncio.wait_for(fwd.stop(), timeout=5)
    return fwd


def test_a_forwarder_without_its_broker_keeps_trying_and_says_why() -> None:
    port = free_port()
    fwd = asyncio.run(_keeps_trying(port))
    assert fwd.stats.received == 0
    assert f"cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{port}/" in (
        fwd.stats.last_error or ""
    )
