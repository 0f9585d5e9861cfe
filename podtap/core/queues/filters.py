"""A session's queue filter, as mirrord defines it, decided without I/O.

``message_filter`` maps an attribute (SQS) or header (RabbitMQ, Kafka) name to a regex; a
message matches when it carries every named attribute and each value matches its regex (a
search, on RE2 through :mod:`podtap.core.safe_regex`: the forwarder runs every filter on
every message, so none may backtrack). ``jq_filter`` (SQS and Kafka) is a jq program run
on the message's JSON representation (:mod:`podtap.core.queues.messages`: the SQS
``Message`` object, or the Kafka record's topic, key, payload, headers, ...); it matches
when its first output is ``true`` (a program that fails on a message does not match it).
With both, both must match. A filter with neither matches nothing: a session that asked
for a split but said nothing it wants must not take the workload's messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podtap.core.config.queues import QueueMode
from podtap.core.jqprog import JqError, JqProgram, compile_jq
from podtap.core.queues.models import QueueKind
from podtap.core.safe_regex import FilterRegex, FilterRegexError, compile_filter_regex

__all__ = ["FilterError", "Message", "QueueFilter", "compile_queue_filter"]


class FilterError(ValueError):
    """A session filter that cannot be used; one line naming the key."""


@dataclass(frozen=True, slots=True)
class Message:
    """What a filter sees of one message: its attributes or headers as text, its body,
    and ``document``, the JSON value a jq filter runs on (``None``: jq matches nothing)."""

    attributes: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    document: Any = None


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """One session's compiled filter for one queue id."""

    queue_id: str
    mode: QueueMode
    regexes: tuple[tuple[str, FilterRegex], ...]
    jq: JqProgram | None

    def matches(self, message: Message) -> bool:
        if not self.regexes and self.jq is None:
            return False
        for name, regex in self.regexes:
            value = message.attributes.get(name)
            if value is None or not regex.search(value):
                return False
        return self.jq is None or _jq_true(self.jq, message)


def _jq_true(program: JqProgram, message: Message) -> bool:
    if message.document is None:
        return False
    try:
        outputs = program.outputs(message.document)
    except JqError:
        return False
    return bool(outputs) and outputs[0] is True


def compile_queue_filter(
    *,
    queue_id: str,
    kind: QueueKind,
    message_filter: Mapping[str, str] | None = None,
    jq_filter: str | None = None,
    mode: QueueMode = QueueMode.STEAL,
) -> QueueFilter:
    """Compile once, at session start; a bad regex or jq program is a :class:`FilterError`."""
    where = f"feature.split_queues.{queue_id}"
    regexes = []
    for name, pattern in (message_filter or {}).items():
        try:
            regexes.append((name, compile_filter_regex(pattern)))
        except FilterRegexError as exc:
            raise FilterError(f"{where}.message_filter.{name}: {exc}") from None
    program = None
    if jq_filter is not None:
        if kind is QueueKind.RMQ:
            raise FilterError(f"{where}.jq_filter: RabbitMQ queues take message_filter only")
        try:
            program = compile_jq(jq_filter)
        except JqError as exc:
            raise FilterError(f"{where}.jq_filter: {exc}") from None
    return QueueFilter(queue_id=queue_id, mode=mode, regexes=tuple(regexes), jq=program)
