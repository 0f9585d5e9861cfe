"""The real kubectl v1.37 against the API server started in this process (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.auth import Identity
from tests.kubeapi.cli import run

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: demo}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: p1, namespace: demo, labels: {app: one}}
spec:
  containers: [{name: c, image: busybox}]
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, description: How big the widget is.}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
"""

WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3}
"""


def test_version_and_api_resources(api: Running, kubectl_bin: Path) -> None:
    out = run(kubectl_bin, api, "version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["gitVersion"] == "v1.37.1"
    table = run(kubectl_bin, api, "api-resources").stdout
    lines = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert lines["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert lines["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert "leases" in lines and "endpointslices" in lines and "customresourcedefinitions" in lines


def test_create_apply_get_delete(api: Running, kubectl_bin: Path) -> None:
    assert run(kubectl_bin, api, "create", "namespace", "demo").stdout == "namespace/demo created\n"
    out = run(kubectl_bin, api, "apply", "-f", "-", stdin=MANIFEST).stdout
    assert out.splitlines() == [
        "configmap/cfg created",
        "deployment.apps/web created",
        "pod/p1 created",
    ]

    pods = run(kubectl_bin, api, "get", "pods", "-n", "demo").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[:4] == ["p1", "0/1", "Pending", "0"]
    wide = run(kubectl_bin, api, "get", "pods", "-n", "demo", "-o", "wide").stdout
    assert "NOMINATED NODE" in wide.splitlines()[0]
    names = run(kubectl_bin, api, "get", "all", "-n", "demo", "-o", "name").stdout.split()
    assert names == ["pod/p1", "deployment.apps/web"]
    obj = json.loads(
        run(kubectl_bin, api, "get", "deploy", "web", "-n", "demo", "-o", "json").stdout
    )
    assert obj["metadata"]["generation"] == 1 and obj["spec"]["replicas"] == 2
    as_yaml = yaml.safe_load(
        run(kubectl_bin, api, "get", "cm", "cfg", "-n", "demo", "-o", "yaml").stdout
    )
    assert as_yaml["data"] == {"a": "1"} and as_yaml["metadata"]["uid"]
    listed = json.loads(run(kubectl_bin, api, "get", "cm", "-n", "demo", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["cfg"]
    forms = {  # the printers that read fields rather than the server's table
        "jsonpath={.items[*].metadata.name}": "cfg",
        "custom-columns=NAME:.metadata.name,A:.data.a": "NAME   A\ncfg    1",
        "go-template={{range .items}}{{.metadata.name}}={{.data.a}};{{end}}": "cfg=1;",
        "jsonpath-as-json={.items[0].data}": '[\n    {\n        "a": "1"\n    }\n]',
    }
    for form, shown in forms.items():
        out = run(kubectl_bin, api, "get", "cm", "-n", "demo", "-o", form).stdout
        assert out.strip() == shown, (form, out)
    ns = run(kubectl_bin, api, "get", "ns", "demo").stdout.splitlines()
    assert ns[0].split() == ["NAME", "STATUS", "AGE"] and ns[1].split()[:2] == ["demo", "Active"]

    # Applying the same manifest again computes an empty patch for each: nothing is sent.
    again = run(kubectl_bin, api, "apply", "-f", "-", stdin=MANIFEST).stdout
    assert again.splitlines() == [
        "configmap/cfg unchanged",
        "deployment.apps/web unchanged",
        "pod/p1 unchanged",
    ]

    missing = run(kubectl_bin, api, "get", "pod", "nope", "-n", "demo", ok=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    twice = run(kubectl_bin, api, "create", "namespace", "demo", ok=False)
    assert (
        twice.stderr.strip()
        == 'Error from server (AlreadyExists): namespaces "demo" already exists'
    )

    assert "deleted" in run(kubectl_bin, api, "delete", "pod", "p1", "-n", "demo").stdout
    assert "deleted" in run(kubectl_bin, api, "delete", "namespace", "demo").stdout
    gone = run(kubectl_bin, api, "get", "cm", "-A", "-o", "name").stdout
    assert "configmap/cfg" not in gone


def test_typed_creates_sent_as_protobuf(api: Running, kubectl_bin: Path) -> None:
    """kubectl's generators send protobuf bodies: configmap, secret and a pod with a label."""
    run(kubectl_bin, api, "create", "configmap", "pb", "--from-literal=k=v")
    run(kubectl_bin, api, "create", "secret", "generic", "pbs", "--from-literal=k=v")
    run(kubectl_bin, api, "run", "pbpod", "--image=busybox", "--", "sleep", "1")
    cm = json.loads(run(kubectl_bin, api, "get", "cm", "pb", "-o", "json").stdout)
    assert cm["data"] == {"k": "v"}
    secret = json.loads(run(kubectl_bin, api, "get", "secret", "pbs", "-o", "json").stdout)
    assert secret["data"] == {"k": "dg=="} and secret["type"] == "Opaque"
    pod = json.loads(run(kubectl_bin, api, "get", "pod", "pbpod", "-o", "json").stdout)
    assert pod["metadata"]["labels"] == {"run": "pbpod"}
    assert pod["spec"]["containers"][0]["args"] == ["sleep", "1"]
    for kind, name in (("cm", "pb"), ("secret", "pbs"), ("pod", "pbpod")):
        run(kubectl_bin, api, "delete", kind, name)


