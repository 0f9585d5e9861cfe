"""The order a pod sandbox binds its volumes in: none may hide a later one's source."""

from __future__ import annotations

from podtap.backends.local.pause import bind_order

STATE = "/tmp/state/pods/default_p/volumes"


def m(source: str, target: str) -> dict[str, object]:
    return {"source": source, "target": target, "read_only": False}


def test_a_bind_on_tmp_waits_for_the_volumes_whose_sources_are_under_tmp() -> None:
    tmp, tls = m(f"{STATE}/tmp", "/tmp"), m(f"{STATE}/tls", "/etc/tls")
    token = m(f"{STATE}/token", "/var/run/secrets/kubernetes.io/serviceaccount")
    assert bind_order([tmp, tls, token]) == [tls, token, tmp]


def test_otherwise_the_order_is_kept() -> None:
    a, b, c = m("/srv/a", "/data"), m("/srv/b", "/data/sub"), m("/srv/c", "/etc/x")
    assert bind_order([a, b, c]) == [a, b, c]
    assert bind_order([c, b, a]) == [c, b, a]


def test_a_source_below_its_own_target_is_bound_as_given() -> None:
    odd = m("/tmp/x", "/tmp")
    assert bind_order([odd]) == [odd]
