"""Temporary and fallback queue names from tmpNameTemplate, checked against each broker's
naming rules before anything is created."""

from __future__ import annotations

import pytest

from podtap.core.queues import FALLBACK_ID, QueueKind, QueueNameError, render_queue_name
from podtap.core.queues.models import DEFAULT_TMP_NAME_TEMPLATE

SQS, RMQ, KAFKA = QueueKind.SQS, QueueKind.RMQ, QueueKind.KAFKA


def test_the_default_template_names_each_session_and_the_fallback() -> None:
    alice = render_queue_name(DEFAULT_TMP_NAME_TEMPLATE, kind=SQS, original="orders", session="a1")
    fallback = render_queue_name(
        DEFAULT_TMP_NAME_TEMPLATE, kind=SQS, original="orders", session=FALLBACK_ID
    )
    assert alice == "podtap-tmp-a1-orders"
    assert fallback == "podtap-tmp-fallback-orders"


def test_placeholders_and_random() -> None:
    name = render_queue_name(
        "{{ ORIGINAL }}.{{ID}}.{{RANDOM}}", kind=KAFKA, original="events", session="b2", random="x9"
    )
    assert name == "events.b2.x9"


def test_a_fifo_queue_keeps_its_suffix() -> None:
    name = render_queue_name("{{ORIGINAL}}-{{ID}}", kind=SQS, original="orders.fifo", session="a1")
    assert name == "orders-a1.fifo"


@pytest.mark.parametrize(
    ("template", "kind", "original", "message"),
    [
        ("{{ORIGINAL}}-tmp", SQS, "orders", r"must contain \{\{ID\}\}"),
        ("{{ORIGINAL}}-{{ID}}-{{USER}}", SQS, "orders", r"unknown placeholder \{\{USER\}\}"),
        ("{{ORIGINAL}}.{{ID}}", SQS, "orders", r"gives 'orders\.a1': SQS queue names"),
        ("{{ORIGINAL}}-{{ID}}" + "x" * 80, SQS, "orders", "SQS queue names are 1-80"),
        ("{{ORIGINAL}} {{ID}}", KAFKA, "events", "Kafka topic names"),
        ("amq.{{ID}}", RMQ, "work", "do not start with amq."),
    ],
)
def test_a_name_the_broker_would_refuse_is_one_line(
    template: str, kind: QueueKind, original: str, message: str
) -> None:
    with pytest.raises(QueueNameError, match=message) as caught:
        render_queue_name(template, kind=kind, original=original, session="a1")
    assert str(caught.value).startswith("spec.tmpNameTemplate: ")
