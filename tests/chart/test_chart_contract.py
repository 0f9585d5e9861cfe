"""What the operator and the cluster get from the chart: command, env, images, TLS, RBAC.

The env the Deployment sets is compared with the table of charts/podtap-operator/README.md,
the contract the operator code reads, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import json
import re

from cryptography import x509

from tests.chart.cases import CA_BUNDLE, CASES, REGISTRY
from tests.chart.render import CHART, FULLNAME, NAMESPACE, env, images, kinds, one, render, rules
from tests.chart.render import operator_container as container

LEADER = "podtap.dev/leader"


def test_operator_command_and_env_are_the_documented_contract() -> None:
    objs = render({})
    assert container(objs)["command"] == ["podtap", "operator", "serve", "--kube"]
    readme = (CHART / "README.md").read_text()
    documented = re.findall(r"^\| `(PODTAP_[A-Z_]+)` \|", readme, flags=re.M)
    assert sorted(env(objs)) == sorted(documented)
    assert env(objs) == {
        "PODTAP_NAMESPACE": "fieldRef:metadata.namespace",
        "PODTAP_POD_NAME": "fieldRef:metadata.name",
        "PODTAP_LISTEN": "0.0.0.0:8443",
        "PODTAP_TLS_DIR": "/etc/podtap/tls",
        "PODTAP_LEASE_NAME": f"{FULLNAME}-leader",
        "PODTAP_LEADER_LABEL": LEADER,
        "PODTAP_AGENT_IMAGE": "ghcr.io/podtap/podtap:0.1.0",
        "PODTAP_AGENT_PULL_POLICY": "IfNotPresent",
        "PODTAP_AGENT_PULL_SECRETS": "",
        "PODTAP_AGENT_EPHEMERAL": "false",
        "PODTAP_AGENT_PORT": "50051",
        "PODTAP_AGENT_LINGER": "30",
        "PODTAP_AGENT_NAMESPACE": "",
        "PODTAP_AGENT_RESOURCES": json.dumps(
            {"limits": {"memory": "256Mi"}, "requests": {"cpu": "10m", "memory": "32Mi"}},
            separators=(",", ":"),
        ),
        "PODTAP_AGENT_PRIVILEGED": "false",
        "PODTAP_AGENT_OWNER": FULLNAME,
        "PODTAP_SERVICE_ACCOUNT": "default",
        "PODTAP_ROLE_NAMESPACES": "",
        "PODTAP_LOG_LEVEL": "info",
        "PODTAP_JSON_LOG": "false",
        "PODTAP_METRICS_PORT": "0",
        "PODTAP_UNUSED_TTL": "30",
        "PODTAP_SETUP_DEADLINE": "180",
        "PODTAP_MAX_TIME": "",
    }


def test_values_reach_the_env() -> None:
    got = env(render(CASES["everything"]))
    assert got["PODTAP_AGENT_EPHEMERAL"] == "true"
    assert got["PODTAP_AGENT_LINGER"] == "0"
    assert got["PODTAP_AGENT_NAMESPACE"] == "podtap-agents"
    assert got["PODTAP_ROLE_NAMESPACES"] == "shop"
    assert (got["PODTAP_LOG_LEVEL"], got["PODTAP_JSON_LOG"]) == ("debug", "true")
    assert got["PODTAP_METRICS_PORT"] == "9100"
    sessions = [got[f"PODTAP_{k}"] for k in ("UNUSED_TTL", "SETUP_DEADLINE", "MAX_TIME")]
    assert sessions == ["12", "60", "3600"]
    assert env(render(CASES["agent-ephemeral"]))["PODTAP_AGENT_EPHEMERAL"] == "true"


def test_probes_and_tls_mount_serve_https_on_8443() -> None:
    objs = render({})
    c = container(objs)
    assert c["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert one(objs, "Deployment")["spec"]["template"]["spec"]["enableServiceLinks"] is False
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in one(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts["/etc/podtap/tls"]]["secret"] == {"secretName": f"{FULLNAME}-tls"}
    service = one(objs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]


def test_a_default_of_the_security_context_goes_with_null() -> None:
    objs = render({"podSecurityContext": {"runAsUser": None, "runAsGroup": None}})
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    runtime = {"type": "RuntimeDefault"}
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": runtime}


def test_an_internal_registry_names_every_image_and_the_agent_image() -> None:
    objs = render(CASES["internal-registry"])
    assert list(images(objs)) == [f"{REGISTRY}/podtap:0.1.0"]
    assert env(objs)["PODTAP_AGENT_IMAGE"] == f"{REGISTRY}/podtap:0.1.0"
    assert env(objs)["PODTAP_AGENT_PULL_SECRETS"] == "corp-pull"
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "corp-pull"}]
    own = render({"agent": {"image": {"registry": "agents.example", "tag": "dev"}}})
    assert env(own)["PODTAP_AGENT_IMAGE"] == "agents.example/podtap:dev"


def test_self_signed_certificate_is_for_the_service_and_signed_by_the_ca_bundle() -> None:
    objs = render({})
    data = one(objs, "Secret", f"{FULLNAME}-tls")["data"]
    ca_bundle = one(objs, "APIService")["spec"]["caBundle"]
    assert data["ca.crt"] == ca_bundle
    ca = x509.load_pem_x509_certificate(base64.b64decode(ca_bundle))
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{FULLNAME}.{NAMESPACE}.svc" in san.get_values_for_type(x509.DNSName)


def test_given_tls_secret_is_mounted_and_its_ca_goes_to_the_apiservice() -> None:
    objs = render(CASES["tls-given"])
    assert kinds(objs, "Secret") == []
    assert one(objs, "APIService")["spec"]["caBundle"] == CA_BUNDLE.decode()
    volumes = one(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "tls", "secret": {"secretName": "operator-tls"}} in volumes


def test_apiservice_routes_the_operator_group_to_the_service() -> None:
    spec = one(render({}), "APIService", "v1.operator.podtap.dev")["spec"]
    assert {k: v for k, v in spec.items() if k != "caBundle"} == {
        "group": "operator.podtap.dev",
        "version": "v1",
        "groupPriorityMinimum": 1000,
        "versionPriority": 15,
        "service": {"name": FULLNAME, "namespace": NAMESPACE, "port": 443},
    }
    off = render(CASES["api-service-off"])
    assert kinds(off, "APIService") == [] and len(kinds(off, "Secret")) == 1


def test_the_service_reaches_only_the_leader() -> None:
    # with one replica too: during a rollout the new pod must get nothing before it leads
    assert one(render({}), "Service")["spec"]["selector"][LEADER] == "true"
    objs = render(CASES["replicas-2"])
    assert one(objs, "Deployment")["spec"]["replicas"] == 2
    assert one(objs, "Service")["spec"]["selector"][LEADER] == "true"
    assert one(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert kinds(render({}), "PodDisruptionBudget") == []
    leader = rules(one(objs, "Role", f"{FULLNAME}-leader"))
    assert {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")} <= leader
    assert ("", "pods", "patch") in leader


def test_operator_rbac_is_cluster_wide_by_default() -> None:
    objs = render({})
    cluster = rules(one(objs, "ClusterRole", FULLNAME))
    assert ("", "pods", "create") in cluster and (
        "",
        "pods/ephemeralcontainers",
        "patch",
    ) in cluster
    assert ("", "pods/exec", "create") not in cluster
    assert ("podtap.dev", "podtapsessions", "*") in cluster
    # It watches the policies and profiles it enforces, and the CRDs that may bring more.
    for group in ("policies.podtap.dev", "profiles.mirrord.metalbear.co"):
        assert {(group, "*", v) for v in ("get", "list", "watch")} <= cluster
    assert ("apiextensions.k8s.io", "customresourcedefinitions", "watch") in cluster
    # It reads its own ClusterRole, the owner of agent pods, and no other.
    (owner,) = [
        r for r in one(objs, "ClusterRole", FULLNAME)["rules"] if "clusterroles" in r["resources"]
    ]
    assert owner == {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                     "resourceNames": [FULLNAME], "verbs": ["get"]}  # fmt: skip
    assert [r["metadata"]["namespace"] for r in kinds(objs, "Role")] == [NAMESPACE] * 2
    delegator = one(objs, "ClusterRoleBinding", f"{FULLNAME}-auth-delegator")
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    reader = one(objs, "RoleBinding", f"{FULLNAME}-auth-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"]["name"] == "extension-apiserver-authentication-reader"


def test_role_namespaces_turn_namespaced_rights_into_roles_there() -> None:
    objs = render(CASES["role-namespaces"])
    cluster = rules(one(objs, "ClusterRole", FULLNAME))
    assert not any(resource.startswith("pods") for _, resource, _ in cluster)
    for ns in ("shop", "billing"):
        role = [r for r in kinds(objs, "Role") if r["metadata"]["namespace"] == ns]
        assert len(role) == 1 and ("", "pods", "create") in rules(role[0])
        binding = [b for b in kinds(objs, "RoleBinding") if b["metadata"]["namespace"] == ns]
        assert [b["subjects"][0]["name"] for b in binding] == [FULLNAME]
    assert env(objs)["PODTAP_ROLE_NAMESPACES"] == "shop,billing"


def test_user_roles_let_users_connect_and_end_their_sessions_and_admins_anyones() -> None:
    objs = render({})
    user = rules(one(objs, "ClusterRole", f"{FULLNAME}-user"))
    ci = rules(one(objs, "ClusterRole", f"{FULLNAME}-ci"))
    admin = rules(one(objs, "ClusterRole", f"{FULLNAME}-admin"))
    connect = ("operator.podtap.dev", "targets", "proxy")
    end = ("operator.podtap.dev", "sessions", "delete")
    status = ("operator.podtap.dev", "operators", "get")
    assert connect in user and connect in ci
    assert end in user and end in ci and status in user
    assert ("operator.podtap.dev", "sessions", "kill") not in user
    assert ("operator.podtap.dev", "sessions", "*") in admin
    assert ("podtap.dev", "podtapsessions", "delete") in admin
    labels = one(render(CASES["everything"]), "ClusterRole", f"{FULLNAME}-user")["metadata"]
    assert labels["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-edit" not in json.dumps(objs)


def test_without_an_apiservice_users_find_the_operator_its_ca_and_may_port_forward() -> None:
    for case in ("defaults", "api-service-off", "tls-given"):
        objs = render(CASES[case])
        role = one(objs, "Role", f"{FULLNAME}-user")
        assert role["metadata"]["namespace"] == NAMESPACE
        assert {("", "pods/portforward", "create"), ("", "services", "list")} <= rules(role)
        assert ("", "endpoints", "get") in rules(role) and ("", "pods", "get") not in rules(role)
        ca_rule = [r for r in role["rules"] if r["resources"] == ["configmaps"]]
        assert ca_rule == [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [f"{FULLNAME}-ca"],
             "verbs": ["get"]}
        ]  # fmt: skip
        published = one(objs, "ConfigMap", f"{FULLNAME}-ca")["data"]["ca.crt"]
        if case == "tls-given":
            assert published.encode() == base64.b64decode(CA_BUNDLE)
            continue
        secret = one(objs, "Secret", f"{FULLNAME}-tls")["data"]
        assert published.encode() == base64.b64decode(secret["ca.crt"])
        ca = x509.load_pem_x509_certificate(published.encode())
        served = x509.load_pem_x509_certificate(base64.b64decode(secret["tls.crt"]))
        assert served.issuer == ca.subject
        names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert f"{FULLNAME}.{NAMESPACE}.svc" in names.get_values_for_type(x509.DNSName)
        assert one(objs, "Service", FULLNAME)["metadata"]["labels"]["app.kubernetes.io/part-of"]


def test_openshift_scc_grants_agents_what_they_need_and_the_operator_may_use_it() -> None:
    assert kinds(render({}), "SecurityContextConstraints") == []
    objs = render(CASES["openshift-agent-namespace"])
    scc = one(objs, "SecurityContextConstraints", f"{FULLNAME}-agent")
    assert scc["allowHostPID"] and scc["allowHostDirVolumePlugin"]
    assert "hostPath" in scc["volumes"] and scc["runAsUser"] == {"type": "RunAsAny"}
    assert scc["allowedCapabilities"] == ["SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "NET_ADMIN"]
    assert scc["allowPrivilegedContainer"] is True
    assert scc["users"] == ["system:serviceaccount:podtap-agents:podtap-agent"]
    use = ("security.openshift.io", "securitycontextconstraints", "use")
    assert use in rules(one(objs, "ClusterRole", FULLNAME))
    agent_sa = one(objs, "ServiceAccount", "podtap-agent")
    assert agent_sa["metadata"]["namespace"] == "podtap-agents"
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert "runAsUser" not in pod["securityContext"]
    # The operator's `use` admits its agent pods; a namespace's default account gets nothing.
    assert one(render(CASES["openshift"]), "SecurityContextConstraints")["users"] == []


def test_metrics_port_on_the_service_and_a_service_monitor_selecting_it() -> None:
    assert kinds(render({}), "ServiceMonitor") == []
    objs = render(CASES["metrics"])
    service = one(objs, "Service")
    assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in (
        service["spec"]["ports"]
    )
    monitor = one(objs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert env(objs)["PODTAP_METRICS_PORT"] == "9090"
