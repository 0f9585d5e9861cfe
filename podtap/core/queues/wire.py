"""A session's split request as it travels in the connect query (``?split_queues=``).

``podtap exec`` with ``feature.split_queues`` sends the entries (queue id, type, filters,
mode; ``jq_filter`` only when set, so a request without one is what it always was) of the
types the operator splits (:func:`splittable`) as compact JSON, like ``steals``, on its
first connect and on every resume; the operator reads them back with
:func:`parse_split_request`, which refuses a malformed one with a :class:`ValueError` of
one line (the API answers 400 with it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError

from podtap.core.config.known_keys import SPLIT_TYPES
from podtap.core.config.queues import QueueSplitConfig

__all__ = ["encode_split_request", "parse_split_request", "splittable"]


def splittable(entries: Sequence[QueueSplitConfig]) -> tuple[QueueSplitConfig, ...]:
    """The entries of types the operator splits (the config loader warned of the others)."""
    return tuple(e for e in entries if e.queue_type.value in SPLIT_TYPES)


def encode_split_request(entries: Sequence[QueueSplitConfig]) -> str:
    """The query value of ``entries`` ("" when there is none)."""
    if not entries:
        return ""
    return json.dumps([_item(e) for e in entries], separators=(",", ":"), sort_keys=True)


def _item(entry: QueueSplitConfig) -> dict[str, object]:
    item: dict[str, object] = {
        "queue_id": entry.queue_id,
        "queue_type": entry.queue_type.value,
        "message_filter": dict(entry.message_filter),
        "queue_mode": entry.queue_mode.value,
    }
    if entry.jq_filter is not None:
        item["jq_filter"] = entry.jq_filter
    return item


def parse_split_request(text: str | None) -> tuple[QueueSplitConfig, ...]:
    """The entries of ``?split_queues=``; ValueError (one line) when malformed."""
    if not text:
        return ()
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"split_queues: not JSON ({exc})") from None
    if not isinstance(items, list):
        raise ValueError("split_queues: must be a list of {queue_id, ...} entries")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(QueueSplitConfig.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "entry"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ValueError(f"split_queues[{index}].{where}: {message}") from None
    return tuple(out)
