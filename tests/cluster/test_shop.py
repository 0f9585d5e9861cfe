"""The example shop on a real embedded cluster: DNS, services, config, restarts."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until


def test_pod_reaches_service_by_short_and_full_dns_name(shop: LocalCluster) -> None:
    short = shop.curl_json("http://catalog/items")
    full = shop.curl_json("http://catalog.default.svc.cluster.local/items")
    assert (
        short["items"] == full["items"] == [{"sku": "mug", "price": 9}, {"sku": "tee", "price": 19}]
    )


def test_service_spreads_over_both_replicas(shop: LocalCluster) -> None:
    replicas = {p["name"] for p in shop.pods("catalog-")}
    assert len(replicas) == 2
    seen: set[str] = set()
    script = "for i in $(seq 40); do curl -s --max-time 5 http://catalog/items; echo; done"
    out = shop.run(["sh", "-c", script]).stdout
    seen = {line.split('"served_by": "')[1].split('"')[0] for line in out.splitlines() if line}
    assert seen == replicas


def test_frontend_calls_catalog_and_sees_configmap_file_and_secret_env(shop: LocalCluster) -> None:
    body = shop.curl_json("http://shop/")
    assert body["greeting"] == "Welcome to the podtap shop"
    assert body["api_key_set"] is True and body["api_key_tail"] == "42"
    assert body["catalog"]["served_by"].startswith("catalog-")


def test_container_process_sees_its_env_and_mounted_file(shop: LocalCluster) -> None:
    (pod,) = shop.pods("shop-")
    pid = pod["containers"][0]["pid"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"SHOP_API_KEY=s3cr3t-key-42" in environ
    greeting = Path(f"/proc/{pid}/root/etc/shop/config/greeting").read_text()
    assert greeting == "Welcome to the podtap shop"
    assert not Path("/etc/shop").exists(), "the pod's mount leaked to the host"


def test_pod_dns_files(shop: LocalCluster) -> None:
    out = shop.run(["sh", "-c", "cat /etc/resolv.conf; echo ---; hostname"]).stdout
    resolv, hostname = out.split("---\n")
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert hostname.strip().startswith("run-")


def test_killed_container_is_restarted(shop: LocalCluster) -> None:
    (pod,) = shop.pods("catalog-")[:1]
    pid = pod["containers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)

    def restarted() -> dict[str, object] | None:
        (now,) = [p for p in shop.pods("catalog-") if p["name"] == pod["name"]]
        c = now["containers"][0]
        return now if c["restarts"] >= 1 and now["ready"] and c["pid"] != pid else None

    wait_until(restarted, timeout=20, what="the killed container to run again")
    assert shop.curl_json("http://catalog/items")["items"]


def test_run_passes_exit_codes(shop: LocalCluster) -> None:
    assert shop.run(["sh", "-c", "exit 3"]).returncode == 3
    assert shop.run(["true"]).returncode == 0
    assert shop.run(["false"]).returncode == 1
    missing = shop.run(["no-such-command-here"])
    assert missing.returncode == 127 and "no-such-command-here" in missing.stderr


def test_run_streams_stdin_and_output(shop: LocalCluster) -> None:
    result = shop.podtap(
        "local", "run", "--", "sh", "-c", "tr a-z A-Z; echo err >&2", input="hello pod\n"
    )
    assert result.stdout == "HELLO POD\n" and "err" in result.stderr


def test_port_forward_arrives_through_the_pod_veth(shop: LocalCluster) -> None:
    (pod,) = shop.pods("shop-")
    proc = subprocess.Popen(
        podtap_argv("local", "port-forward", "svc/shop", "0:80"),
        env=shop.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), line
        port = int(line.split(":")[1].split()[0])
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/whoami"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    import json

    seen = json.loads(out)
    assert seen["pod"] == pod["name"]
    assert seen["local"] == pod["ip"], "the app must see the connection arrive on eth0"
    assert seen["peer"] == "10.244.0.1", "the peer is the node, outside the pod's netns"


def test_get_lists_everything(shop: LocalCluster) -> None:
    text = shop.podtap("local", "get", "all").stdout
    for word in ("catalog", "shop", "shop-config", "shop-secret", "ClusterIP", "2/2"):
        assert word in text
    services = {s["metadata"]["name"]: s for s in shop.get("svc")}
    assert services["shop"]["spec"]["clusterIP"].startswith("10.96.")


def test_logs_show_requests(shop: LocalCluster) -> None:
    shop.curl("http://shop/healthz")
    out = shop.podtap("local", "logs", "deployment/shop").stdout
    assert "frontend listening on :8080" in out and "GET /healthz" in out
