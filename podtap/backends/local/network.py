"""The node's network: a bridge for pod IPs, a veth per pod, service virtual IPs.

Runs inside the node's own network namespace (the daemon's), so nothing here touches
the host's network; it all disappears with the node."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from podtap.net.nft import replace_table
from podtap.net.process import run

BRIDGE = "podtap0"
POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/16")
GATEWAY = ipaddress.IPv4Address("10.244.0.1")
SERVICE_NETWORK = ipaddress.IPv4Network("10.96.0.0/16")
CLUSTER_DOMAIN = "cluster.local"
TABLE = "podtap_services"


class AddressPool:
    """Hands out addresses of a network, skipping reserved ones; never twice at once."""

    def __init__(self, network: ipaddress.IPv4Network, *, first_host: int) -> None:
        self._network = network
        self._next = first_host
        self._used: set[ipaddress.IPv4Address] = set()

    def take(self, wanted: str | None = None) -> ipaddress.IPv4Address:
        if wanted is not None:
            addr = ipaddress.IPv4Address(wanted)
            if addr not in self._network or addr in (
                self._network.network_address,
                self._network.broadcast_address,
            ):
                raise ValueError(f"{wanted} is not a usable address of {self._network}")
            if addr in self._used:
                raise ValueError(f"{wanted} is already in use")
            self._used.add(addr)
            return addr
        size = self._network.num_addresses
        for _ in range(size):
            addr = self._network.network_address + self._next
            self._next = self._next + 1 if self._next + 2 < size else 2
            if addr not in self._used and addr != GATEWAY:
                self._used.add(addr)
                return addr
        raise RuntimeError(f"no free address left in {self._network}")

    def release(self, addr: ipaddress.IPv4Address) -> None:
        self._used.discard(addr)


async def setup_node() -> None:
    """Bring up lo and the pod bridge, and turn on forwarding inside the node."""
    await run(
        ["ip", "-batch", "-"],
        stdin=(
            "link set lo up\n"
            f"link add {BRIDGE} type bridge\n"
            f"addr add {GATEWAY}/{POD_NETWORK.prefixlen} dev {BRIDGE}\n"
            f"link set {BRIDGE} up\n"
        ),
    )
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    await apply_services([])


async def attach_pod(*, sandbox_pid: int, index: int, ip: ipaddress.IPv4Address) -> None:
    """Connect a pod's network namespace to the bridge with a veth pair (eth0 inside)."""
    outside, inside = f"vp{index}", f"vp{index}i"
    await run(
        ["ip", "-batch", "-"],
        stdin=(
            f"link add {outside} type veth peer name {inside}\n"
            f"link set {inside} netns {sandbox_pid}\n"
            f"link set {outside} master {BRIDGE}\n"
            f"link set {outside} type bridge_slave hairpin on\n"
            f"link set {outside} up\n"
        ),
    )
    await run(
        ["nsenter", f"--net=/proc/{sandbox_pid}/ns/net", "ip", "-batch", "-"],
        stdin=(
            "link set lo up\n"
            f"link set {inside} name eth0\n"
            f"addr add {ip}/{POD_NETWORK.prefixlen} dev eth0\n"
            "link set eth0 up\n"
            f"route add default via {GATEWAY}\n"
        ),
    )


@dataclass(frozen=True, slots=True)
class ServiceRule:
    """Traffic to vip:port/protocol is spread over endpoints (ip, port)."""

    vip: str
    port: int
    protocol: str
    endpoints: tuple[tuple[str, int], ...]


def render_services(rules: Iterable[ServiceRule]) -> str:
    """The body of the services table: DNAT each virtual IP:port to its endpoints."""
    lines: list[str] = []
    refused: list[str] = []
    for r in sorted(rules, key=lambda r: (r.vip, r.port, r.protocol)):
        proto = r.protocol.lower()
        match = f"ip daddr {r.vip} {proto} dport {r.port}"
        if not r.endpoints:
            verdict = "reject with tcp reset" if proto == "tcp" else "reject"
            refused.append(f"    {match} {verdict}")
            continue
        spread = ", ".join(f"{i} : {ip} . {port}" for i, (ip, port) in enumerate(r.endpoints))
        lines.append(
            f"    {match} dnat ip to numgen random mod {len(r.endpoints)} map {{ {spread} }}"
        )
    rules_text = "\n".join(lines)
    refused_text = "\n".join(refused)
    nat = "type nat hook {hook} priority -100; policy accept;"
    return (
        f"  chain prerouting {{\n    {nat.format(hook='prerouting')}\n    jump services\n  }}\n"
        f"  chain output {{\n    {nat.format(hook='output')}\n    jump services\n  }}\n"
        f"  chain services {{\n{rules_text}\n  }}\n"
        f"  chain no_endpoints {{\n{refused_text}\n  }}\n"
        "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
        "    jump no_endpoints\n  }\n"
        "  chain local_out {\n    type filter hook output priority filter; policy accept;\n"
        "    jump no_endpoints\n  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ct status dnat ip saddr {POD_NETWORK} masquerade\n"
        "  }\n"
    )


async def apply_services(rules: Iterable[ServiceRule]) -> None:
    await replace_table("ip", TABLE, render_services(rules))