def test_get_watch_receives_events(api: Running, kubectl_bin: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(api.kubeconfig), "HOME": str(api.workdir)}
    watcher = subprocess.Popen(
        [str(kubectl_bin), "get", "configmaps", "-w", "--output-watch-events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.0)
        run(kubectl_bin, api, "create", "configmap", "watched", "--from-literal=a=b")
        run(kubectl_bin, api, "delete", "configmap", "watched")
        time.sleep(1.0)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    events = [line.split()[:2] for line in out.splitlines()[1:]]
    assert ["ADDED", "watched"] in events and ["DELETED", "watched"] in events


def test_auth_and_explain(api: Running, kubectl_bin: Path) -> None:
    assert run(kubectl_bin, api, "auth", "can-i", "create", "pods").stdout.strip() == "yes"
    whoami = run(kubectl_bin, api, "auth", "whoami", "-o", "json").stdout
    assert json.loads(whoami)["status"]["userInfo"]["username"] == "podtap-admin"
    explained = run(kubectl_bin, api, "explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in explained
    # A limited user is authenticated, but no binding grants it pods.
    limited = api.kubeconfig_for(user="alice", groups=("devs",))
    denied = run(kubectl_bin, api, "get", "pods", config=limited, ok=False)
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    )
    no = run(kubectl_bin, api, "auth", "can-i", "create", "pods", config=limited, ok=False)
    assert no.stdout.strip() == "no"


def test_crd_resources_served_and_explained(api: Running, kubectl_bin: Path) -> None:
    # Like a real server: a CR cannot be in the same apply as its new CRD (kubectl maps
    # every document to a resource before it creates the first).
    out = run(kubectl_bin, api, "apply", "-f", "-", stdin=CRD).stdout
    assert out == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"
    out = run(kubectl_bin, api, "apply", "-f", "-", stdin=WIDGET).stdout
    assert out == "widget.example.com/w1 created\n"
    again = run(kubectl_bin, api, "apply", "-f", "-", stdin=CRD).stdout
    assert again == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged\n"
    crd = json.loads(
        run(kubectl_bin, api, "get", "crd", "widgets.example.com", "-o", "json").stdout
    )
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    rows = run(kubectl_bin, api, "get", "wd").stdout.splitlines()
    assert rows[0].split() == ["NAME", "SIZE", "AGE"] and rows[1].split()[:2] == ["w1", "3"]
    assert "widgets" in run(kubectl_bin, api, "api-resources", "--api-group=example.com").stdout
    explained = run(kubectl_bin, api, "explain", "widget.spec.size").stdout
    assert "How big the widget is." in explained
    run(kubectl_bin, api, "delete", "crd", "widgets.example.com")
    # kubectl's discovery cache still names widgets, so the list itself is refused.
    after = run(kubectl_bin, api, "get", "widgets", ok=False)
    assert (
        after.returncode == 1 and "the server could not find the requested resource" in after.stderr
    )


def test_unknown_token_is_unauthorized(api: Running, kubectl_bin: Path) -> None:
    config = yaml.safe_load(api.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "not-a-token"}
    anon = api.workdir / "anonymous"
    anon.write_text(yaml.safe_dump(config))
    denied = run(kubectl_bin, api, "get", "pods", config=anon, ok=False)
    # "(Unauthorized)" from a list, "(the server has asked for ...)" from discovery.
    assert denied.stderr.startswith("error: You must be logged in to the server (")
    issued = api.token_for(Identity("bob", ("system:masters",)))
    config["users"][0]["user"] = {"token": issued}
    anon.write_text(yaml.safe_dump(config))
    whoami = json.loads(run(kubectl_bin, api, "auth", "whoami", "-o", "json", config=anon).stdout)
    assert whoami["status"]["userInfo"]["username"] == "bob"
