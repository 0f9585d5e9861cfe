"""Starting, changing and stopping clusters; bad input never touches a running cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until

SERVER = (
    "import http.server as h, sys; word = sys.argv[1].encode(); "
    "h.HTTPServer(('', 8000), type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: "
    "(s.send_response(200), s.end_headers(), s.wfile.write(word))})).serve_forever()"
)
ECHO_TEMPLATE = """
apiVersion: v1
kind: Pod
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  containers:
    - name: echo
      command: ["python3", "-c", "{server}", "{word}"]
      ports: [{{containerPort: 8000}}]
      readinessProbe: {{tcpSocket: {{port: 8000}}, periodSeconds: 0.2}}
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: 8000}}]
"""


class _Echo:
    @staticmethod
    def format(*, word: str) -> str:
        return ECHO_TEMPLATE.format(server=SERVER, word=word)


ECHO = _Echo()

STATEFUL = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, command: ["sleep", "infinity"]}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: podtap.dev/v1
kind: PodtapPolicy
metadata: {name: no-steal}
spec: {block: [steal]}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_two_clusters_side_by_side(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    a, b = make_cluster("t-a"), make_cluster("t-b")
    a.up(write(tmp_path, "a.yaml", ECHO.format(word="from-a")))
    b.up(write(tmp_path, "b.yaml", ECHO.format(word="from-b")))
    assert a.curl("http://echo/") == "from-a"
    assert b.curl("http://echo.default.svc.cluster.local/") == "from-b"
    a.down()
    assert b.curl("http://echo/") == "from-b"
    gone = a.podtap("local", "get", "pods", check=False)
    assert gone.returncode != 0 and "not running" in gone.stderr


def test_up_on_running_cluster_applies_and_says_so(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-reup")
    c.up(write(tmp_path, "e.yaml", ECHO.format(word="one")))
    again = c.podtap("local", "up", "-f", str(write(tmp_path, "e2.yaml", ECHO.format(word="two"))))
    assert "already running" in again.stdout
    wait_until(
        lambda: c.run(["curl", "-s", "http://echo/"]).stdout == "two",
        timeout=20,
        what="the updated pod",
    )


def test_statefulset_names_headless_dns_and_custom_resources(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-sts")
    c.up(write(tmp_path, "s.yaml", STATEFUL))
    assert sorted(p["name"] for p in c.pods("db-")) == ["db-0", "db-1"]
    ips = {p["name"]: p["ip"] for p in c.pods("db-")}
    out = c.run(["getent", "hosts", "db-1.db.default.svc.cluster.local"]).stdout
    assert out.split()[0] == ips["db-1"]
    headless = c.run(["getent", "ahostsv4", "db"]).stdout
    assert set(ips.values()) <= {line.split()[0] for line in headless.splitlines()}
    (policy,) = c.get("PodtapPolicy")
    assert policy["spec"] == {"block": ["steal"]}
    assert "no-steal" in c.podtap("local", "get", "all").stdout


BAD_INPUTS = {
    "invalid YAML": ("kind: Pod\nmetadata: {name: x\n", "invalid YAML at line"),
    "wrong field type": (
        ECHO.format(word="x").replace("containerPort: 8000", "containerPort: eight"),
        "Pod/echo: field spec.containers[0].ports[0].containerPort",
    ),
    "missing command": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: nocmd}\nspec:\n"
        "  containers: [{name: app, image: nginx}]\n",
        "command is required",
    ),
    "port clash": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: clash}\nspec:\n  containers:\n"
        "    - {name: a, command: [sleep, '9'], ports: [{containerPort: 80}]}\n"
        "    - {name: b, command: [sleep, '9'], ports: [{containerPort: 80}]}\n",
        "port 80/TCP clashes with container 'a'",
    ),
    "missing kind": ("apiVersion: v1\nmetadata: {name: x}\n", "field kind: required"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_cluster_untouched(
    shop: LocalCluster, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_INPUTS[case]
    before = shop.get("all")
    good = write(tmp_path, "good.yaml", ECHO.format(word="never"))
    bad = write(tmp_path, "bad.yaml", text)
    for command in ("apply", "up"):
        result = shop.podtap("local", command, "-f", str(good), "-f", str(bad), check=False)
        assert result.returncode != 0
        assert str(bad) in result.stderr and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    after = shop.get("all")
    assert [o.get("metadata", o.get("name")) for o in after if o["kind"] != "Pod"] == [
        o.get("metadata", o.get("name")) for o in before if o["kind"] != "Pod"
    ]


def test_port_forward_to_a_busy_local_port_is_refused(shop: LocalCluster) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = shop.podtap(
            "local", "port-forward", "svc/shop", f"{port}:80", check=False, timeout=20
        )
    assert result.returncode != 0 and "choose another local port" in result.stderr


def test_commands_on_a_stopped_cluster_explain_how_to_start(tmp_path: Path) -> None:
    c = LocalCluster("t-never", state_home=tmp_path)
    result = c.podtap("local", "get", "pods", check=False)
    assert result.returncode == 1
    assert "podtap local up --name t-never" in result.stderr


def test_down_twice_is_harmless(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-down")
    c.up(write(tmp_path, "e.yaml", ECHO.format(word="x")))
    assert "stopped" in c.podtap("local", "down").stdout
    assert "was not running" in c.podtap("local", "down").stdout
