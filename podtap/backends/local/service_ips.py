"""Service cluster IPs allocated in the create call, as kube-apiserver's Service REST does.

An admission check of the API (registered in `apiserve.py`): a Service created without
`spec.clusterIP` gets the next free address of the service range, with upstream's defaults
(`clusterIPs`, `ipFamilies: [IPv4]`, `ipFamilyPolicy: SingleStack`, `internalTrafficPolicy:
Cluster`, `sessionAffinity: None`, each port's `protocol` and `targetPort`), so the create
response already shows it. `clusterIP: None` is headless; a requested free address in the
range is kept; a taken or out-of-range one is refused with upstream's words. The addresses
in use are the stored Services' own, so deleting a Service frees its address. On update an
empty `clusterIP` keeps the stored one and a different one is refused (immutable).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.status import ApiError, Cause, invalid
from podtap.backends.local.kubeapi.store import Key
from podtap.backends.local.network import SERVICE_NETWORK

FIRST = 10  # the lower addresses are for Services that ask for one (10.96.0.1: kubernetes)
_FAMILY_FIELDS = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")


class ServiceIPs:
    """The admission check: call with (kind, object) before a Service is stored."""

    def __init__(self, ctx: ApiContext, *, network: ipaddress.IPv4Network = SERVICE_NETWORK):
        self.ctx = ctx
        self.network = network

    def __call__(self, kind: str, obj: dict[str, Any]) -> None:
        if kind != "Service":
            return
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        spec = obj.setdefault("spec", {})
        defaults(spec)
        if spec["type"] == "ExternalName":
            return
        old = self.ctx.store.get(Key("", "services", namespace, name))
        if old is not None and (old.get("spec") or {}).get("clusterIP"):
            self._keep(name, spec, old["spec"])
            return
        asked = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if asked == "None":
            ip = "None"
            policy = "SingleStack" if spec.get("selector") else "RequireDualStack"
        else:
            ip = self._allocate(name, str(asked), taken=self._taken(namespace, name))
            policy = "SingleStack"
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", policy)

    def _keep(self, name: str, spec: dict[str, Any], stored: dict[str, Any]) -> None:
        asked = spec.get("clusterIP")
        if asked and asked != stored["clusterIP"]:
            raise self._refuse(name, "spec.clusterIPs[0]", f'"{asked}"', "may not change once set")
        for key in _FAMILY_FIELDS:
            if key in stored:
                spec[key] = stored[key]

    def _taken(self, namespace: str, name: str) -> set[str]:
        taken: set[str] = set()
        for svc in self.ctx.store.items(group="", plural="services"):
            meta = svc["metadata"]
            if (meta.get("namespace"), meta.get("name")) != (namespace, name):
                taken.update((svc.get("spec") or {}).get("clusterIPs") or ())
        return taken

    def _allocate(self, name: str, asked: str, *, taken: set[str]) -> str:
        if not asked:
            return next(self._free(taken))
        why = ""
        try:
            inside = ipaddress.ip_address(asked) in self.network
        except ValueError:
            value, field = f'"{asked}"', "spec.clusterIPs[0]"
            raise self._refuse(
                name, field, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ) from None
        if not inside:
            why = (
                f"the provided IP ({asked}) is not in the valid range. The range of valid IPs "
                f"is {self.network}"
            )
        elif asked in taken:
            why = "provided IP is already allocated"
        if why:
            value = f'[]string{{"{asked}"}}'
            raise self._refuse(
                name, "spec.clusterIPs", value, f"failed to allocate IP {asked}: {why}"
            )
        return asked

    def _free(self, taken: set[str]) -> Iterator[str]:
        for i in range(FIRST, self.network.num_addresses - 1):
            address = str(self.network.network_address + i)
            if address not in taken:
                yield address
        raise ApiError(500, "InternalError", "Internal error occurred: range is full")

    def _refuse(self, name: str, field: str, value: str, why: str) -> ApiError:
        rt = self.ctx.registry.get(group="", version="v1", plural="services")
        assert rt is not None
        message = f"Invalid value: {value}: {why}"
        return invalid(rt, name, [Cause(field, "FieldValueInvalid", message)])


def defaults(spec: dict[str, Any]) -> None:
    """The Service defaults kube-apiserver fills in (SetDefaults_Service)."""
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
