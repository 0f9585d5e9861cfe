"""What a session may read: env names excluded, files read-only / local / not found.

``env.exclude`` uses mirrord's wildcards (:mod:`.globs`), matched against the whole name,
case-sensitively; the union over policies is excluded. ``fs`` lists are regexes (RE2)
searched in the path, as ``feature.fs`` lists are; when several apply, the strongest wins:
``notFound`` over ``local`` over ``readOnly``. A policy that excludes env names also hides
the processes' environments in ``/proc`` (``/proc/1/environ`` would give them back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from podtap.core.policy.globs import glob_matches
from podtap.core.policy.matching import FoundPolicy
from podtap.core.safe_regex import compile_filter_regex, compile_filter_union

__all__ = ["FileRule", "FileVerdict", "env_excluded", "file_open_refusal", "file_rule"]


def env_excluded(policies: Sequence[FoundPolicy], names: Iterable[str]) -> dict[str, str]:
    """Each of ``names`` that a policy excludes -> that policy's label (the first)."""
    out: dict[str, str] = {}
    for name in names:
        for policy in policies:
            if any(glob_matches(p, name) for p in policy.spec.env.exclude):
                out[name] = policy.label
                break
    return out


def filter_env(policies: Sequence[FoundPolicy], env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the names a policy excludes."""
    gone = env_excluded(policies, env)
    return {k: v for k, v in env.items() if k not in gone}


class FileRule(StrEnum):
    ALLOWED = "allowed"
    READ_ONLY = "read-only"
    LOCAL = "local"
    NOT_FOUND = "not-found"


@dataclass(frozen=True, slots=True)
class FileVerdict:
    rule: FileRule
    policy: str | None = None


def _lists(policy: FoundPolicy) -> tuple[tuple[FileRule, list[str]], ...]:
    fs = policy.spec.fs
    return (
        (FileRule.NOT_FOUND, fs.not_found),
        (FileRule.LOCAL, fs.local),
        (FileRule.READ_ONLY, fs.read_only),
    )


#: A process's environment as procfs shows it (its own, a thread's, any pid's).
ENVIRON = compile_filter_regex(r"^/proc/(?:[0-9]+|self|thread-self)(?:/task/[0-9]+)?/environ$")


def file_rule(policies: Sequence[FoundPolicy], path: str) -> FileVerdict:
    """What the policies make of opening ``path`` on the target."""
    if ENVIRON.search(path):
        for policy in policies:
            if policy.spec.env.exclude:
                return FileVerdict(FileRule.NOT_FOUND, policy.label)
    for rule in (FileRule.NOT_FOUND, FileRule.LOCAL, FileRule.READ_ONLY):
        for policy in policies:
            patterns = dict(_lists(policy))[rule]
            if patterns and compile_filter_union(patterns).search(path):
                return FileVerdict(rule, policy.label)
    return FileVerdict(FileRule.ALLOWED)


def file_open_refusal(verdict: FileVerdict, *, path: str, write: bool) -> str | None:
    """The refusal of opening ``path`` (for writing if ``write``), or None when it may be
    opened remotely. ``local`` is no refusal to the user: the client opens it locally."""
    if verdict.rule is FileRule.NOT_FOUND:
        return f"{verdict.policy} hides {path}: not found"
    if verdict.rule is FileRule.LOCAL:
        return f"{verdict.policy} keeps {path} local: opened on this machine"
    if verdict.rule is FileRule.READ_ONLY and write:
        return f"{verdict.policy} makes {path} read-only: not opened for writing"
    return None
