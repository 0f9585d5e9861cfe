"""Go's ``%q`` and ``%v`` for the strings and string lists inside Kubernetes' messages.

kubectl users read the server's messages verbatim and tools grep them, so a message we build must
be byte for byte what kube-apiserver prints. Its messages come from Go's ``fmt``: ``%q`` of a
string is ``strconv.Quote`` (``\\n``, ``\\x00``, ``\\u2028`` escapes; printable Unicode kept),
``%q`` of a ``[]string`` is ``["a" "b"]`` (spaces, not commas), ``%v`` of one is ``[a b]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["go_list", "go_quote", "go_quote_list"]

_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """``strconv.Quote(text)``: Go's ``%q`` of a string."""
    return '"' + "".join(_escape(char) for char in text) + '"'


def go_quote_list(items: Iterable[str]) -> str:
    """Go's ``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def go_list(items: Iterable[str]) -> str:
    """Go's ``%v`` of a ``[]string``: ``[a b]``."""
    return "[" + " ".join(items) + "]"
