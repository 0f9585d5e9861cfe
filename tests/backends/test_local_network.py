"""The services nftables table and address pools of the embedded local cluster (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from podtap.backends.local.network import (
    GATEWAY,
    POD_NETWORK,
    SERVICE_NETWORK,
    AddressPool,
    ServiceRule,
    render_services,
)

FIXED_CHAINS_BEFORE = """\
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump services
  }
  chain output {
    type nat hook output priority -100; policy accept;
    jump services
  }
"""
FIXED_CHAINS_AFTER = """\
  chain forward {
    type filter hook forward priority filter; policy accept;
    jump no_endpoints
  }
  chain local_out {
    type filter hook output priority filter; policy accept;
    jump no_endpoints
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat ip saddr 10.244.0.0/16 masquerade
  }
"""


def _table(services: str, no_endpoints: str) -> str:
    return (
        FIXED_CHAINS_BEFORE
        + f"  chain services {{\n{services}\n  }}\n"
        + f"  chain no_endpoints {{\n{no_endpoints}\n  }}\n"
        + FIXED_CHAINS_AFTER
    )


def test_render_services_dnat_maps_and_rejects() -> None:
    rules = [
        ServiceRule("10.96.0.20", 80, "TCP", (("10.244.0.2", 8080), ("10.244.0.3", 8081))),
        ServiceRule("10.96.0.11", 53, "UDP", ()),
        ServiceRule("10.96.0.11", 80, "TCP", ()),
        ServiceRule("10.96.0.11", 53, "TCP", (("10.244.0.7", 5353),)),
    ]
    services = (
        "    ip daddr 10.96.0.11 tcp dport 53 dnat ip to numgen random mod 1 map "
        "{ 0 : 10.244.0.7 . 5353 }\n"
        "    ip daddr 10.96.0.20 tcp dport 80 dnat ip to numgen random mod 2 map "
        "{ 0 : 10.244.0.2 . 8080, 1 : 10.244.0.3 . 8081 }"
    )
    no_endpoints = (
        "    ip daddr 10.96.0.11 udp dport 53 reject\n"
        "    ip daddr 10.96.0.11 tcp dport 80 reject with tcp reset"
    )
    assert render_services(rules) == _table(services, no_endpoints)
    assert render_services(reversed(rules)) == render_services(rules)


def test_render_services_udp_endpoints_and_many_of_them() -> None:
    targets = tuple((f"10.244.0.{i}", 53) for i in range(2, 6))
    text = render_services([ServiceRule("10.96.0.10", 53, "UDP", targets)])
    assert (
        "    ip daddr 10.96.0.10 udp dport 53 dnat ip to numgen random mod 4 map "
        "{ 0 : 10.244.0.2 . 53, 1 : 10.244.0.3 . 53, 2 : 10.244.0.4 . 53, 3 : 10.244.0.5 . 53 }\n"
    ) in text
    assert "reject" not in text


def test_render_no_services() -> None:
    assert render_services([]) == _table("", "")


def _pool(network: str = "10.0.0.0/29", first_host: int = 2) -> AddressPool:
    return AddressPool(ipaddress.IPv4Network(network), first_host=first_host)


def test_pool_hands_out_hosts_in_order_until_exhausted() -> None:
    pool = _pool()
    assert [str(pool.take()) for _ in range(5)] == [f"10.0.0.{i}" for i in range(2, 7)]
    with pytest.raises(RuntimeError, match=r"^no free address left in 10\.0\.0\.0/29$"):
        pool.take()


def test_pool_reuses_released_addresses_after_going_round() -> None:
    pool = _pool()
    taken = [pool.take() for _ in range(5)]
    pool.release(taken[3])
    pool.release(taken[1])
    assert [str(pool.take()), str(pool.take())] == ["10.0.0.3", "10.0.0.5"]
    with pytest.raises(RuntimeError):
        pool.take()
    pool.release(ipaddress.IPv4Address("10.0.0.200"))  # unknown: ignored


def test_released_address_is_not_reused_before_the_others() -> None:
    pool = _pool("10.0.0.0/24")
    first = pool.take()
    pool.release(first)
    assert str(pool.take()) == "10.0.0.3"


def test_pool_explicit_addresses() -> None:
    pool = _pool()
    assert str(pool.take("10.0.0.3")) == "10.0.0.3"
    with pytest.raises(ValueError, match=r"^10\.0\.0\.3 is already in use$"):
        pool.take("10.0.0.3")
    with pytest.raises(
        ValueError, match=r"^10\.0\.1\.1 is not a usable address of 10\.0\.0\.0/29$"
    ):
        pool.take("10.0.1.1")
    with pytest.raises(ValueError):
        pool.take("not-an-ip")
    assert [str(pool.take()) for _ in range(4)] == ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(RuntimeError):
        pool.take()
    pool.release(ipaddress.IPv4Address("10.0.0.3"))
    assert str(pool.take("10.0.0.3")) == "10.0.0.3"


def test_pools_of_the_node_skip_the_gateway() -> None:
    pool = AddressPool(POD_NETWORK, first_host=1)
    assert str(GATEWAY) == "10.244.0.1"
    assert [str(pool.take()) for _ in range(2)] == ["10.244.0.2", "10.244.0.3"]
    services = AddressPool(SERVICE_NETWORK, first_host=10)
    assert [str(services.take()) for _ in range(2)] == ["10.96.0.10", "10.96.0.11"]


@pytest.mark.parametrize("wanted", ["10.0.0.0", "10.0.0.7"])
def test_explicit_network_or_broadcast_address_is_refused(wanted: str) -> None:
    with pytest.raises(ValueError):
        _pool().take(wanted)
