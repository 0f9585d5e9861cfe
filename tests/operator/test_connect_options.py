"""What a connect says of its session, in process: the session key (stored, shown, filtered,
kept over a restart) and the ports it will steal (a held one refuses the connect before
the command starts, with on_concurrent_steal=abort)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from podtap.client.host.operator_api import connect_params, planned_steals
from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.exec_spec import IncomingPlan
from podtap.core.ids import Port
from podtap.core.protocol import HttpFilter, IncomingMode
from podtap.core.sessions import unix_principal
from podtap.operator.api import connect_options
from podtap.operator.identity import Caller
from podtap.operator.service import ConnectOptions, StartRefused
from tests.operator.inproc import UnixHTTPConnection, audit_events, granted, operator, started

ROOT = Caller(principal=unix_principal(0), name="root", admin=True)
CONNECT = "/apis/operator.podtap.dev/v1/proxy/namespaces/default/targets/deployment.web"
ALICE = HttpFilter(header="^x-user: alice$")


def request(sock: Path, method: str, path: str) -> tuple[int, Any]:
    conn = UnixHTTPConnection(sock, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


async def call(sock: Path, method: str, path: str, **query: str) -> tuple[int, Any]:
    return await asyncio.to_thread(
        request, sock, method, path + ("?" + urlencode(query) if query else "")
    )


def test_the_key_is_stored_shown_filtered_and_kept_over_a_restart(tmp_path: Path) -> None:
    async def go() -> str:
        async with operator(tmp_path) as (service, sock):
            mine = await started(service, ConnectOptions(key="ticket-42"))
            await started(service, ConnectOptions(key="ticket-7"))
            await started(service, ConnectOptions())
            _, status = await call(sock, "GET", "/apis/operator.podtap.dev/v1/operators/operator")
            assert sorted(str(s["key"]) for s in status["sessions"]) == [
                "None",
                "ticket-42",
                "ticket-7",
            ]
            _, only = await call(
                sock, "GET", "/apis/operator.podtap.dev/v1/operators/operator", key="ticket-42"
            )
            assert [s["id"] for s in only["sessions"]] == [mine.label]
            _, listed = await call(
                sock, "GET", "/apis/operator.podtap.dev/v1/sessions", key="ticket-42"
            )
            assert [s["id"] for s in listed["items"]] == [mine.label]
            _, killed = await call(
                sock, "DELETE", "/apis/operator.podtap.dev/v1/sessions", key="ticket-7"
            )
            assert len(killed["killed"]) == 1 and len(service.records) == 2
            assert any(e.get("key") == "ticket-42" for e in audit_events(service))
            return mine.label

    label = asyncio.run(go())

    async def restarted() -> None:
        async with operator(tmp_path) as (service, _):
            assert {r.label: r.key for r in service.records.values()}[label] == "ticket-42"

    asyncio.run(restarted())


@pytest.mark.parametrize(
    "query",
    [
        {"key": "x" * 257},
        {"key": "bad\nkey"},
        {"steals": "not json"},
        {"steals": json.dumps([{"port": 0}])},
        {"steals": json.dumps([{"filter": None}])},
        {"steals": json.dumps([{"port": 80, "filter": {"header": "(?=x)"}}])},
        {"on_concurrent_steal": "sometimes"},
    ],
)
def test_a_malformed_connect_is_refused_naming_what(tmp_path: Path, query: dict[str, str]) -> None:
    async def go() -> None:
        async with operator(tmp_path) as (_, sock):
            status, body = await call(sock, "GET", CONNECT, **query)
            assert status == 400, body
            assert "error" in body

    asyncio.run(go())


def test_a_held_port_refuses_the_connect_with_abort_only(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator(tmp_path) as (service, sock):
            holder = await started(service, ConnectOptions())
            await granted(service, holder, 8000, IncomingMode.STEAL)
            whole = connect_params(
                on_concurrent_steal="abort", key=None, steals=[(Port(8000), None)]
            )
            status, body = await call(sock, "GET", CONNECT, **whole)
            assert status == 409, body
            assert body["error"].startswith("aborted (on_concurrent_steal=abort): port 8000 ")
            assert holder.label in body["error"] and "alice/root@laptop" in body["error"]
            other = connect_params(on_concurrent_steal="abort", key=None, steals=[(Port(81), None)])
            for fine in (
                other,
                {**whole, "on_concurrent_steal": "continue"},
                {**whole, "on_concurrent_steal": "override"},
            ):
                status, body = await call(sock, "GET", CONNECT, **fine)
                assert status == 400 and "WebSocket" in body["error"], body  # checks passed
            with pytest.raises(StartRefused):
                await started(
                    service, ConnectOptions(steals=((Port(8000), ALICE),), key="ticket-1")
                )
            refusals = [e for e in audit_events(service) if e["event"] == "refusal"]
            assert len(refusals) == 1 and holder.label in refusals[0]["reason"]

    asyncio.run(go())


def test_the_ports_a_plan_will_steal_are_known_only_when_configured() -> None:
    steal = IncomingMode.STEAL
    assert planned_steals(IncomingPlan(mode=steal)) == ()
    assert planned_steals(IncomingPlan(mode=IncomingMode.MIRROR, ports=frozenset({Port(80)}))) == ()
    plan = IncomingPlan(
        mode=steal,
        http_filter=ALICE,
        filter_ports=frozenset({Port(80)}),
        ports=frozenset({Port(80), Port(81), Port(82)}),
        ignore_ports=frozenset({Port(82)}),
    )
    assert planned_steals(plan) == ((80, ALICE), (81, None))
    mapped = IncomingPlan(mode=steal, port_mapping=((Port(9333), Port(80)),))
    assert planned_steals(mapped) == ((80, None),)
    params = connect_params(on_concurrent_steal="continue", key="k", steals=planned_steals(plan))
    options = connect_options(params)
    assert options == ConnectOptions(
        on_concurrent_steal=OnConcurrentSteal.CONTINUE,
        steals=((Port(80), ALICE), (Port(81), None)),
        key="k",
    )
