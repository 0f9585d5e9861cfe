"""Real message brokers on loopback for tests: SQS (moto), RabbitMQ (Debian), Kafka (Tansu).

Each context manager starts its broker on 127.0.0.1 on free ports, waits until it answers,
yields where it is, and stops it by its pid on the way out, even when the test fails; no
process, port or temporary directory is left (``leftovers()`` on the yielded object says
what is). How each starts is in the design notes' facts ("Brokers that run here").
RabbitMQ takes ~9 s to start: share one per test session and keep tests apart by names
(:func:`unique_name`).

Each takes ``host=`` (the address it listens on; default 127.0.0.1) and ``netns=`` (a
network namespace, ``/proc/PID/ns/net``, to run it in: the embedded cluster's node, whose
pods reach it on the node's gateway address). Readiness is then checked from inside that
namespace (:func:`~podtap.testing.brokers_proc.in_netns`), where the test's own clients
must run too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from podtap.testing.brokers_proc import (
    BrokerProcess,
    free_port,
    in_netns,
    leftovers,
    netns_argv,
    port_open,
)
from podtap.testing.brokers_rabbitmq import RabbitMQ, rabbitmq

__all__ = ["Kafka", "RabbitMQ", "Sqs", "kafka", "rabbitmq", "sqs", "tansu_binary", "unique_name"]


def unique_name(prefix: str) -> str:
    """A queue, exchange or topic name no other test uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Sqs:
    """A moto SQS server: pass these to ``aiobotocore``'s ``create_client("sqs", ...)``."""

    endpoint_url: str
    port: int
    pid: int
    dir: Path
    region: str = "us-east-1"
    access_key: str = "test"
    secret_key: str = "test"  # moto accepts any credentials; these are the documented fakes

    def leftovers(self) -> list[str]:
        return leftovers(pids=[self.pid], ports=[self.port], paths=[self.dir])


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextmanager
def sqs(
    *, timeout: float = 30.0, host: str = "127.0.0.1", netns: str | None = None
) -> Iterator[Sqs]:
    """A moto server (``moto_server -H HOST -p PORT``) for the SQS API."""
    proc = BrokerProcess("moto-sqs")
    try:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]
        proc.start(netns_argv(netns, argv))
        url = f"http://{host}:{port}"
        ready = f"{url}/moto-api/"
        proc.wait_ready(lambda: in_netns(netns, lambda: _http_answers(ready)), timeout=timeout)
        yield Sqs(endpoint_url=url, port=port, pid=proc.pid, dir=proc.dir)
    finally:
        proc.stop()


@dataclass(slots=True)
class Kafka:
    """A Tansu broker speaking the Kafka protocol: ``bootstrap_servers`` for ``aiokafka``.
    :meth:`restart` stops it by its pid and starts it again on the same port; its records
    survive only when it stores them in S3 (``kafka(s3=...)``), not in memory."""

    bootstrap_servers: str
    port: int
    pid: int
    dir: Path
    _process: BrokerProcess | None = field(default=None, repr=False, compare=False)
    _argv: list[str] = field(default_factory=list, repr=False, compare=False)
    _env: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def restart(self, *, timeout: float = 30.0) -> None:
        assert self._process is not None, "not started by kafka()"
        self._process.stop(keep=True)
        self._process.start(self._argv, env=self._env)
        self.pid = self._process.pid
        self._process.wait_ready(lambda: port_open(self.port), timeout=timeout)

    def leftovers(self) -> list[str]:
        return leftovers(pids=[self.pid], ports=[self.port], paths=[self.dir])


def tansu_binary() -> Path:
    """The Tansu binary scripts/install-brokers put in the tool cache; one line if absent."""
    tools = os.environ.get("PODTAP_TOOLS") or str(Path(__file__).resolve().parents[2] / ".tools")
    path = Path(tools) / "tansu"
    if not path.is_file() and (found := shutil.which("tansu")):
        path = Path(found)
    if not path.is_file():
        raise FileNotFoundError(f"no tansu in {tools}: run `source scripts/setup` (it installs it)")
    return path


def _s3_storage(s3: Sqs) -> tuple[str, dict[str, str]]:
    """A new bucket on moto's S3 (the same server as its SQS) and Tansu's env to use it."""
    bucket = unique_name("tansu")
    request = urllib.request.Request(f"{s3.endpoint_url}/{bucket}", method="PUT")
    with urllib.request.urlopen(request, timeout=10):
        pass
    env = {
        **os.environ,
        "AWS_ENDPOINT": s3.endpoint_url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_DEFAULT_REGION": s3.region,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    }
    return f"s3://{bucket}/", env


@contextmanager
def kafka(
    *,
    timeout: float = 30.0,
    s3: Sqs | None = None,
    host: str = "127.0.0.1",
    netns: str | None = None,
) -> Iterator[Kafka]:
    """A Tansu broker listening and advertised on ``host``, its records in memory, or in
    a bucket of moto's S3 when ``s3`` (a running moto server) is given: then they survive
    :meth:`Kafka.restart` (not with ``netns``)."""
    binary = tansu_binary()
    proc = BrokerProcess("tansu")
    try:
        port = free_port()
        url = f"tcp://{host}:{port}"
        storage, env = _s3_storage(s3) if s3 is not None else ("memory://tansu/", None)
        argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
        argv = netns_argv(netns, [*argv, "--storage-engine", storage])
        proc.start(argv, env=env)
        proc.wait_ready(
            lambda: in_netns(netns, lambda: port_open(port, host=host)), timeout=timeout
        )
        yield Kafka(
            bootstrap_servers=f"{host}:{port}",
            port=port,
            pid=proc.pid,
            dir=proc.dir,
            _process=proc,
            _argv=argv,
            _env=env,
        )
    finally:
        proc.stop()
