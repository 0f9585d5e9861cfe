"""mirrord's wildcards (``targetPath``, ``env.exclude``): ``*`` any run of characters, ``?``
exactly one, everything else itself; the whole text must match, case-sensitively.

Matched with RE2 (:mod:`podtap.core.safe_regex`), so a pattern of many ``*`` stays linear.
"""

from __future__ import annotations

import re

from podtap.core.safe_regex import FilterRegex, compile_filter_regex

__all__ = ["glob_matches", "glob_regex"]


def glob_regex(pattern: str) -> FilterRegex:
    """The anchored regex of ``pattern``."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return compile_filter_regex(f"^(?s:{body})$")


def glob_matches(pattern: str, text: str) -> bool:
    """Whether the whole of ``text`` matches ``pattern``."""
    return glob_regex(pattern).search(text)
