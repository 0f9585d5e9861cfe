"""Who is calling: the peer of the operator's Unix socket (SO_PEERCRED), or a Kubernetes user
relayed by the API server (see `kube_identity`), and whether they are an admin."""

from __future__ import annotations

import grp
import pwd
import socket
import struct
from dataclasses import dataclass

from podtap.core.sessions import Actor, Principal, unix_principal


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    principal: Principal
    name: str
    admin: bool
    groups: tuple[str, ...] = ()

    @property
    def actor(self) -> Actor:
        """The caller as the session book's decisions name them."""
        return Actor(name=self.name, principal=self.principal, admin=self.admin)

    def owner(self, *, whoami: str | None, host: str | None) -> str:
        """`whoami/k8s-user@host`: the local user the client reports, the user we verified."""
        return f"{whoami or self.name}/{self.name}@{host or socket.gethostname()}"


ANONYMOUS = Caller(principal=Principal("anonymous"), name="anonymous", admin=False)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def is_admin(uid: int, admin_groups: tuple[str, ...]) -> bool:
    if uid == 0:
        return True
    name = user_name(uid)
    for group in admin_groups:
        try:
            entry = grp.getgrnam(group)
        except KeyError:
            continue
        if name in entry.gr_mem:
            return True
        try:
            if pwd.getpwuid(uid).pw_gid == entry.gr_gid:
                return True
        except KeyError:
            pass
    return False


def unix_caller(uid: int, admin_groups: tuple[str, ...]) -> Caller:
    return Caller(
        principal=unix_principal(uid), name=user_name(uid), admin=is_admin(uid, admin_groups)
    )


def peer_caller(sock: socket.socket | None, admin_groups: tuple[str, ...]) -> Caller:
    """The verified caller of a Unix socket connection (TCP peers are anonymous users)."""
    if sock is None or sock.family != socket.AF_UNIX:
        return ANONYMOUS
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", raw)
    return unix_caller(uid, admin_groups)
