"""A RabbitMQ broker on loopback for tests, from Debian's rabbitmq-server, without systemd.

The ``sbin`` wrapper switches to the ``rabbitmq`` user, so the package's unwrapped script
(``/usr/lib/rabbitmq/bin/rabbitmq-server``) runs as we are, with every directory in a
temporary one and every port on 127.0.0.1: AMQP, the Erlang distribution port (forced onto
loopback with ``inet_dist_use_interface``, else it binds 0.0.0.0) and our own ``epmd``,
started first on a port of its own so it is a child we stop by pid, not a daemon the VM
leaves behind. No plugins, ``loopback_users = none`` so ``guest`` can log in.
"""

from __future__ import annotations

import os
import shutil
import socket
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

__all__ = ["RABBITMQ_SCRIPT", "RabbitMQ", "rabbitmq"]

RABBITMQ_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass(slots=True)
class RabbitMQ:
    """Where the broker listens: ``url`` is for ``aio_pika.connect_robust``.
    :meth:`restart` stops the VM by its pid and starts it again on the same ports and
    data (durable queues keep their persistent messages); ``pid`` is then the new one."""

    url: str
    port: int
    dist_port: int
    epmd_port: int
    pid: int
    epmd_pid: int
    dir: Path
    user: str = "guest"
    password: str = "guest"
    _process: BrokerProcess | None = field(default=None, repr=False, compare=False)
    _env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def restart(self, *, timeout: float = 60.0) -> None:
        """SIGTERM to the VM (its orderly shutdown), then the same VM again, ready."""
        assert self._process is not None, "not started by rabbitmq()"
        self._process.stop(timeout=30, keep=True)
        self._process.start([str(RABBITMQ_SCRIPT)], env=self._env)
        self.pid = self._process.pid
        self._process.wait_ready(lambda: _amqp_answers(self.port), timeout=timeout)

    def leftovers(self) -> list[str]:
        ports = [self.port, self.dist_port, self.epmd_port]
        return leftovers(pids=[self.pid, self.epmd_pid], ports=ports, paths=[self.dir])


def _amqp_answers(port: int, host: str = "127.0.0.1") -> bool:
    """Whether the broker answers AMQP 0-9-1's protocol header with a method frame."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(_AMQP_HEADER)
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


def _environment(
    base: Path, *, name: str, port: int, dist: int, epmd: int, host: str
) -> dict[str, str]:
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {host}:{port}\nloopback_users = none\n"
    )
    (base / "rabbitmq-env.conf").write_text("")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {
        **keep,
        "HOME": str(base),
        "RABBITMQ_NODENAME": f"{name}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": host,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        # exec the VM in place of the script (as under systemd): the pid we started is the
        # VM's, so its parent-death signal takes the broker along if the test runner dies
        "RUNNING_UNDER_SYSTEMD": "true",
    }


@contextmanager
def rabbitmq(
    *, timeout: float = 60.0, host: str = "127.0.0.1", netns: str | None = None
) -> Iterator[RabbitMQ]:
    """RabbitMQ on ``host`` (ready in ~9 s); stopped by SIGTERM to the VM's pid (the one
    started, also in its pid file), then epmd. ``netns``: run it (and epmd) in that
    network namespace; epmd and the distribution port stay on its loopback. No restart
    then."""
    if not RABBITMQ_SCRIPT.is_file() or shutil.which("epmd") is None:
        raise FileNotFoundError(
            f"no {RABBITMQ_SCRIPT}: run `source scripts/setup` as root "
            "(it installs rabbitmq-server)"
        )
    epmd, broker = BrokerProcess("epmd"), BrokerProcess("rabbitmq")
    try:
        port, dist, epmd_port = free_port(), free_port(), free_port()
        env = _environment(
            broker.dir, name=broker.dir.name, port=port, dist=dist, epmd=epmd_port, host=host
        )
        epmd_argv = ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"]
        epmd.start(netns_argv(netns, epmd_argv), env=env)
        epmd.wait_ready(lambda: in_netns(netns, lambda: port_open(epmd_port)), timeout=10)
        broker.start(netns_argv(netns, [str(RABBITMQ_SCRIPT)]), env=env)
        broker.wait_ready(
            lambda: in_netns(netns, lambda: _amqp_answers(port, host)), timeout=timeout
        )
        yield RabbitMQ(
            url=f"amqp://guest:guest@{host}:{port}/",
            port=port,
            dist_port=dist,
            epmd_port=epmd_port,
            pid=broker.pid,
            epmd_pid=epmd.pid,
            dir=broker.dir,
            _process=broker,
            _env=env,
        )
    finally:
        broker.stop(timeout=30)  # SIGTERM to the VM: RabbitMQ's own orderly shutdown
        epmd.stop()
