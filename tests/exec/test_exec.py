"""`podtap exec` (first slice): the pod's env, DNS and outgoing TCP for a local command."""

from __future__ import annotations

import json
import subprocess

from podtap.testing.localcluster import LocalCluster, processes_of


def exec_(cluster: LocalCluster, *argv: str) -> subprocess.CompletedProcess[str]:
    return cluster.podtap("exec", "-t", "deployment/shop", "--", *argv, check=False, timeout=60)


def test_local_command_reaches_a_service_by_short_name_and_sees_the_pod_env(
    shop: LocalCluster,
) -> None:
    result = exec_(
        shop,
        "sh",
        "-c",
        "curl -sS --max-time 10 http://catalog/items; echo; echo key=$SHOP_API_KEY",
    )
    body, key = result.stdout.strip().splitlines()
    assert json.loads(body)["items"][0]["sku"] == "mug"
    assert key == "key=s3cr3t-key-42"
    assert result.returncode == 0, result.stderr


def test_exit_codes_pass_through_and_nothing_is_left(shop: LocalCluster) -> None:
    assert exec_(shop, "sh", "-c", "exit 7").returncode == 7
    assert exec_(shop, "false").returncode == 1
    missing = exec_(shop, "no-such-command-anywhere")
    assert missing.returncode == 127 and "no-such-command-anywhere" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert processes_of(shop, "podtap.client.jail") == []
    status = json.loads(shop.podtap("operator", "status", "-o", "json").stdout)
    assert not [s for s in status["sessions"] if s["target"] == "deployment/shop"]


def test_outgoing_connections_leave_from_the_pod_ip(shop: LocalCluster) -> None:
    (frontend,) = shop.pods("shop-")
    catalog = shop.pods("catalog-")[0]
    result = exec_(shop, "curl", "-sS", "--max-time", "10", f"http://{catalog['ip']}:9090/items")
    assert json.loads(result.stdout)["served_by"] == catalog["name"]
    seen = shop.podtap("local", "logs", str(catalog["name"])).stdout
    assert f'{frontend["ip"]} "GET /items HTTP/1.1" 200' in seen


def test_bad_target_is_explained(shop: LocalCluster) -> None:
    result = shop.podtap("exec", "-t", "deployment/nope", "--", "true", check=False)
    assert result.returncode == 1 and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_statically_linked_binary_works_through_the_jail(shop: LocalCluster) -> None:
    import shutil

    import pytest

    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is installed by scripts/setup")
    kind = subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout
    result = exec_(shop, busybox, "wget", "-qO-", "http://catalog/items")
    assert json.loads(result.stdout)["items"][0]["sku"] == "mug", result.stderr
    assert "statically linked" in kind or "static-pie linked" in kind, kind


def test_env_rules_from_a_config_file(shop: LocalCluster, tmp_path: object) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "mirrord.json"
    config.write_text(
        json.dumps(
            {
                "target": "deployment/shop",
                "feature": {"env": {"exclude": "SHOP_*", "override": {"GREETING": "hi"}}},
            }
        )
    )
    result = shop.podtap(
        "exec",
        "-f",
        str(config),
        "--",
        "sh",
        "-c",
        "echo key=${SHOP_API_KEY:-none} greeting=$GREETING",
        check=False,
    )
    assert result.stdout.strip() == "key=none greeting=hi", result.stderr


UDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
for word in (b"one", b"two"):
    s.sendto(word, ("web", 81))
    data, peer = s.recvfrom(100)
    print(data.decode(), peer[1])
"""


def test_udp_reaches_a_cluster_service_through_the_jail(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    import sys

    result = exec_(shop, sys.executable, "-c", UDP_CLIENT)
    assert result.stdout.split("\n")[:2] == ["one 81", "two 81"], result.stderr


def test_the_command_cannot_touch_the_jail(shop: LocalCluster) -> None:
    import os

    result = exec_(
        shop,
        "sh",
        "-c",
        "id -u; nft flush ruleset && echo flushed; "
        "curl -sS --max-time 10 http://catalog/items >/dev/null && echo still-jailed",
    )
    lines = result.stdout.split()
    assert lines[0] == str(os.getuid())
    assert "flushed" not in lines and "still-jailed" in lines, result.stderr


def test_the_pods_files_are_read_only_copies_on_their_paths(shop: LocalCluster) -> None:
    from pathlib import Path

    (frontend,) = shop.pods("shop-")
    result = exec_(
        shop,
        "sh",
        "-c",
        "cat /etc/hostname /etc/shop/config/greeting; echo; "
        "ls /opt/shop; touch /etc/shop/config/new 2>/dev/null || echo read-only",
    )
    lines = result.stdout.split("\n")
    assert lines[0] == frontend["name"]
    assert lines[1] == "Welcome to the podtap shop"
    assert {"frontend.py", "catalog.py"} <= set(lines[2:4]) and "read-only" in lines
    assert not Path("/etc/shop").exists(), "the jail's mounts leaked to this machine"


def test_a_killed_session_stops_the_command_and_says_who_killed_it(
    shop: LocalCluster, tmp_path: object
) -> None:
    from pathlib import Path

    from podtap.testing.localcluster import podtap_argv
    from podtap.testing.wait import wait_until

    err = Path(str(tmp_path)) / "err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            podtap_argv("exec", "-t", "deployment/shop", "--", "sleep", "60"),
            env=shop.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def session() -> str | None:
            status = json.loads(shop.podtap("operator", "status", "-o", "json").stdout)
            ids = [s["id"] for s in status["sessions"] if s["target"] == "deployment/shop"]
            return ids[0] if ids else None

        sid = wait_until(session, timeout=20, what="the exec session")
        shop.podtap("operator", "session", "kill", sid)
        assert proc.wait(timeout=15) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "session ended: Killed: Killed by podtap-admin" in err.read_text()
