"""Validation of built-in kinds after decoding: the hand-written rules of kube-apiserver.

The schema says what a field *is*; these rules say what it may *hold*, and they are where the
422s come from: a Deployment whose selector does not select its own template (the controller
could never see its pods), a Job that would restart forever, a Service port 0. Each function
follows its ``Validate<Kind>`` in ``pkg/apis/*/validation`` — same paths, same words, same order
— for the rules users hit; rules not written here are not checked (the server has hundreds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from podtap.core.kube.admission_errors import Problem, Violation
from podtap.core.kube.admission_names import is_port_name, validate_labels, validate_meta
from podtap.core.kube.admission_pod import PROTOCOLS, port_violations, validate_pod_spec
from podtap.core.kube.label_selector import from_label_selector
from podtap.core.kube.label_syntax import is_dns1123_label
from podtap.core.kube.selectors import SelectorError

__all__ = ["validate_builtin"]

Obj = dict[str, Any]
_MISMATCH: Final = "`selector` does not match template `labels`"
_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")
_SERVICE_TYPES: Final = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_NODE_PORTS: Final = range(30000, 32768)


def _selector(selector: Obj | None, *, path: str, owner: str) -> list[Violation]:
    """``ValidateLabelSelector`` and the workload's own "empty selector" rule."""
    if selector is None:
        return [Violation(Problem.REQUIRED, path)]
    out = validate_labels(selector.get("matchLabels") or {}, path=f"{path}.matchLabels")
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        at = f"{path}.matchExpressions[{index}]"
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator not in _OPERATORS:
            out.append(
                Violation(
                    Problem.INVALID, f"{at}.operator", operator, "not a valid selector operator"
                )
            )
        elif operator in ("In", "NotIn") and not values:
            out.append(
                Violation(
                    Problem.REQUIRED,
                    f"{at}.values",
                    "",
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )
            )
        elif operator in ("Exists", "DoesNotExist") and values:
            out.append(
                Violation(
                    Problem.FORBIDDEN,
                    f"{at}.values",
                    "",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        out.append(
            Violation(Problem.INVALID, path, selector, f"empty selector is invalid for {owner}")
        )
    return out


def _template(spec: Obj, *, restart: tuple[str, ...]) -> list[Violation]:
    """``ValidatePodTemplateSpecFor<Workload>``: labels selected, then the pod template."""
    template = spec.get("template")
    if template is None:
        return [Violation(Problem.REQUIRED, "spec.template")]
    labels = (template.get("metadata") or {}).get("labels")
    try:
        selector = from_label_selector(spec.get("selector"))
    except SelectorError:
        return [
            Violation(
                Problem.INVALID, "spec.selector", spec.get("selector"), "invalid label selector"
            )
        ]
    out: list[Violation] = []
    if not selector.empty and not selector.matches(labels or {}):
        out.append(Violation(Problem.INVALID, "spec.template.metadata.labels", labels, _MISMATCH))
    out.extend(validate_labels(labels or {}, path="spec.template.labels"))
    pod = template.get("spec") or {}
    out.extend(validate_pod_spec(pod, path="spec.template.spec"))
    policy = pod.get("restartPolicy") or "Always"
    if policy not in restart:
        detail = "supported values: " + ", ".join(f'"{value}"' for value in restart)
        out.append(
            Violation(Problem.NOT_SUPPORTED, "spec.template.spec.restartPolicy", policy, detail)
        )
    return out


def _nonnegative(spec: Obj, field: str) -> list[Violation]:
    value = spec.get(field)
    if isinstance(value, int) and value < 0:
        return [
            Violation(Problem.INVALID, f"spec.{field}", value, "must be greater than or equal to 0")
        ]
    return []


def _workload(owner: str) -> Callable[[Obj], list[Violation]]:
    def validate(spec: Obj) -> list[Violation]:
        out = _nonnegative(spec, "replicas")
        out.extend(_selector(spec.get("selector"), path="spec.selector", owner=owner))
        out.extend(_template(spec, restart=("Always",)))
        return out

    return validate


def _job(spec: Obj) -> list[Violation]:
    # The selector is generated from the job's uid; the pod spec defaults restartPolicy to Always.
    out = _nonnegative(spec, "parallelism") + _nonnegative(spec, "completions")
    return out + _template({**spec, "selector": {}}, restart=("OnFailure", "Never"))


def _pod(spec: Obj) -> list[Violation]:
    return validate_pod_spec(spec, path="spec")


def _service_port(port: Obj, *, at: str, named: bool, names: set[str]) -> list[Violation]:
    out: list[Violation] = []
    name = port.get("name") or ""
    if named and not name:
        out.append(Violation(Problem.REQUIRED, f"{at}.name"))
    elif name:
        out.extend(
            Violation(Problem.INVALID, f"{at}.name", name, m) for m in is_dns1123_label(name)
        )
        if name in names:
            out.append(Violation(Problem.DUPLICATE, f"{at}.name", name))
        names.add(name)
    number = port.get("port") or 0
    out.extend(port_violations(number, f"{at}.port"))
    protocol = port.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        detail = "supported values: " + ", ".join(f'"{p}"' for p in PROTOCOLS)
        out.append(Violation(Problem.NOT_SUPPORTED, f"{at}.protocol", protocol, detail))
    target = port.get("targetPort") or number  # defaulted to the port
    if isinstance(target, str):
        out.extend(
            Violation(Problem.INVALID, f"{at}.targetPort", target, m) for m in is_port_name(target)
        )
    else:
        out.extend(port_violations(target, f"{at}.targetPort"))
    return out


def _service(spec: Obj) -> list[Violation]:
    kind = spec.get("type") or "ClusterIP"
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") or []
    out: list[Violation] = []
    if not ports and not headless and kind != "ExternalName":
        out.append(Violation(Problem.REQUIRED, "spec.ports"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        out.extend(
            _service_port(port, at=f"spec.ports[{index}]", named=len(ports) > 1, names=names)
        )
    out.extend(validate_labels(spec.get("selector") or {}, path="spec.selector"))
    if kind not in _SERVICE_TYPES:
        detail = "supported values: " + ", ".join(f'"{t}"' for t in _SERVICE_TYPES)
        out.append(Violation(Problem.NOT_SUPPORTED, "spec.type", kind, detail))
    for index, port in enumerate(ports):
        if kind == "ClusterIP" and port.get("nodePort"):
            why = "may not be used when `type` is 'ClusterIP'"
            out.append(Violation(Problem.FORBIDDEN, f"spec.ports[{index}].nodePort", "", why))
    return out or _node_ports(ports)


def _node_ports(ports: list[Obj]) -> list[Violation]:
    """The node-port allocator's refusal, met only once validation has passed."""
    low, high = _NODE_PORTS.start, _NODE_PORTS.stop - 1
    why = f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
    return [
        Violation(Problem.INVALID, f"spec.ports[{index}].nodePort", port["nodePort"], why)
        for index, port in enumerate(ports)
        if port.get("nodePort") and port["nodePort"] not in _NODE_PORTS
    ]


_SPECS: Final[dict[tuple[str, str], Callable[[Obj], list[Violation]]]] = {
    ("", "Pod"): _pod,
    ("", "Service"): _service,
    ("apps", "Deployment"): _workload("deployment"),
    ("apps", "ReplicaSet"): _workload("deployment"),  # sic: apps validation says deployment
    ("apps", "StatefulSet"): _workload("statefulset"),
    ("apps", "DaemonSet"): _workload("daemonset"),
    ("batch", "Job"): _job,
}


def validate_builtin(obj: Obj, *, group: str, kind: str) -> list[Violation]:
    """Every violation of the rules above, metadata first, as ``Validate<Kind>`` lists them."""
    out = validate_meta(obj.get("metadata") or {}, group=group, kind=kind)
    rules = _SPECS.get((group, kind))
    if rules is not None:
        out.extend(rules(obj.get("spec") or {}))
    return out
