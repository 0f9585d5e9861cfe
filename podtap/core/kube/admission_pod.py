"""The parts of ``ValidatePodSpec`` that manifests written by hand break most.

A pod spec reaches validation after defaulting, so what a user left out and the server fills in
(a port's ``protocol: TCP``, ``restartPolicy: Always``, ``imagePullPolicy``) is never an error;
what cannot be defaulted is: a container without a name or image, two containers of one name,
a port out of range, a volume mount naming no volume. Messages and their order follow
``pkg/apis/core/validation``: the volumes, then each container (name, image, ports, mounts,
pull policy) and its duplicate check, then the init containers, then the restart policy.
"""

from __future__ import annotations

from typing import Any, Final

from podtap.core.kube.admission_errors import Problem, Violation
from podtap.core.kube.admission_names import is_port_name
from podtap.core.kube.label_syntax import is_dns1123_label

__all__ = ["PORT_RANGE", "port_violations", "validate_pod_spec"]

PORT_RANGE: Final = "must be between 1 and 65535, inclusive"
PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
_PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
_RESTART_POLICIES: Final = ("Always", "OnFailure", "Never")

Obj = dict[str, Any]


def _dns_label(value: str, path: str) -> list[Violation]:
    return [Violation(Problem.INVALID, path, value, msg) for msg in is_dns1123_label(value)]


def port_violations(number: Any, path: str) -> list[Violation]:
    """``IsValidPortNum``: 1..65535."""
    if isinstance(number, int) and 1 <= number <= 65535:
        return []
    return [Violation(Problem.INVALID, path, number, PORT_RANGE)]


def _supported(value: Any, allowed: tuple[str, ...], path: str) -> list[Violation]:
    """``field.NotSupported`` for a set value outside ``allowed`` (an unset one is defaulted)."""
    if value in (None, "") or value in allowed:
        return []
    detail = "supported values: " + ", ".join(f'"{item}"' for item in allowed)
    return [Violation(Problem.NOT_SUPPORTED, path, value, detail)]


def _ports(ports: list[Obj], path: str) -> list[Violation]:
    out: list[Violation] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        at = f"{path}[{index}]"
        name = port.get("name") or ""
        if name:
            problems = is_port_name(name)
            out.extend(Violation(Problem.INVALID, f"{at}.name", name, msg) for msg in problems)
            if not problems and name in names:
                out.append(Violation(Problem.DUPLICATE, f"{at}.name", name))
            names.add(name)
        number = port.get("containerPort") or 0
        if not number:
            out.append(Violation(Problem.REQUIRED, f"{at}.containerPort"))
        else:
            out.extend(port_violations(number, f"{at}.containerPort"))
        if port.get("hostPort"):
            out.extend(port_violations(port["hostPort"], f"{at}.hostPort"))
        out.extend(_supported(port.get("protocol"), PROTOCOLS, f"{at}.protocol"))
    return out


def _mounts(mounts: list[Obj], volumes: set[str], path: str) -> list[Violation]:
    out: list[Violation] = []
    for index, mount in enumerate(mounts):
        at = f"{path}[{index}]"
        name = mount.get("name") or ""
        if not name:
            out.append(Violation(Problem.REQUIRED, f"{at}.name"))
        elif name not in volumes:
            out.append(Violation(Problem.NOT_FOUND, f"{at}.name", name))
        if not mount.get("mountPath"):
            out.append(Violation(Problem.REQUIRED, f"{at}.mountPath"))
    return out


def _container(ctr: Obj, volumes: set[str], path: str) -> list[Violation]:
    """``validateContainerCommon``, the checks a hand-written container fails."""
    out: list[Violation] = []
    name = ctr.get("name") or ""
    if not name:
        out.append(Violation(Problem.REQUIRED, f"{path}.name"))
    else:
        out.extend(_dns_label(name, f"{path}.name"))
    if not ctr.get("image"):
        out.append(Violation(Problem.REQUIRED, f"{path}.image"))
    out.extend(_ports(ctr.get("ports") or [], f"{path}.ports"))
    out.extend(_mounts(ctr.get("volumeMounts") or [], volumes, f"{path}.volumeMounts"))
    out.extend(_supported(ctr.get("imagePullPolicy"), _PULL_POLICIES, f"{path}.imagePullPolicy"))
    return out


def _containers(
    containers: list[Obj], volumes: set[str], path: str, names: set[str]
) -> list[Violation]:
    out: list[Violation] = []
    for index, ctr in enumerate(containers):
        at = f"{path}[{index}]"
        out.extend(_container(ctr, volumes, at))
        name = ctr.get("name") or ""
        if name in names:
            out.append(Violation(Problem.DUPLICATE, f"{at}.name", name))
        names.add(name)
    return out


def _volumes(volumes: list[Obj], path: str) -> tuple[set[str], list[Violation]]:
    out: list[Violation] = []
    names: set[str] = set()
    for index, volume in enumerate(volumes):
        at = f"{path}[{index}].name"
        name = volume.get("name") or ""
        if not name:
            out.append(Violation(Problem.REQUIRED, at))
        else:
            out.extend(_dns_label(name, at))
        if name and name in names:
            out.append(Violation(Problem.DUPLICATE, at, name))
        names.add(name)
    return names, out


def validate_pod_spec(spec: Obj, *, path: str) -> list[Violation]:
    """The pod spec at ``path`` (``spec``, ``spec.template.spec``)."""
    volumes, out = _volumes(spec.get("volumes") or [], f"{path}.volumes")
    containers = spec.get("containers") or []
    if not containers:
        out.append(Violation(Problem.REQUIRED, f"{path}.containers"))
    names: set[str] = set()
    out.extend(_containers(containers, volumes, f"{path}.containers", names))
    out.extend(
        _containers(spec.get("initContainers") or [], volumes, f"{path}.initContainers", names)
    )
    out.extend(_supported(spec.get("restartPolicy"), _RESTART_POLICIES, f"{path}.restartPolicy"))
    return out
