"""What a session sees of the pod through the agent: network, DNS, env and files."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from dnslib import DNSRecord

from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    Connect,
    ConnectResult,
    Data,
    EnvRequest,
    EnvResponse,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadDir,
    FileReadDirResult,
    FileReadResult,
    FileStat,
    FileStatResult,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IpFamily,
    TransportProtocol,
    UdpDatagram,
)
from podtap.testing.agentproc import AgentProcess, SessionPeer, agent_link
from podtap.testing.localcluster import LocalCluster
from tests.agent.conftest import pod_of


async def http_get(peer: SessionPeer, stream: int, host: str, port: int, path: str) -> bytes:
    sid = StreamId(stream)
    await peer.send(Connect(stream=sid, protocol=TransportProtocol.TCP, host=host, port=Port(port)))
    result = await peer.expect(ConnectResult)
    assert result.ok, result.error
    await peer.send(Data(stream=sid, data=f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode()))
    body = b""
    while b"}" not in body:
        chunk = await peer.expect(Data)
        body += chunk.data
        await peer.credit(sid, len(chunk.data))
    return body.split(b"\r\n\r\n", 1)[1]


def test_outgoing_tcp_leaves_from_the_pod_ip(shop: LocalCluster, agent: AgentProcess) -> None:
    frontend = pod_of(shop, "shop-")
    catalog = pod_of(shop, "catalog-")

    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            body = json.loads(await http_get(peer, 1, str(catalog["ip"]), 9090, "/items"))
            assert body["served_by"] == catalog["name"]
            seen = shop.podtap("local", "logs", str(catalog["name"])).stdout
            assert f'{frontend["ip"]} "GET /items HTTP/1.0" 200' in seen
            by_name = json.loads(await http_get(peer, 3, "catalog", 80, "/items"))
            assert by_name["items"]

    asyncio.run(go())


def test_outgoing_udp_reaches_cluster_dns(agent: AgentProcess) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            sid = StreamId(5)
            await peer.send(
                Connect(
                    stream=sid, protocol=TransportProtocol.UDP, host="10.244.0.1", port=Port(53)
                )
            )
            assert (await peer.expect(ConnectResult)).ok
            query = DNSRecord.question("catalog.default.svc.cluster.local", "A")
            await peer.send(
                UdpDatagram(stream=sid, data=bytes(query.pack()), addr="10.244.0.1", port=Port(53))
            )
            reply = DNSRecord.parse((await peer.expect(UdpDatagram)).data)
            assert str(reply.rr[0].rdata).startswith("10.96.")

    asyncio.run(go())


def test_dns_answers_as_the_pod_would(agent: AgentProcess, shop: LocalCluster) -> None:
    vip = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in shop.get("svc")}["catalog"]

    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            for i, name in enumerate(
                ["catalog", "catalog.default", "catalog.default.svc.cluster.local"]
            ):
                await peer.send(
                    GetAddrInfoRequest(
                        request=RequestId(i), host=name, port=Port(0), family=IpFamily.IPV4
                    )
                )
                answer = await peer.expect(GetAddrInfoResponse)
                assert answer.addresses == ((IpFamily.IPV4, vip),), (name, answer)
            await peer.send(GetAddrInfoRequest(request=RequestId(9), host="no-such-service"))
            missing = await peer.expect(GetAddrInfoResponse)
            assert missing.addresses == () and "not known" in (missing.error or "")
            await peer.send(
                GetAddrInfoRequest(
                    request=RequestId(10), host="localhost", port=Port(0), family=IpFamily.IPV4
                )
            )
            local = await peer.expect(GetAddrInfoResponse)
            assert local.addresses == ((IpFamily.IPV4, "127.0.0.1"),)

    asyncio.run(go())


def test_env_and_files_match_the_container(agent: AgentProcess, frontend_pid: int) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await peer.send(EnvRequest(request=RequestId(1)))
            env = (await peer.expect(EnvResponse)).env
            assert env["SHOP_API_KEY"] == "s3cr3t-key-42"
            raw = Path(f"/proc/{frontend_pid}/environ").read_text()
            assert env == dict(item.split("=", 1) for item in raw.split("\0") if item)
            await peer.send(
                FileOpen(request=RequestId(2), path="/etc/shop/config/greeting", flags=os.O_RDONLY)
            )
            opened = await peer.expect(FileOpenResult)
            assert opened.handle is not None, opened.error
            await peer.send(
                FileRead(request=RequestId(3), handle=opened.handle, offset=0, size=4096)
            )
            assert (await peer.expect(FileReadResult)).data == b"Welcome to the podtap shop"
            await peer.send(FileStat(request=RequestId(4), path="/etc/shop/config/greeting"))
            stat = (await peer.expect(FileStatResult)).stat
            assert stat is not None and stat.size == len("Welcome to the podtap shop")
            await peer.send(FileReadDir(request=RequestId(5), path="/opt/shop"))
            names = {e.name for e in (await peer.expect(FileReadDirResult)).entries}
            assert {"frontend.py", "catalog.py"} <= names
            await peer.send(
                FileOpen(request=RequestId(6), path="/../../etc/shadow", flags=os.O_RDONLY)
            )
            escaped = await peer.expect(FileOpenResult)
            assert escaped.handle is None and escaped.error and escaped.error.errno == 13
            await peer.send(FileOpen(request=RequestId(7), path="/etc/hosts", flags=os.O_WRONLY))
            written = await peer.expect(FileOpenResult)
            assert written.error is not None and "read-only" in written.error.message

    asyncio.run(go())
