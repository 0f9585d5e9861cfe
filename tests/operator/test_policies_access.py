"""Files and outgoing connections under policies, as a rogue client would ask for them: raw
frames, answered by the operator itself when a policy refuses them (the agent never sees
them), passed on to the (fake) agent otherwise."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    Connect,
    ConnectResult,
    FileOpen,
    FileOpenResult,
    FileReadDir,
    FileReadDirResult,
    FileStat,
    FileStatResult,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    TransportProtocol,
)
from podtap.testing.agentproc import SessionPeer
from tests.operator.inproc import audit_events
from tests.operator.test_policies import Running, policy, run, session

FAKE_FILES = "the fake agent serves no files"
FAKE_OUT = "the fake agent serves no outgoing connections"
FS = policy(
    "fs",
    {"fs": {"notFound": ["^/etc/secret"], "readOnly": ["^/data/"], "local": ["^/tmp/mine/"]}},
)
EGRESS = policy(
    "egress",
    {
        "network": {
            "outgoing": {
                "block": [
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.9.0.0/16"]}},
                    {"hostname": "localhost", "ports": [{"protocol": "TCP", "port": 5432}]},
                ]
            }
        }
    },
)


async def opened(peer: SessionPeer, path: str, flags: int = os.O_RDONLY) -> FileOpenResult:
    await peer.send(FileOpen(request=RequestId(1), path=path, flags=flags))
    return await peer.expect(FileOpenResult, timeout=2)


def test_hidden_local_and_read_only_files(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            hidden = await opened(peer, "/etc/secret/key")
            assert hidden.error is not None and hidden.error.errno == errno.ENOENT
            assert hidden.error.message == "policy default/fs hides /etc/secret/key: not found"
            await peer.send(FileStat(request=RequestId(2), path="/etc/secret"))
            stat = await peer.expect(FileStatResult, timeout=2)
            assert stat.error is not None and stat.error.errno == errno.ENOENT
            await peer.send(FileReadDir(request=RequestId(3), path="/etc/secret/"))
            listing = await peer.expect(FileReadDirResult, timeout=2)
            assert listing.error is not None and listing.error.errno == errno.ENOENT
            local = await opened(peer, "/tmp/mine/notes")
            assert local.error is not None and local.error.errno == errno.ENOENT
            assert "keeps /tmp/mine/notes local" in local.error.message
            written = await opened(peer, "/data/x", os.O_WRONLY | os.O_TRUNC)
            assert written.error is not None and written.error.errno == errno.EROFS
            assert written.error.message.startswith("policy default/fs makes /data/x read-only")
            for sneaky in ("/etc/./secret/key", "//etc/secret//key", "/tmp/../etc/secret/key"):
                around = await opened(peer, sneaky)  # the same file, spelled otherwise
                assert around.error is not None and around.error.errno == errno.ENOENT, sneaky
            for path in ("/data/x", "/etc/hosts"):  # read, or not named: the agent answers
                answer = await opened(peer, path)
                assert answer.error is not None and answer.error.message == FAKE_FILES
            reasons = [e["reason"] for e in audit_events(op.service) if e["event"] == "refusal"]
            assert len(reasons) == 8 and all(r.startswith("policy default/fs ") for r in reasons)

    run(tmp_path, test, FS)


async def connected(peer: SessionPeer, host: str, port: int, stream: int) -> ConnectResult:
    tcp = TransportProtocol.TCP
    await peer.send(Connect(stream=StreamId(stream), protocol=tcp, host=host, port=Port(port)))
    return await peer.expect(ConnectResult, timeout=2)


def test_outgoing_connections_follow_the_rules_live(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            blocked = await connected(peer, "10.1.2.3", 80, 1)
            assert not blocked.ok and blocked.error == (
                "policy default/egress blocks outgoing tcp 10.1.2.3:80 (network.outgoing.block[0])"
            )
            assert (await connected(peer, "10.9.0.1", 80, 3)).error == FAKE_OUT  # except
            by_name = await connected(peer, "db.internal", 80, 5)
            assert by_name.error is not None and "connect to db.internal by the address" in (
                by_name.error
            )
            assert (await connected(peer, "127.0.0.1", 5432, 7)).error == FAKE_OUT  # no name
            await peer.send(GetAddrInfoRequest(request=RequestId(9), host="localhost"))
            assert (await peer.expect(GetAddrInfoResponse, timeout=2)).addresses
            named = await connected(peer, "127.0.0.1", 5432, 9)
            assert named.error == (
                "policy default/egress blocks outgoing tcp localhost 127.0.0.1:5432 "
                "(network.outgoing.block[1])"
            )
            assert (await connected(peer, "127.0.0.1", 6000, 11)).error == FAKE_OUT
            op.policies.delete(EGRESS)  # gone: the next connection is the agent's to make
            assert (await connected(peer, "10.1.2.3", 80, 13)).error == FAKE_OUT

    run(tmp_path, test, EGRESS)
