"""Configuration errors: every problem at once, each with where it is and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One invalid value: ``path`` is dotted (``feature.network.outgoing.filter.remote[1]``),
    empty for the file as a whole; ``source`` the file name, ``env PODTAP_X`` or ``flag --x``."""

    path: str
    message: str
    source: str

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ConfigError(ValueError):
    """Every problem of a configuration at once, one line each."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"{n} error{'s' if n != 1 else ''} in the configuration"
        return head + "".join(f"\n  {issue}" for issue in self.issues)
