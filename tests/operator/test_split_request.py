"""A session's split request at connect: what ``podtap exec`` with ``feature.split_queues``
puts in the query (queue ids, types, filters, modes; again on a resume) is what the
operator reads back, and a malformed one is a 400 of one line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from podtap.client.host.operator_api import connect_params
from podtap.core.config.queues import QueueMode, QueueSplitConfig, QueueType
from podtap.core.queues.wire import encode_split_request, parse_split_request, splittable
from podtap.operator.api import connect_options
from tests.operator.inproc import UnixHTTPConnection, operator

CONNECT = "/apis/operator.podtap.dev/v1/proxy/namespaces/default/targets/deployment.web"
ORDERS = QueueSplitConfig(queue_id="orders", message_filter={"who": "^alice$"})
EVENTS = QueueSplitConfig(
    queue_id="events", queue_type=QueueType.KAFKA, queue_mode=QueueMode.MIRROR
)


def test_the_split_request_travels_in_the_connect_query() -> None:
    params = connect_params(
        on_concurrent_steal="abort", key=None, steals=(), splits=(ORDERS, EVENTS)
    )
    assert " " not in params["split_queues"]  # compact, like steals
    assert connect_options(params).splits == (ORDERS, EVENTS)


def test_only_the_types_the_operator_splits_are_sent() -> None:
    pubsub = QueueSplitConfig(queue_id="jobs", queue_type=QueueType.GCP_PUBSUB)
    rabbit = QueueSplitConfig(queue_id="pay", queue_type=QueueType.RMQ)
    assert splittable((ORDERS, pubsub, EVENTS, rabbit)) == (ORDERS, EVENTS, rabbit)


def test_no_split_request_no_parameter() -> None:
    params = connect_params(on_concurrent_steal="abort", key=None, steals=())
    assert "split_queues" not in params
    assert connect_options(params).splits == ()
    assert encode_split_request(()) == ""


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[", "split_queues: not JSON"),
        ('{"queue_id": "orders"}', "split_queues: must be a list"),
        ('[{"message_filter": {}}]', "split_queues[0].queue_id: Field required"),
        ('[{"queue_id": "q", "message_filter": {"a": "("}}]', "invalid regular expression"),
        ('[{"queue_id": "q", "queue_mode": "copy"}]', "split_queues[0].queue_mode"),
    ],
)
def test_a_malformed_request_is_one_line(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="split_queues") as caught:
        parse_split_request(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def _get(sock: Path, path: str) -> tuple[int, Any]:
    conn = UnixHTTPConnection(sock, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_the_operator_answers_a_malformed_request_400(tmp_path: Path) -> None:
    async def go() -> tuple[int, Any]:
        async with operator(tmp_path) as (_, sock):
            bad = quote('[{"queue_id": 7}]')
            return await asyncio.to_thread(_get, sock, f"{CONNECT}?split_queues={bad}")

    status, body = asyncio.run(go())
    assert status == 400
    assert body["error"] == "split_queues[0].queue_id: Input should be a valid string"
