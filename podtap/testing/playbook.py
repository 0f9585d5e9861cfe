"""Playbook (transcript) tests for sans-IO objects: feed inputs, expect outputs.

A handler turns one input (a frame, or a small test event) into the outputs it produces::

    sender = FlowSender(window=10)
    sender.open(StreamId(1))
    play(sender.send, [
        (Data(1, b"0123456789ab"), [Data(1, b"0123456789")]),
        (Data(2, b"x"), Raises(ValueError, match="not open")),
    ])

Each step is ``(input, expected)`` or a :class:`Step`; ``expected`` is the exact list of
outputs, :class:`Raises`, or :data:`IGNORE`. A mismatch fails with the whole transcript.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar

Out = TypeVar("Out")


@dataclass(frozen=True, slots=True)
class Raises:
    """Expect the step to raise ``exception`` (with ``match`` searched in its text)."""

    exception: type[Exception] | tuple[type[Exception], ...]
    match: str | None = None

    def describe(self) -> str:
        names = (
            "/".join(e.__name__ for e in self.exception)
            if isinstance(self.exception, tuple)
            else self.exception.__name__
        )
        return f"raise {names}" + (f" matching {self.match!r}" if self.match else "")


class _Ignore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


IGNORE: Final = _Ignore()
"""Expectation that accepts any outputs (the step is fed for its side effects)."""


Expectation: TypeAlias = "Sequence[object] | Raises | _Ignore"
"""The exact outputs of a step, an exception it must raise, or :data:`IGNORE`."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step: what to feed, what to expect, and a note shown if it fails."""

    feed: object
    expect: Expectation
    note: str = ""


class PlaybookFailure(AssertionError):
    """A step's outputs (or exception) differ from what the playbook expected."""


def _render(transcript: list[str], index: int, note: str, problem: str) -> str:
    where = f"step {index}" + (f" ({note})" if note else "")
    lines = [f"playbook failed at {where}: {problem}", "transcript:", *transcript]
    return "\n".join(lines)


def play(
    handler: Callable[[Any], Iterable[Out]],
    steps: Iterable[Step | tuple[object, Expectation]],
) -> list[list[Out]]:
    """Run ``steps`` through ``handler``; returns the outputs of every step.

    Raises :class:`PlaybookFailure` at the first step whose outcome differs.
    """
    transcript: list[str] = []
    results: list[list[Out]] = []
    for index, raw in enumerate(steps):
        step = raw if isinstance(raw, Step) else Step(raw[0], raw[1])
        transcript.append(f"  [{index}] feed {step.feed!r}")
        try:
            outputs = list(handler(step.feed))
        except Exception as exc:
            if _expected_exception(step.expect, exc):
                transcript.append(f"      raised {type(exc).__name__}: {exc}")
                results.append([])
                continue
            expected = _describe(step.expect)
            problem = f"expected {expected}, got {type(exc).__name__}: {exc}"
            raise PlaybookFailure(_render(transcript, index, step.note, problem)) from exc
        for out in outputs:
            transcript.append(f"      -> {out!r}")
        if isinstance(step.expect, Raises):
            problem = f"expected to {step.expect.describe()}, got outputs {outputs!r}"
            raise PlaybookFailure(_render(transcript, index, step.note, problem))
        if not isinstance(step.expect, _Ignore) and outputs != list(step.expect):
            problem = f"expected outputs {list(step.expect)!r}, got {outputs!r}"
            raise PlaybookFailure(_render(transcript, index, step.note, problem))
        results.append(outputs)
    return results


def _expected_exception(expect: object, exc: Exception) -> bool:
    if not isinstance(expect, Raises) or not isinstance(exc, expect.exception):
        return False
    return expect.match is None or re.search(expect.match, str(exc)) is not None


def _describe(expect: object) -> str:
    if isinstance(expect, Raises):
        return f"to {expect.describe()}"
    if isinstance(expect, _Ignore):
        return "any outputs"
    return f"outputs {list(expect)!r}"  # type: ignore[call-overload]
