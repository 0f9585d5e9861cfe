"""The jail's name-service files, written before it starts: resolv.conf (the stub, the
pod's search list, or this machine's when remote DNS is off), nsswitch.conf (`hosts: files
dns`) and /etc/hosts (the pod's, read through the agent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from podtap.client.host.channel import ClientChannel
from podtap.client.host.files import read_pod_file
from podtap.core.jailconf import DEFAULT_HOSTS, jail_nsswitch, local_resolv_conf
from podtap.core.outgoing_filter import NetworkRules
from podtap.core.resolvconf import ResolvConf, pod_resolv_conf

STUB = "127.0.0.53"


@dataclass(frozen=True, kw_only=True)
class JailNetwork:
    argv: list[str]  # the jail's options for these files
    search: tuple[str, ...]  # the search domains its resolver appends


def _read_here(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


async def prepare_jail_network(
    channel: ClientChannel, directory: Path, *, namespace: str, rules: NetworkRules
) -> JailNetwork:
    if rules.dns.enabled:
        resolv = pod_resolv_conf(nameserver=STUB, namespace=namespace)
        hosts = (await read_pod_file(channel, "/etc/hosts", limit=1 << 20) or b"").decode(
            errors="replace"
        )
    else:  # every name is resolved by this machine: its search list and /etc/hosts
        resolv = local_resolv_conf(_read_here("/etc/resolv.conf"), nameserver=STUB)
        hosts = _read_here("/etc/hosts") or ""
    files = {
        "resolv": resolv,
        "hosts": hosts or DEFAULT_HOSTS,
        "nsswitch": jail_nsswitch(_read_here("/etc/nsswitch.conf")),
    }
    argv: list[str] = []
    for option, text in files.items():
        path = directory / f"{option}.conf"
        path.write_text(text)
        path.chmod(0o644)
        argv += [f"--{option}", str(path)]
    for port in sorted(rules.outgoing.loopback_tcp_ports()):
        argv += ["--loopback-port", str(port)]
    return JailNetwork(argv=argv, search=ResolvConf.parse(resolv).search)
