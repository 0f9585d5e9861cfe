"""SQS through aiobotocore: a :class:`~podtap.backends.brokers.base.BrokerClient`.

A receive asks for every message attribute and system attribute (what ``jq_filter`` sees
is the whole ``Message``), and hides the messages for ``visibility`` seconds; an ack
deletes them, a release makes them visible at once. Publishing sends the body and the
message attributes as they came (their ``DataType`` too) and, on FIFO queues, the group
and deduplication ids, in batches of ten; entries the broker fails are retried, then the
publish raises, so the forwarder does not ack what was not published.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from podtap.backends.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    Delivery,
    Outgoing,
    unreachable,
)
from podtap.backends.brokers.settings import SqsSettings
from podtap.core.queues import QueueKind, sqs_message

__all__ = ["SqsClient"]

T = TypeVar("T")
_BATCH = 10
_COPIED = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize")
_FIFO_COPIED = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    aiohttp.ClientError,
    OSError,
)
_GONE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def _chunks(items: Sequence[T], size: int = _BATCH) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqsClient:
    kind = QueueKind.SQS

    def __init__(self, settings: SqsSettings, *, visibility: int = 30) -> None:
        self.settings = settings
        self.address = settings.address
        self.visibility = visibility
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._urls: dict[str, str] = {}

    async def connect(self) -> None:
        await self.close()
        s = self.settings
        config = AioConfig(
            connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
        )
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "sqs",
                endpoint_url=s.endpoint_url,
                region_name=s.region,
                aws_access_key_id=s.access_key_id,
                aws_secret_access_key=s.secret_access_key,
                aws_session_token=s.session_token,
                config=config,
            )
        )
        self._stack = stack
        await self._call("list the queues", lambda c: c.list_queues(MaxResults=1))

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        self._urls.clear()
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

    async def _call(self, what: str, call: Callable[[Any], Awaitable[T]]) -> T:
        if self._client is None:
            raise BrokerUnavailable(f"not connected to SQS at {self.address}: connect first")
        try:
            return await call(self._client)
        except _UNREACHABLE as exc:
            setting = "endpointUrl (and region)"
            raise unreachable("SQS", self.address, what, exc, setting=setting) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BrokerError(
                f"SQS at {self.address} refused to {what}: "
                f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
            ) from None
        except BotoCoreError as exc:
            raise BrokerError(f"SQS at {self.address}: cannot {what}: {exc}") from None

    async def _url(self, name: str) -> str:
        if name not in self._urls:
            got = await self._call(f"find queue {name}", lambda c: c.get_queue_url(QueueName=name))
            self._urls[name] = str(got["QueueUrl"])
        return self._urls[name]

    async def create_queue(self, name: str, *, like: str | None = None) -> None:
        attributes: dict[str, str] = {}
        if like is not None:
            url = await self._url(like)
            got = await self._call(
                f"read queue {like}",
                lambda c: c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
            )
            have = got.get("Attributes", {})
            keys = _COPIED + (_FIFO_COPIED if name.endswith(".fifo") else ())
            attributes = {k: have[k] for k in keys if k in have}
        if name.endswith(".fifo"):
            attributes["FifoQueue"] = "true"
        made = await self._call(
            f"create queue {name}",
            lambda c: c.create_queue(QueueName=name, Attributes=attributes),
        )
        self._urls[name] = str(made["QueueUrl"])

    async def delete_queue(self, name: str) -> None:
        try:
            url = await self._url(name)
            await self._call(f"delete queue {name}", lambda c: c.delete_queue(QueueUrl=url))
        except BrokerError as exc:
            if not any(code in str(exc) for code in _GONE):
                raise
        self._urls.pop(name, None)

    async def receive(
        self, queue: str, *, max_messages: int, wait: float, group: str | None = None
    ) -> list[Delivery]:
        url = await self._url(queue)
        seconds = min(20, math.ceil(wait)) if wait > 0 else 0

        async def one(count: int, seconds: int) -> list[Delivery]:
            got = await self._call(
                f"receive from queue {queue}",
                lambda c: c.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=count,
                    WaitTimeSeconds=seconds,
                    VisibilityTimeout=self.visibility,
                    MessageAttributeNames=["All"],
                    AttributeNames=["All"],
                ),
            )
            return [_delivery(queue, m) for m in got.get("Messages", [])]

        # one long poll; only when it comes back full, more without waiting (long polls on
        # a queue with less would each wait their whole time)
        counts = [min(_BATCH, max_messages - i) for i in range(0, max(1, max_messages), _BATCH)]
        first = await one(counts[0], seconds)
        if len(first) < counts[0] or len(counts) == 1:
            return first
        for count in counts[1:]:
            more = await one(count, 0)
            first += more
            if len(more) < count:
                break
        return first

    async def _batch(
        self, what: str, queue: str, entries: list[dict[str, Any]], method: str
    ) -> list[dict[str, Any]]:
        """Send ``entries`` with the batch ``method`` in chunks; the entries that failed."""
        url = await self._url(queue)

        async def chunk(part: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
            got = await self._call(
                what, lambda c: getattr(c, method)(QueueUrl=url, Entries=list(part))
            )
            failed = {f["Id"]: f for f in got.get("Failed", [])}
            return [dict(e, _error=failed[e["Id"]]) for e in part if e["Id"] in failed]

        # one chunk at a time: moto (the test broker) races on concurrent calls to a queue
        return [e for part in _chunks(entries) for e in await chunk(part)]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await self._per_queue(deliveries, "acknowledge", "delete_message_batch", {})

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        extra = {"VisibilityTimeout": 0}
        await self._per_queue(deliveries, "release", "change_message_visibility_batch", extra)

    async def _per_queue(
        self, deliveries: Sequence[Delivery], what: str, method: str, extra: Mapping[str, Any]
    ) -> None:
        queues: dict[str, list[dict[str, Any]]] = {}
        for i, d in enumerate(deliveries):
            entry = {"Id": str(i), "ReceiptHandle": d.handle, **extra}
            queues.setdefault(d.queue, []).append(entry)
        for queue, entries in queues.items():
            failed = await self._batch(f"{what} messages of {queue}", queue, entries, method)
            if failed:
                error = failed[0]["_error"]
                raise BrokerError(
                    f"SQS at {self.address} failed to {what} {len(failed)} messages of "
                    f"{queue}: {error.get('Code')}: {error.get('Message', '')}"
                )

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> None:
        entries = [_entry(str(i), m) for i, m in enumerate(messages)]
        for _attempt in range(3):
            failed = await self._batch(
                f"send to queue {queue}", queue, entries, "send_message_batch"
            )
            if not failed:
                return
            if any(f["_error"].get("SenderFault") for f in failed):
                break
            entries = [{k: v for k, v in f.items() if k != "_error"} for f in failed]
        error = failed[0]["_error"]
        raise BrokerError(
            f"SQS at {self.address} refused {len(failed)} messages for {queue}: "
            f"{error.get('Code')}: {error.get('Message', '')}"
        )

    async def depth(self, queue: str, *, group: str | None = None) -> int | None:
        url = await self._url(queue)
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        got = await self._call(
            f"read queue {queue}",
            lambda c: c.get_queue_attributes(QueueUrl=url, AttributeNames=names),
        )
        return sum(int(got.get("Attributes", {}).get(n, 0)) for n in names)


def _delivery(queue: str, message: Mapping[str, Any]) -> Delivery:
    attributes = message.get("MessageAttributes") or {}
    headers = tuple(
        (name, {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")})
        for name, value in attributes.items()
    )
    system = message.get("Attributes") or {}
    properties = {k: system[k] for k in ("MessageGroupId", "MessageDeduplicationId") if k in system}
    outgoing = Outgoing(str(message.get("Body", "")).encode(), headers, properties=properties)
    return Delivery(
        queue=queue,
        id=message.get("MessageId"),
        message=sqs_message(message),
        outgoing=outgoing,
        redelivered=int(system.get("ApproximateReceiveCount", "1")) > 1,
        handle=message["ReceiptHandle"],
    )


def _entry(entry_id: str, message: Outgoing) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.body.decode("utf-8")}
    if message.headers:
        entry["MessageAttributes"] = dict(message.headers)
    entry.update({k: v for k, v in message.properties.items() if v is not None})
    return entry
