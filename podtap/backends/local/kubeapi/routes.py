"""Resource paths: `/api/v1/namespaces/NS/pods/NAME/status` to what they name.

The REST layout is ambiguous by segment count alone — `/api/v1/namespaces/x/pods` is the pods
of namespace x, `/api/v1/namespaces/x/status` the status of namespace x — so a path is read as
kube-apiserver reads it: `namespaces/NS/<plural>` is a namespaced collection only when <plural>
is a namespaced resource of that group/version.
"""

from __future__ import annotations

from dataclasses import dataclass

from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.status import path_not_found


@dataclass(frozen=True)
class Target:
    """What a request addresses: a resource, maybe a namespace, a name, a subresource."""

    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""

    @property
    def is_collection(self) -> bool:
        return not self.name


def resolve(registry: Registry, *, group: str, version: str, rest: list[str]) -> Target:
    """The target of the path segments after `/api/v1` or `/apis/GROUP/VERSION`."""
    if len(rest) >= 3 and rest[0] == "namespaces":
        rt = registry.get(group=group, version=version, plural=rest[2])
        if rt is not None and rt.namespaced:
            if len(rest) > 5:
                raise path_not_found()
            name = rest[3] if len(rest) > 3 else ""
            sub = rest[4] if len(rest) > 4 else ""
            return _checked(Target(rt, rest[1], name, sub))
    if not rest or len(rest) > 3:
        raise path_not_found()
    rt = registry.get(group=group, version=version, plural=rest[0])
    if rt is None:
        raise path_not_found()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if name and rt.namespaced:
        raise path_not_found()  # a namespaced object needs its namespace in the path
    return _checked(Target(rt, "", name, sub))


def _checked(target: Target) -> Target:
    if target.subresource and target.subresource not in target.rt.subresources:
        raise path_not_found()
    return target
