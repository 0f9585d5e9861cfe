"""A container's environment as the kubelet builds it from the pod spec (no I/O).

Order and rules follow the kubelet (``makeEnvironmentVariables``): the Service links of the
pod's namespace (and ``default/kubernetes``) unless ``enableServiceLinks: false``; then each
``envFrom`` source (ConfigMap or Secret, with its prefix; keys that are not valid variable
names are skipped); then ``env``, where a ``value`` expands ``$(VAR)`` from what is defined so
far (``$$`` is a literal ``$``, an unknown reference stays as written) and ``valueFrom`` reads
a ConfigMap or Secret key, a pod field or a resource limit. The container runtime adds
``HOSTNAME``, and the image ``PATH`` and ``HOME``: through the API the image is unknown, so
the usual defaults stand in for them.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "EnvSourceError",
    "Sources",
    "container_env",
    "expand",
    "secret_text",
    "service_links",
]

Obj = Mapping[str, Any]
#: sources(kind, name) -> the object's data as text (Secrets decoded), or None if absent
Sources = Callable[[str, str], Mapping[str, str] | None]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VALID_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")


class EnvSourceError(LookupError):
    """A referenced object or key is missing and not optional (the kubelet would not start
    the container: CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (third_party/forked/golang/expansion)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REFERENCE.sub(one, text)


def service_links(services: Iterable[Obj], *, namespace: str) -> dict[str, str]:
    """``{NAME}_SERVICE_HOST``/``_PORT`` and the Docker-link variables of every Service with a
    cluster IP in `namespace`, plus ``default/kubernetes`` for every namespace."""
    env: dict[str, str] = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        in_ns = meta.get("namespace") == namespace
        master = meta.get("namespace") == "default" and meta.get("name") == "kubernetes"
        if not ip or ip == "None" or not ports or not (in_ns or master):
            continue
        prefix = str(meta.get("name")).upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(
                    port["port"]
                )
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            proto = str(port.get("protocol", "TCP"))
            base = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{port['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(port["port"])
            env[f"{base}_ADDR"] = ip
    return env


def _data(sources: Sources, kind: str, ref: Obj) -> Mapping[str, str] | None:
    data = sources(kind, str(ref.get("name", "")))
    if data is None and not ref.get("optional"):
        raise EnvSourceError(f"{kind} {ref.get('name')!r} not found")
    return data


def _field(pod: Obj, path: str) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
    if m:
        return str((meta.get(m[1]) or {}).get(m[2], ""))
    fields = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or ()),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or ()),
    }
    if path not in fields:
        raise EnvSourceError(f"fieldRef {path!r} is not a supported pod field")
    return str(fields[path] or "")


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def _quantity(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?", text.strip())
    if not m:
        raise EnvSourceError(f"resource quantity {text!r} is not understood")
    value = float(m[1])
    return value / 1000 if m[2] == "m" else value * _UNITS.get(m[2] or "", 1)


def _resource(container: Obj, ref: Obj) -> str:
    """``resourceFieldRef``: the limit (or request) over the divisor, rounded up."""
    section, _, name = str(ref.get("resource", "")).partition(".")
    value = ((container.get("resources") or {}).get(section) or {}).get(name)
    if value is None:
        raise EnvSourceError(f"resource {ref.get('resource')!r} is not set on the container")
    divisor = _quantity(str(ref.get("divisor") or "1"))
    return str(math.ceil(_quantity(str(value)) / divisor))


def _value_from(pod: Obj, container: Obj, source: Obj, sources: Sources) -> str | None:
    if "fieldRef" in source:
        return _field(pod, str(source["fieldRef"]["fieldPath"]))
    if "resourceFieldRef" in source:
        return _resource(container, source["resourceFieldRef"])
    kind = "ConfigMap" if "configMapKeyRef" in source else "Secret"
    ref = source.get("configMapKeyRef") or source.get("secretKeyRef") or {}
    data = _data(sources, kind, ref)
    if data is None:
        return None
    if ref.get("key") not in data:
        if ref.get("optional"):
            return None
        raise EnvSourceError(f"key {ref.get('key')!r} not in {kind} {ref.get('name')!r}")
    return data[str(ref["key"])]


def container_env(
    pod: Obj, container: str, *, sources: Sources, services: Iterable[Obj]
) -> dict[str, str]:
    """The environment of `container` in `pod`; raises :class:`EnvSourceError`."""
    spec = pod.get("spec") or {}
    (found,) = [c for c in spec.get("containers") or () if c.get("name") == container]
    env = {"PATH": DEFAULT_PATH, "HOME": "/root"}
    env["HOSTNAME"] = str(spec.get("hostname") or (pod.get("metadata") or {}).get("name"))
    if spec.get("enableServiceLinks", True):
        env.update(service_links(services, namespace=(pod.get("metadata") or {})["namespace"]))
    for source in found.get("envFrom") or ():
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        data = _data(sources, kind, source.get("configMapRef") or source.get("secretRef") or {})
        prefix = str(source.get("prefix") or "")
        env.update(
            {prefix + k: v for k, v in (data or {}).items() if _VALID_NAME.match(prefix + k)}
        )
    for var in found.get("env") or ():
        if "valueFrom" in var:
            value = _value_from(pod, found, var["valueFrom"], sources)
        else:
            value = expand(str(var.get("value") or ""), env)
        if value is not None:
            env[str(var["name"])] = value
    return env


def secret_text(secret: Obj) -> dict[str, str]:
    """A Secret's ``data`` decoded (and ``stringData``, which a server folds into data)."""
    data = secret.get("data") or {}
    out = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    out.update(secret.get("stringData") or {})
    return out
