"""`podtap ls` and `podtap port-forward` against the local cluster's operator."""

from __future__ import annotations

import json
import signal
import subprocess

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until


def test_ls_lists_targets(shop: LocalCluster) -> None:
    items = json.loads(shop.podtap("ls", "-o", "json").stdout)
    targets = {t["target"] for t in items}
    assert {"deployment/shop", "deployment/catalog", "service/shop"} <= targets
    assert any(t.startswith("pod/shop-") for t in targets)
    assert "deployment/shop" in shop.podtap("ls").stdout


def test_port_forward_reaches_cluster_names_through_the_target(shop: LocalCluster) -> None:
    proc = subprocess.Popen(
        podtap_argv("port-forward", "-t", "deployment/shop", "-L", "0:catalog:80"),
        env=shop.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), line + proc.stderr.read()  # type: ignore[union-attr]
        port = int(line.split(":")[1].split()[0])
        session = line.rsplit("session ", 1)[1].strip(" )\n")
        for _ in range(3):  # several connections through one session
            out = subprocess.run(
                ["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/items"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert json.loads(out)["items"][0]["sku"] == "mug"
        assert session in shop.podtap("operator", "status").stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    wait_until(
        lambda: session not in shop.podtap("operator", "status").stdout,
        timeout=10,
        what="the session to end with the command",
    )


def test_port_forward_explains_bad_arguments(shop: LocalCluster) -> None:
    bad = shop.podtap("port-forward", "-t", "deployment/shop", "-L", "nonsense", check=False)
    assert bad.returncode == 1 and "[LOCAL_PORT:]HOST:REMOTE_PORT" in bad.stderr
    missing = shop.podtap("port-forward", "-t", "deployment/nope", "-L", "1:a:1", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
