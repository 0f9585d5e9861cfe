"""Temporary and fallback queue names, from the split config's ``tmpNameTemplate``.

The template may use ``{{ORIGINAL}}`` (the original queue's name), ``{{ID}}`` (the session's
id, or ``fallback`` for the deployed workload's queue) and ``{{RANDOM}}`` (a token the shell
draws, so that a name is not reused across splits); it must use ``{{ID}}``, or every session
would get the same queue. Each broker's naming rules are checked here, before anything is
created: SQS names are at most 80 of ``A-Za-z0-9_-`` and a FIFO queue's name ends in
``.fifo`` (kept on the temporary queues: a FIFO queue can only forward to FIFO queues);
Kafka topics at most 249 of ``A-Za-z0-9._-``; RabbitMQ queues at most 255 bytes and not
``amq.``.
"""

from __future__ import annotations

import re
from typing import Final

from podtap.core.queues.models import QueueKind

__all__ = ["FALLBACK_ID", "QueueNameError", "render_queue_name"]

FALLBACK_ID: Final = "fallback"
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")
_SQS: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_KAFKA: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")


class QueueNameError(ValueError):
    """A template that gives no usable name; one line naming ``tmpNameTemplate``."""


def render_queue_name(
    template: str, *, kind: QueueKind, original: str, session: str, random: str = ""
) -> str:
    """The name of ``session``'s (or :data:`FALLBACK_ID`'s) queue split from ``original``."""
    fifo = kind is QueueKind.SQS and original.endswith(".fifo")
    base = original.removesuffix(".fifo") if fifo else original
    values = {"ORIGINAL": base, "ID": session, "RANDOM": random}
    used = {m.group(1) for m in _PLACEHOLDER.finditer(template)}
    if unknown := sorted(used - values.keys()):
        raise QueueNameError(
            f"spec.tmpNameTemplate: unknown placeholder {{{{{unknown[0]}}}}} "
            "(use ORIGINAL, ID and RANDOM)"
        )
    if "ID" not in used:
        raise QueueNameError("spec.tmpNameTemplate: must contain {{ID}} (one queue per session)")
    name = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    name = name.removesuffix(".fifo") + ".fifo" if fifo else name
    _check(name, kind=kind)
    return name


def _check(name: str, *, kind: QueueKind) -> None:
    problem = None
    if kind is QueueKind.SQS and not _SQS.fullmatch(name.removesuffix(".fifo")):
        problem = "SQS queue names are 1-80 of A-Z a-z 0-9 _ - (and .fifo)"
    elif kind is QueueKind.KAFKA and (not _KAFKA.fullmatch(name) or name in (".", "..")):
        problem = "Kafka topic names are 1-249 of A-Z a-z 0-9 . _ -"
    elif kind is QueueKind.RMQ and (len(name.encode()) > 255 or name.startswith("amq.")):
        problem = "RabbitMQ queue names are at most 255 bytes and do not start with amq."
    if problem:
        raise QueueNameError(f"spec.tmpNameTemplate: gives {name!r}: {problem}")
