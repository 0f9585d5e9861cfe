"""The agent pod's manifest and its settings from the chart's environment (no cluster)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from podtap.backends.kubernetes.agent_pod import (
    AgentPodSettings,
    AgentSettingsError,
    agent_pod,
    agent_token,
    agents_of,
    ephemeral_agent,
    owner_reference,
)
from podtap.backends.kubernetes.agents import agent_state
from podtap.testing.localcluster import podtap_argv

VERSIONS = ("1.30.0", "1.37.0")
TARGET: dict[str, Any] = {
    "metadata": {"name": "shop-7d9f-abcde", "namespace": "team", "uid": "0b6c-11ef-9a1e"},
    "spec": {"nodeName": "node-3", "containers": [{"name": "shop"}]},
}
CHART_ENV = {  # what the chart sets with an internal registry, a namespace and resources
    "PODTAP_AGENT_IMAGE": "registry.corp:5000/mirror/podtap:1.2.3",
    "PODTAP_AGENT_PULL_POLICY": "Always",
    "PODTAP_AGENT_PULL_SECRETS": "corp-pull, other",
    "PODTAP_AGENT_EPHEMERAL": "false",
    "PODTAP_AGENT_PORT": "50052",
    "PODTAP_AGENT_LINGER": "12",
    "PODTAP_AGENT_NAMESPACE": "podtap-agents",
    "PODTAP_AGENT_RESOURCES": '{"limits":{"memory":"256Mi"},"requests":{"cpu":"10m"}}',
    "PODTAP_AGENT_PRIVILEGED": "false",
    "PODTAP_SERVICE_ACCOUNT": "podtap-agent",
}


def build(settings: AgentPodSettings, token: str = "s3cret") -> dict[str, Any]:
    return agent_pod(
        TARGET, container_id="containerd://abc123", settings=settings, token=token, suffix="x1y2"
    )


def test_the_chart_environment_makes_the_settings() -> None:
    s = AgentPodSettings.from_env(CHART_ENV)
    assert s.image == "registry.corp:5000/mirror/podtap:1.2.3"
    assert (s.pull_policy, s.pull_secrets) == ("Always", ("corp-pull", "other"))
    assert (s.port, s.linger, s.namespace, s.service_account) == (
        50052,
        12.0,
        "podtap-agents",
        "podtap-agent",
    )
    assert s.resources == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "10m"}}
    assert not s.privileged and not s.ephemeral
    assert AgentPodSettings.from_env({"PODTAP_AGENT_CONNECT": "direct"}).connect == "direct"


def test_empty_variables_mean_the_defaults() -> None:
    s = AgentPodSettings.from_env(dict.fromkeys(CHART_ENV, ""))
    assert s == AgentPodSettings()
    assert (s.port, s.linger, s.namespace, s.service_account) == (50051, 30.0, None, "default")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PODTAP_AGENT_PORT", "70000", "PODTAP_AGENT_PORT='70000': give a port number 1-65535"),
        ("PODTAP_AGENT_PORT", "http", "PODTAP_AGENT_PORT='http': give a port number"),
        ("PODTAP_AGENT_LINGER", "soon", "PODTAP_AGENT_LINGER='soon': give seconds"),
        ("PODTAP_AGENT_LINGER", "-3", "PODTAP_AGENT_LINGER='-3': give seconds"),
        ("PODTAP_AGENT_PULL_POLICY", "Sometimes", "give one of Always, IfNotPresent, Never"),
        ("PODTAP_AGENT_PRIVILEGED", "yes", "PODTAP_AGENT_PRIVILEGED='yes': give true or false"),
        ("PODTAP_AGENT_RESOURCES", "{limits", "PODTAP_AGENT_RESOURCES is not JSON"),
        ("PODTAP_AGENT_RESOURCES", '{"cpu": "1"}', "give a container's resources"),
        ("PODTAP_AGENT_CONNECT", "tunnel", "PODTAP_AGENT_CONNECT='tunnel': give direct or port"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_it(name: str, value: str, message: str) -> None:
    with pytest.raises(AgentSettingsError, match=message) as refused:
        AgentPodSettings.from_env({**CHART_ENV, name: value})
    assert "\n" not in str(refused.value)


def test_the_pod_runs_on_the_targets_node_with_host_pid_and_the_four_capabilities() -> None:
    pod = build(AgentPodSettings.from_env(CHART_ENV))
    spec = pod["spec"]
    assert pod["metadata"]["name"] == "podtap-agent-x1y2"
    assert pod["metadata"]["namespace"] == "podtap-agents"
    assert (spec["nodeName"], spec["hostPID"], spec["restartPolicy"]) == ("node-3", True, "Never")
    assert spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "podtap-agent"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["imagePullSecrets"] == [{"name": "corp-pull"}, {"name": "other"}]
    (c,) = spec["containers"]
    assert c["name"] == "agent"
    assert (c["image"], c["imagePullPolicy"]) == (
        "registry.corp:5000/mirror/podtap:1.2.3",
        "Always",
    )
    assert c["resources"] == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "10m"}}
    caps = c["securityContext"]["capabilities"]
    assert caps == {"drop": ["ALL"], "add": ["SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "NET_ADMIN"]}
    assert "privileged" not in c["securityContext"]
    assert c["command"] == [
        "podtap",
        "agent",
        "--container-id",
        "containerd://abc123",
        "--listen",
        "0.0.0.0:50052",
        "--idle-exit",
        "12",
    ]
    assert c["readinessProbe"]["tcpSocket"] == {"port": 50052}
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/name": "podtap-agent",
        "app.kubernetes.io/managed-by": "podtap-operator",
        "podtap.dev/target-pod": "shop-7d9f-abcde",
        "podtap.dev/target-uid": "0b6c-11ef-9a1e",
    }


def test_the_token_is_never_in_the_pod_only_its_sha256() -> None:
    pod = build(AgentPodSettings(), token="the-operators-secret")
    assert "the-operators-secret" not in repr(pod)
    (c,) = pod["spec"]["containers"]
    assert c["env"] == [
        {
            "name": "PODTAP_AGENT_TOKEN_SHA256",
            "value": hashlib.sha256(b"the-operators-secret").hexdigest(),
        }
    ]


def test_defaults_the_targets_namespace_and_privileged_when_asked() -> None:
    pod = build(AgentPodSettings.from_env({"PODTAP_AGENT_PRIVILEGED": "true"}))
    assert pod["metadata"]["namespace"] == "team"
    (c,) = pod["spec"]["containers"]
    assert c["securityContext"]["privileged"] is True
    assert "imagePullSecrets" not in pod["spec"] and "resources" not in c


def test_a_pod_not_on_a_node_yet_gets_no_agent() -> None:
    with pytest.raises(ValueError, match="pod p is not on a node yet"):
        agent_pod(
            {"metadata": {"name": "p", "namespace": "d"}, "spec": {}},
            container_id="containerd://1",
            settings=AgentPodSettings(),
            token="t",
            suffix="s",
        )


def test_a_long_pod_name_still_makes_a_valid_label() -> None:
    long = {**TARGET, "metadata": {**TARGET["metadata"], "name": "a" * 70 + ".b"}}
    pod = agent_pod(
        long, container_id="cri-o://1", settings=AgentPodSettings(), token="t", suffix="s"
    )
    assert pod["metadata"]["labels"]["podtap.dev/target-pod"] == "a" * 63
    for version in VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("env", [{}, CHART_ENV, {"PODTAP_AGENT_PRIVILEGED": "true"}])
def test_the_manifest_is_valid_for_kubernetes(version: str, env: dict[str, str]) -> None:
    kubernetes_validate.validate(build(AgentPodSettings.from_env(env)), version, strict=True)


def test_an_agent_pod_is_owned_by_the_clusterrole_the_chart_names() -> None:
    settings = AgentPodSettings.from_env({**CHART_ENV, "PODTAP_AGENT_OWNER": "podtap-operator"})
    assert settings.owner == "podtap-operator" and AgentPodSettings.from_env({}).owner == ""
    role = {"metadata": {"name": "podtap-operator", "uid": "5f1c-77aa", "resourceVersion": "9"}}
    pod = agent_pod(TARGET, container_id="containerd://1", settings=settings, token="t",
                    suffix="s", owner=owner_reference(role))  # fmt: skip
    assert pod["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "name": "podtap-operator",
            "uid": "5f1c-77aa",
        }
    ]
    assert "ownerReferences" not in build(settings)["metadata"]  # none given: none made
    for version in VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)


def test_replicas_sharing_a_key_derive_the_same_token_for_an_agent_pod() -> None:
    token = agent_token(b"the chart's TLS key", "podtap-agent-x1y2")
    assert token == agent_token(b"the chart's TLS key", "podtap-agent-x1y2")  # any replica
    assert token != agent_token(b"the chart's TLS key", "podtap-agent-x1y3")
    assert token != agent_token(b"another release's key", "podtap-agent-x1y2")
    (c,) = build(AgentPodSettings(), token=token)["spec"]["containers"]
    assert c["env"][0]["value"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(build(AgentPodSettings(), token=token))
    assert agents_of(TARGET) == (
        "app.kubernetes.io/name=podtap-agent,app.kubernetes.io/managed-by=podtap-operator,"
        "podtap.dev/target-uid=0b6c-11ef-9a1e"
    )


def _status(**status: Any) -> dict[str, Any]:
    return {"status": status}


@pytest.mark.parametrize(
    ("pod", "state"),
    [
        (_status(phase="Pending"), None),
        (_status(phase="Running", conditions=[{"type": "Ready", "status": "False"}]), None),
        (_status(phase="Running", conditions=[{"type": "Ready", "status": "True"}]), "ready"),
        (
            _status(
                phase="Pending",
                containerStatuses=[
                    {
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": 'Back-off pulling image "podtap:nope"',
                            }
                        }
                    }
                ],
            ),
            'ImagePullBackOff: Back-off pulling image "podtap:nope"',
        ),
        (
            _status(
                phase="Failed",
                containerStatuses=[{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
            ),
            "the agent exited (Error): exit code 1",
        ),
        (
            _status(phase="Failed", reason="OutOfcpu", message="Node didn't have enough cpu"),
            "OutOfcpu: Node didn't have enough cpu",
        ),
        (
            _status(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "reason": "Unschedulable", "message": "0/3 nodes"}
                ],
            ),
            "Unschedulable: 0/3 nodes",
        ),
    ],
)
def test_what_an_agent_pods_status_says(pod: dict[str, Any], state: str | None) -> None:
    assert agent_state(pod) == state


@pytest.mark.parametrize("version", VERSIONS)
def test_the_ephemeral_agent_has_no_ports_probes_or_resources_and_is_valid(version: str) -> None:
    settings = AgentPodSettings.from_env({**CHART_ENV, "PODTAP_AGENT_EPHEMERAL": "true"})
    container = ephemeral_agent(
        target_container="shop",
        container_id="cri-o://9f",
        settings=settings,
        token="t",
        suffix="e1",
    )
    assert container["name"] == "podtap-agent-e1" and container["targetContainerName"] == "shop"
    assert not {"ports", "resources", "readinessProbe"} & set(container)
    assert container["command"][2:4] == ["--container-id", "cri-o://9f"]
    pod = {**TARGET, "apiVersion": "v1", "kind": "Pod"}
    pod["spec"] = {**TARGET["spec"], "ephemeralContainers": [container]}
    kubernetes_validate.validate(pod, version, strict=True)


def test_an_ephemeral_agents_state_is_its_own_status() -> None:
    running = {"name": "podtap-agent-e1", "state": {"running": {}}}
    pulled = {"name": "podtap-agent-e2", "state": {"waiting": {"reason": "ErrImagePull"}}}
    pod = _status(phase="Running", ephemeralContainerStatuses=[running, pulled])
    assert agent_state(pod, ephemeral="podtap-agent-e1") == "running"
    assert agent_state(pod, ephemeral="podtap-agent-e2") == "ErrImagePull: no message"
    assert agent_state(pod, ephemeral="podtap-agent-e3") is None


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--pid", "1", "--container-id", "containerd://ab"], {}, "one of --pid PID or --cont"),
        ([], {}, "give the target as one of --pid PID or --container-id ID"),
        (["--pid", "1"], {"PODTAP_AGENT_TOKEN_SHA256": "abc"}, "must be 64 hex digits"),
        (["--container-id", "rkt://x"], {}, "rkt"),
        (
            ["--container-id", "containerd://" + "0" * 64],
            {},
            "no process in /proc belongs to containerd container 000000000000",
        ),
    ],
)
def test_the_agent_refuses_a_bad_target_or_token_in_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    given = {"PODTAP_AGENT_TOKEN_SHA256": "0" * 64, **env}
    done = subprocess.run(
        podtap_argv("agent", "--listen", "127.0.0.1:0", *args),
        env={k: v for k, v in os.environ.items() if not k.startswith("PODTAP_AGENT")} | given,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
