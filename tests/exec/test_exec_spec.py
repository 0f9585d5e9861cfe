"""`podtap exec` carries out the whole config: every http_filter form steals exactly its
requests (a teammate's go on to the pod), `http_filter.ports` has mirrord's meaning, a filter
that cannot be applied stops the run before anything is subscribed, and the flags work."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster
from tests.exec.test_exec_filters import host_address, host_servers, this_machines_name
from tests.exec.test_exec_incoming import exec_config


@contextlib.contextmanager
def stealing(
    shop: LocalCluster, tmp_path: Path, http_filter: dict[str, Any], *, wait_for: str
) -> Iterator[Path]:
    """`podtap exec` of the local app ('mine') stealing with `http_filter` from a config."""
    incoming = {"mode": "steal", "http_filter": http_filter}
    doc = {"target": "deployment/shop", "feature": {"network": {"incoming": incoming}}}
    with exec_config(shop, tmp_path, doc, wait_for=wait_for) as errors:
        yield errors


def answer(shop: LocalCluster, path: str, *, user: str | None = None) -> str:
    """Who answered a GET of the shop service: 'mine' (the local app) or 'pod'."""
    argv = ["curl", "-sS", "--max-time", "10", f"http://shop{path}"]
    if user is not None:
        argv += ["-H", f"x-user: {user}"]
    out = shop.run(argv).stdout
    if out.startswith("mine got "):
        return "mine"
    assert '"shop-' in out, out  # the pod names itself
    return "pod"


def test_an_all_of_config_steals_only_its_requests_and_a_teammates_reach_the_pod(
    shop: LocalCluster, tmp_path: Path
) -> None:
    all_of = [{"header": "^x-user: me$"}, {"path": "^/mine"}, {"method": "GET"}]
    with stealing(
        shop, tmp_path, {"all_of": all_of, "ports": [8080]}, wait_for="port 8080: steal all_of("
    ):
        assert answer(shop, "/mine/1", user="me") == "mine"
        assert answer(shop, "/whoami", user="me") == "pod"  # path differs
        assert answer(shop, "/mine/1", user="ann") == "pod"  # a teammate's request
        assert answer(shop, "/mine/1") == "pod"
        status = shop.podtap("operator", "status").stdout
        assert "all_of" in status, status  # the operator holds the filter, not a whole port


def test_an_any_of_config_steals_what_any_item_matches(shop: LocalCluster, tmp_path: Path) -> None:
    any_of = [{"header": "^x-user: me$"}, {"path": "^/mine"}]
    with stealing(shop, tmp_path, {"any_of": any_of}, wait_for="port 8080: steal any_of("):
        assert answer(shop, "/whoami", user="me") == "mine"
        assert answer(shop, "/mine") == "mine"
        assert answer(shop, "/whoami", user="ann") == "pod"


def test_a_port_outside_http_filter_ports_follows_the_mode(
    shop: LocalCluster, tmp_path: Path
) -> None:
    """mirrord's meaning: the filter applies on the listed ports; 8080 is not one, so the
    whole port is stolen (and podtap exec says so)."""
    flt = {"header_filter": "^x-user: me$", "ports": [9090]}
    wanted = "port 8080: steal (whole port: not in http_filter.ports)"
    with stealing(shop, tmp_path, flt, wait_for=wanted):
        assert answer(shop, "/whoami", user="ann") == "mine"


def test_a_filter_that_cannot_be_applied_stops_the_run_before_it_starts(
    shop: LocalCluster, tmp_path: Path
) -> None:
    config = tmp_path / "mirrord.json"
    for http_filter, key in (
        ({"header_filter": ""}, "http_filter.header_filter"),
        ({"all_of": [{"path": ""}]}, "http_filter.all_of[0].path"),
        ({"body_filter": {"body": "json", "query": "$.a", "matches": "b"}}, "body_filter"),
    ):
        incoming = {"mode": "steal", "http_filter": http_filter}
        config.write_text(json.dumps({"feature": {"network": {"incoming": incoming}}}))
        result = shop.podtap(
            "exec", "-t", "deployment/shop", "-f", str(config), "--", "true", check=False
        )
        assert result.returncode == 1 and key in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = shop.podtap("exec", "-t", "deployment/shop", "--filter", "", "--", "true", check=False)
    assert result.returncode == 1, result.stderr
    assert "flag --filter" in result.stderr and "header_filter" in result.stderr


def test_no_outgoing_and_no_remote_dns_flags(shop: LocalCluster) -> None:
    address = host_address()
    name, addresses = this_machines_name()
    script = (
        f"curl -sS --max-time 10 http://{address}:TCP/; echo; "
        f"getent hosts {name}; getent hosts catalog || echo no-catalog"
    )
    with host_servers(address) as (tcp, _):
        result = shop.podtap(
            "exec",
            "-t",
            "deployment/shop",
            "--no-outgoing",
            "--no-remote-dns",
            "--",
            "sh",
            "-c",
            script.replace("TCP", str(tcp)),
            check=False,
            timeout=90,
        )
    hello, local_name, catalog = result.stdout.strip().splitlines()
    assert hello == "hello from this machine", result.stderr
    assert local_name.split()[0] in addresses and catalog == "no-catalog"


def test_key_and_concurrent_steal_are_acted_on_and_an_unknown_profile_is_one_line(
    shop: LocalCluster,
) -> None:
    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return shop.podtap(
            *("exec", "-t", "deployment/shop", *flags, "--", "true"), check=False, timeout=60
        )

    result = run("--key", "ticket-42", "--on-concurrent-steal", "continue")
    assert result.returncode == 0, result.stderr
    assert "not supported yet" not in result.stderr, result.stderr
    refused = run("--profile", "dev")
    assert refused.returncode == 1, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: profile dev is not found: list them with kubectl get podtapprofiles -A and "
        "kubectl get podtapclusterprofiles"
    ], refused.stderr
    assert "Traceback" not in refused.stderr
