"""May a session connect out: ``network.outgoing.allow`` / ``block``, then the profile.

Per policy: no rules: allow; ``allow`` non-empty and no rule of it matching: deny; a
``block`` rule matching: deny; else allow. A connection is refused when any applying policy
denies it. A rule matches when every part it gives does: ``ipBlock`` (the address is in
``cidr`` and in none of ``except``), ``hostname`` (an RE2 regex matching the whole name the
client resolved through the pod, case-insensitively; no name: no match), ``ports`` (one of
its ``{protocol, port}``). A profile that turned outgoing traffic off refuses every one;
one that turned DNS off refuses every name resolution through the pod (:func:`dns_refusal`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from podtap.core.policy.matching import FoundPolicy
from podtap.core.policy.models import OutgoingRule
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import TransportProtocol
from podtap.core.safe_regex import compile_filter_regex

__all__ = ["Connection", "dns_refusal", "outgoing_refusal", "rule_matches"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """An outgoing connection; ``hostname``: the name the client resolved, if any."""

    protocol: TransportProtocol
    address: str
    port: int
    hostname: str | None = None

    def __str__(self) -> str:
        host = f"{self.hostname} " if self.hostname else ""
        return f"{self.protocol.value} {host}{self.address}:{self.port}"


def _in(address: str, cidr: str) -> bool:
    ip = ipaddress.ip_address(address)
    net = ipaddress.ip_network(cidr, strict=False)
    return ip.version == net.version and ip in net


def rule_matches(rule: OutgoingRule, conn: Connection) -> bool:
    """Whether every part ``rule`` gives matches ``conn``."""
    block = rule.ip_block
    if block is not None and (
        not _in(conn.address, block.cidr) or any(_in(conn.address, c) for c in block.except_)
    ):
        return False
    if rule.hostname is not None:
        whole = compile_filter_regex(f"^(?:{rule.hostname})$", ignore_case=True)
        if conn.hostname is None or not whole.search(conn.hostname.rstrip(".")):
            return False
    wanted = conn.protocol.value.upper()
    return not rule.ports or any(p.protocol == wanted and p.port == conn.port for p in rule.ports)


def _denial(policy: FoundPolicy, conn: Connection) -> str | None:
    out = policy.spec.network.outgoing
    if out.allow and not any(rule_matches(r, conn) for r in out.allow):
        return f"{policy.label} allows no outgoing {conn}: it is not in network.outgoing.allow"
    for i, rule in enumerate(out.block):
        if rule_matches(rule, conn):
            return f"{policy.label} blocks outgoing {conn} (network.outgoing.block[{i}])"
    return None


def outgoing_refusal(
    policies: Sequence[FoundPolicy], conn: Connection, *, fixes: Fixes | None = None
) -> str | None:
    """Why ``conn`` is refused, or None when it may be made. ``policies``: those that apply."""
    for policy in policies:
        denial = _denial(policy, conn)
        if denial is not None:
            return denial
    if fixes is not None and fixes.outgoing is False:
        return f"{fixes.profile} turns outgoing traffic off: {conn} is refused"
    return None


def dns_refusal(name: str, *, fixes: Fixes | None) -> str | None:
    """Why resolving ``name`` through the pod is refused (a profile's ``dns-off``), or None."""
    if fixes is not None and fixes.dns is False:
        return f"{fixes.profile} turns remote DNS off: {name} is not resolved in the cluster"
    return None
