"""How a pod resolves a name (pure): resolv.conf and /etc/hosts as glibc reads them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    ndots: int = 1

    @classmethod
    def parse(cls, text: str) -> ResolvConf:
        servers: list[str] = []
        search: tuple[str, ...] = ()
        ndots = 1
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split(";", 1)[0].split()
            if not words:
                continue
            key, args = words[0], words[1:]
            if key == "nameserver" and args:
                servers.append(args[0])
            elif key in ("search", "domain"):
                search = tuple(a.rstrip(".") for a in args)
            elif key == "options":
                for opt in args:
                    if opt.startswith("ndots:") and opt[6:].isdigit():
                        ndots = min(int(opt[6:]), 15)
        return cls(tuple(servers[:3]), search, ndots)

    def candidates(self, name: str) -> list[str]:
        """Fully qualified names to try, in glibc's order."""
        name = name.strip()
        if name.endswith("."):
            return [name.rstrip(".")]
        searched = [f"{name}.{domain}" for domain in self.search]
        if name.count(".") >= self.ndots:
            return [name, *searched]
        return [*searched, name]


def pod_resolv_conf(*, nameserver: str, namespace: str, domain: str = "cluster.local") -> str:
    """A Kubernetes pod's resolv.conf: the namespace's search list and ndots:5."""
    search = f"{namespace}.svc.{domain} svc.{domain} {domain}"
    return f"nameserver {nameserver}\nsearch {search}\noptions ndots:5\n"


@dataclass(frozen=True, slots=True)
class HostsFile:
    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> HostsFile:
        entries: dict[str, list[str]] = {}
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split()
            if len(words) < 2:
                continue
            try:
                ipaddress.ip_address(words[0])
            except ValueError:
                continue
            for host in words[1:]:
                entries.setdefault(host.lower(), []).append(words[0])
        return cls({k: tuple(v) for k, v in entries.items()})

    def lookup(self, name: str) -> tuple[str, ...]:
        return self.entries.get(name.lower().rstrip("."), ())
