"""The one door to the real jq (the ``jq`` binding of libjq): compiled once, typed here.

``jq`` ships no type information, so it is imported as the C module it is and seen through
the small protocol below. A program that does not compile raises :class:`JqError` with jq's
own message on one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, cast

__all__ = ["JqError", "JqProgram", "compile_jq"]

_jq: Any = importlib.import_module("jq")


class JqError(ValueError):
    """A jq program that does not compile, or failed on a value."""


class _Run(Protocol):
    def all(self) -> list[Any]: ...
    def first(self) -> Any: ...


class _Compiled(Protocol):
    def input_value(self, value: Any) -> _Run: ...


class JqProgram:
    """A compiled jq program: :meth:`outputs` runs it on one JSON value."""

    __slots__ = ("_program", "source")

    def __init__(self, source: str, *, args: Mapping[str, Any] | None = None) -> None:
        self.source = source
        try:
            self._program = cast(_Compiled, _jq.compile(source, args=dict(args or {})))
        except ValueError as exc:
            raise JqError(f"jq program {source!r} does not compile: {_one_line(exc)}") from None

    def outputs(self, value: Any) -> list[Any]:
        try:
            return self._program.input_value(value).all()
        except ValueError as exc:
            raise JqError(f"jq program {self.source!r} failed: {_one_line(exc)}") from None

    def __repr__(self) -> str:
        return f"JqProgram({self.source!r})"


def _one_line(exc: Exception) -> str:
    """jq's first line (``syntax error, unexpected ... line 1, column 4``), not its echo of
    the program and the caret line under it."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return first.removeprefix("jq: error: ").rstrip(":")


def compile_jq(source: str, *, args: Mapping[str, Any] | None = None) -> JqProgram:
    return JqProgram(source, args=args)
