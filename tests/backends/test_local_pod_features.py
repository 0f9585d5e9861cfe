"""The pure parts of the agent-pod features of the embedded cluster's node: capability sets
and the setpriv line that applies them, the downward API, hostPath type checks, and the
admission that refuses what the node cannot honour in the pod spec of every kind it runs."""

from __future__ import annotations

import copy
import dataclasses
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.backends.local import controllers
from podtap.backends.local.capabilities import (
    DEFAULT,
    NAMES,
    Identity,
    capability_set,
    held,
    mask,
    node_bounding,
    setpriv_argv,
)
from podtap.backends.local.kubeapi.ephemeral import check_main_update, ephemeral_update
from podtap.backends.local.kubeapi.resources import BUILTINS
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.models import HostPathVolume
from podtap.backends.local.podconfig import (
    NODE_NAME,
    DownwardSource,
    PodConfigError,
    downward_fields,
    host_path,
)
from podtap.backends.local.podfields import unhonoured
from podtap.backends.local.podstatus import ContainerView, PodView, pod_status
from podtap.backends.local.runnable import RUN_KINDS, check_runnable

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "shop.yaml"
PODS = next(r for r in BUILTINS if r.kind == "Pod")
CONTAINER = {"name": "app", "image": "x", "command": ["sleep", "1"]}


def test_capability_sets_follow_containerd() -> None:
    assert mask(DEFAULT) == 0xA80425FB  # docker/containerd's CapEff for a root container
    assert capability_set(add=[], drop=[], privileged=False) == DEFAULT
    with_admin = capability_set(
        add=["NET_ADMIN", "CAP_SYS_PTRACE"], drop=["kill"], privileged=False
    )
    assert with_admin == (DEFAULT | {"NET_ADMIN", "SYS_PTRACE"}) - {"KILL"}
    assert capability_set(add=["NET_ADMIN"], drop=["ALL"], privileged=False) == {"NET_ADMIN"}
    assert capability_set(add=[], drop=["ALL"], privileged=False) == frozenset()
    assert capability_set(add=["ALL"], drop=["SYS_ADMIN"], privileged=False) == set(NAMES) - {
        "SYS_ADMIN"
    }
    assert capability_set(add=[], drop=["ALL"], privileged=True) == frozenset(NAMES)
    assert held(f"{mask(with_admin):016x}") == with_admin


def _caps_of(argv: list[str]) -> dict[str, str]:
    out = subprocess.run(
        [*argv, "sh", "-c", "id -u; grep Cap /proc/self/status"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    return {"uid": lines[0], **dict(line.split(":\t") for line in lines[1:])}


def test_setpriv_leaves_a_process_with_the_set() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    caps = capability_set(add=["NET_ADMIN"], drop=["KILL"], privileged=False) & node_bounding()
    got = _caps_of(setpriv_argv(Identity(caps=caps)))
    want = f"{mask(caps):016x}"
    assert got["uid"] == "0"
    assert got["CapBnd"] == got["CapEff"] == got["CapPrm"] == got["CapInh"] == want
    assert got["CapAmb"] == want  # kept across exec of programs without file caps
    user = _caps_of(setpriv_argv(Identity(caps=caps, uid=1234, gid=1234)))
    assert user["uid"] == "1234" and user["CapEff"] == "0" * 16 and user["CapBnd"] == want
    nothing = _caps_of(setpriv_argv(Identity(caps=frozenset())))
    assert nothing["CapEff"] == nothing["CapBnd"] == "0" * 16


def test_downward_fields_as_kubelet() -> None:
    fields = downward_fields(
        DownwardSource(
            name="p", namespace="ns", uid="u-1", labels={"app": "a", "tier": "b"},
            annotations={"note": 'say "hi"'}, node_name=NODE_NAME, service_account="sa",
            pod_ip="10.244.0.5", host_ip="10.244.0.1",
        )
    )  # fmt: skip
    assert fields["metadata.uid"] == "u-1"
    assert fields["metadata.labels['tier']"] == "b"
    assert fields["metadata.annotations['note']"] == 'say "hi"'
    assert fields["metadata.labels"] == 'app="a"\ntier="b"\n'
    assert fields["spec.serviceAccountName"] == "sa"
    assert fields["status.hostIPs"] == "10.244.0.1" and fields["status.podIPs"] == "10.244.0.5"
    assert NODE_NAME == controllers.NODE_NAME


def test_host_path_types_are_checked_as_kubelet(tmp_path: Path) -> None:
    made = tmp_path / "made" / "deeper"
    assert host_path(HostPathVolume(path=str(made), type="DirectoryOrCreate")).is_dir()
    file = tmp_path / "f"
    host_path(HostPathVolume(path=str(file), type="FileOrCreate"))
    assert file.is_file() and file.stat().st_mode & 0o777 == 0o644
    with pytest.raises(PodConfigError, match=f"{made} is not a file"):
        host_path(HostPathVolume(path=str(made), type="File"))
    with pytest.raises(PodConfigError, match=f"{file} is not a directory"):
        host_path(HostPathVolume(path=str(file), type="Directory"))
    with pytest.raises(PodConfigError, match="is not a directory"):
        host_path(HostPathVolume(path=str(tmp_path / "missing"), type="Directory"))
    with pytest.raises(PodConfigError, match="No such file"):
        host_path(HostPathVolume(path=str(tmp_path / "no" / "f"), type="FileOrCreate"))
    with pytest.raises(PodConfigError, match="is not a socket file"):
        host_path(HostPathVolume(path=str(file), type="Socket"))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        assert host_path(HostPathVolume(path=str(tmp_path / "s"), type="Socket"))
    finally:
        sock.close()
    assert host_path(HostPathVolume(path=str(tmp_path / "plain"))).is_dir()


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [dict(CONTAINER)], **spec},
    }


