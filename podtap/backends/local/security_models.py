"""The securityContext fields the node honours (models; `capabilities` applies them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from podtap.backends.local.capabilities import unknown
from podtap.backends.local.k8sbase import K8s


class Capabilities(K8s):
    add: list[str] = []
    drop: list[str] = []

    @field_validator("add", "drop")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if bad := unknown(value):
            raise ValueError(f"unknown capabilities {', '.join(bad)}: use names such as NET_ADMIN")
        return value


class SeccompProfile(K8s):
    """`RuntimeDefault` is the runtime's default profile, which for this node's runtime is no
    filter (as containerd's on a kernel without seccomp); `Unconfined` is the same. A
    `Localhost` profile file cannot be loaded here: refused at admission."""

    type: Literal["RuntimeDefault", "Unconfined"]


class SecurityContext(K8s):
    """A container's: capabilities, privileged, the user, a read-only root filesystem;
    applied with setpriv and a mount namespace of its own."""

    capabilities: Capabilities | None = None
    privileged: bool = False
    run_as_user: int | None = Field(default=None, ge=0)
    run_as_group: int | None = Field(default=None, ge=0)
    run_as_non_root: bool | None = None
    allow_privilege_escalation: bool | None = None
    read_only_root_filesystem: bool = False
    seccomp_profile: SeccompProfile | None = None


class PodSecurityContext(K8s):
    """The pod's defaults for its containers' user and seccomp profile."""

    run_as_user: int | None = Field(default=None, ge=0)
    run_as_group: int | None = Field(default=None, ge=0)
    run_as_non_root: bool | None = None
    seccomp_profile: SeccompProfile | None = None


def run_as(pod: PodSecurityContext | None, own: SecurityContext | None) -> tuple[int, int | None]:
    """The uid and gid a container runs as: its own securityContext's, else the pod's."""
    uid = own.run_as_user if own is not None else None
    gid = own.run_as_group if own is not None else None
    if uid is None and pod is not None:
        uid = pod.run_as_user
    if gid is None and pod is not None:
        gid = pod.run_as_group
    return (uid or 0, gid)


def non_root_as_root(pod: PodSecurityContext | None, own: SecurityContext | None) -> bool:
    """runAsNonRoot asked of a container that would run as uid 0 (kubelet refuses to start
    it; with no image to read a user from, the node knows it at admission)."""
    flag = own.run_as_non_root if own is not None else None
    if flag is None and pod is not None:
        flag = pod.run_as_non_root
    return bool(flag) and run_as(pod, own)[0] == 0
