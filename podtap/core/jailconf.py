"""The name-service files the exec jail mounts over this machine's (pure).

libc must ask the jail's DNS stub and nothing else: `hosts: files dns` in nsswitch.conf
(no nss-resolve, nss-mdns, ...), the pod's /etc/hosts, and the Unix sockets of caching
daemons masked (they live outside the network namespace and would answer for the host)."""

from __future__ import annotations

#: Sockets that libc (or an NSS module) would use to ask a daemon of this machine.
NAME_SERVICE_SOCKETS = (
    "/run/nscd/socket",
    "/var/run/nscd/socket",
    "/var/db/nscd/socket",
    "/run/systemd/resolve/io.systemd.Resolve",
    "/run/systemd/resolve/io.systemd.Resolve.Monitor",
    "/var/lib/sss/pipes/nss",
)

DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def jail_nsswitch(host: str | None) -> str:
    """This machine's nsswitch.conf (users, groups, ... still come from here) with its
    `hosts:` line replaced by `hosts: files dns`."""
    lines = [
        line
        for line in (host or "").splitlines()
        if line.split("#", 1)[0].split(":", 1)[0].strip() != "hosts"
    ]
    if not any(line.split("#", 1)[0].strip() for line in lines):
        lines += ["passwd: files", "group: files", "shadow: files"]
    return "\n".join([*lines, "hosts: files dns"]) + "\n"


def local_resolv_conf(host: str | None, *, nameserver: str) -> str:
    """With remote DNS off: the stub still answers (it asks this machine's resolver), with
    this machine's search list and options instead of the pod's."""
    kept = [
        line.strip()
        for line in (host or "").splitlines()
        if line.split()[:1] and line.split()[0] in ("search", "domain", "options")
    ]
    return "\n".join([f"nameserver {nameserver}", *kept]) + "\n"