def _wrap(kind: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": pod_spec}
    selector = {"matchLabels": {"app": "a"}}
    specs: dict[str, dict[str, Any]] = {
        "Pod": pod_spec,
        "Deployment": {"selector": selector, "template": template},
        "ReplicaSet": {"selector": selector, "template": template},
        "StatefulSet": {"selector": selector, "template": template, "serviceName": "a"},
        "DaemonSet": {"selector": selector, "template": template},
        "Job": {"template": template},
        "CronJob": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    return {"kind": kind, "metadata": {"name": "w"}, "spec": specs[kind]}


def _refusal(kind: str, obj: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as err:
        check_runnable(kind, obj)
    assert err.value.code == 422 and err.value.reason == "Invalid"
    return err.value.message


@pytest.mark.parametrize("kind", RUN_KINDS)
def test_every_kind_refuses_what_its_pods_cannot_honour(kind: str) -> None:
    at = {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec"}.get(
        kind, "spec.template.spec"
    )
    spec = _pod()["spec"]
    check_runnable(kind, _wrap(kind, spec))  # runs as it is
    bad = copy.deepcopy(spec)
    bad["hostNetwork"] = True
    bad["containers"][0]["lifecycle"] = {"preStop": {"exec": {"command": ["true"]}}}
    message = _refusal(kind, _wrap(kind, bad))
    assert f"{at}.hostNetwork: Forbidden: the embedded cluster cannot honour" in message
    assert f"{at}.containers[0].lifecycle: Forbidden" in message
    elsewhere = dict(spec, nodeName="worker-2")
    assert f"{at}.nodeName: Invalid value: 'worker-2'" in _refusal(kind, _wrap(kind, elsewhere))
    assert "'podtap-local'" in _refusal(kind, _wrap(kind, elsewhere))
    check_runnable(kind, _wrap(kind, dict(spec, nodeName=NODE_NAME)))


def test_what_is_refused_and_what_is_harmless() -> None:
    spec = _pod()["spec"]
    spec.update(
        initContainers=[dict(CONTAINER)],
        tolerations=[{"operator": "Exists"}],
        dnsPolicy="ClusterFirst",
        terminationGracePeriodSeconds=30,
        volumes=[{"name": "v", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/tmp"}}],
    )
    spec["containers"][0].update(
        resources={"limits": {"cpu": "1"}},
        imagePullPolicy="Always",
        livenessProbe={"grpc": {"port": 9000}},
        readinessProbe={"exec": {"command": ["true"]}, "timeoutSeconds": 2},
        env=[{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
        volumeMounts=[{"name": "v", "mountPath": "/v", "subPath": "x"}],
        securityContext={"seLinuxOptions": {"level": "s0"}, "capabilities": {"add": ["NET_ADMIN"]}},
    )
    assert unhonoured(spec) == [
        "spec.containers[0].livenessProbe.grpc",
        "spec.containers[0].env[0].valueFrom.resourceFieldRef",
        "spec.containers[0].volumeMounts[0].subPath",
        "spec.containers[0].securityContext.seLinuxOptions",
        "spec.initContainers",
    ]


def test_values_the_node_cannot_run_are_refused() -> None:
    def msg(**spec: Any) -> str:
        return _refusal("Pod", _pod(**spec))

    c = dict(CONTAINER)
    assert "fieldPath 'status.phase' is not supported" in msg(
        containers=[
            c | {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]}
        ]
    )
    assert "unknown capabilities NET_WIZARD" in msg(
        containers=[c | {"securityContext": {"capabilities": {"add": ["NET_WIZARD"]}}}]
    )
    assert "runAsNonRoot is set but the container would run as root" in msg(
        securityContext={"runAsNonRoot": True}
    )
    check_runnable("Pod", _pod(securityContext={"runAsNonRoot": True, "runAsUser": 1000}))
    assert "hostPath.path must be an absolute path" in msg(
        volumes=[{"name": "h", "hostPath": {"path": "tmp"}}]
    )


def test_the_shop_example_is_still_admitted() -> None:
    for doc in yaml.safe_load_all(SHOP.read_text()):
        if doc and doc["kind"] in RUN_KINDS:
            check_runnable(doc["kind"], doc)


def _stored_pod(*ephemeral: dict[str, Any]) -> dict[str, Any]:
    pod = _pod()
    pod["metadata"]["resourceVersion"] = "7"
    pod["spec"]["ephemeralContainers"] = list(ephemeral)
    return pod


DEBUGGER = {"name": "debugger", "image": "x", "command": ["sh"], "targetContainerName": "app"}


def test_ephemeral_containers_are_only_added() -> None:
    old = _stored_pod()
    body = copy.deepcopy(old)
    body["spec"]["ephemeralContainers"] = [DEBUGGER]
    body["spec"]["containers"][0]["command"] = ["changed"]  # dropped, as the registry does
    body["metadata"]["labels"] = {"dropped": "too"}
    new = ephemeral_update(PODS, "p", new=body, old=old)
    assert new["spec"]["ephemeralContainers"] == [DEBUGGER]
    assert new["spec"]["containers"] == old["spec"]["containers"]
    assert "labels" not in new["metadata"] and new["metadata"]["resourceVersion"] == "7"

    def refused(*wanted: dict[str, Any], before: tuple[dict[str, Any], ...] = (DEBUGGER,)) -> str:
        body = _stored_pod(*wanted)
        with pytest.raises(ApiError) as err:
            ephemeral_update(PODS, "p", new=body, old=_stored_pod(*before))
        assert err.value.code == 422
        return err.value.message

    assert 'existing ephemeral containers "debugger" may not be removed' in refused()
    changed = dict(DEBUGGER, command=["other"])
    assert "spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers " in refused(
        changed
    )
    assert 'spec.ephemeralContainers[1].name: Duplicate value: "app"' in refused(
        DEBUGGER, dict(DEBUGGER, name="app")
    )
    missing = dict(DEBUGGER, name="d2", targetContainerName="nope")
    assert 'targetContainerName: Not found: "nope"' in refused(DEBUGGER, missing)

    check_main_update(PODS, "p", new=_stored_pod(DEBUGGER), old=_stored_pod(DEBUGGER))
    with pytest.raises(ApiError, match="write them through pods/p/ephemeralcontainers"):
        check_main_update(PODS, "p", new=_stored_pod(), old=_stored_pod(DEBUGGER))


def test_ephemeral_container_statuses_are_reported_never_ready() -> None:
    running = ContainerView("debugger", "x", "Running", "", 0, None, 1.0, 42)
    app = dataclasses.replace(running, name="app", pid=41)
    view = PodView("Running", True, "", "10.244.0.5", "10.244.0.1", 1.0, (app,), (running,))
    status = pod_status(view, {}, now="t")
    (debugger,) = status["ephemeralContainerStatuses"]
    assert debugger["containerID"] == "podtap://42" and debugger["ready"] is False
    assert status["containerStatuses"][0]["ready"] is True
    assert "ephemeralContainerStatuses" not in pod_status(
        dataclasses.replace(view, ephemeral=()), {}, now="t"
    )
    no_command = _pod()
    no_command["spec"]["ephemeralContainers"] = [{"name": "d", "image": "busybox"}]
    assert "ephemeralContainers[0] (d): command is required" in _refusal("Pod", no_command)
