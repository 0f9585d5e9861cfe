"""The string form of a label selector (``?labelSelector=``), lexed and parsed as apimachinery does.

kubectl sends ``-l`` through as it was typed, so what we accept and the words we refuse with must
be those of ``labels.Parse``: a longest-match lexer over ``= == != ! ( ) , > <`` and identifiers,
whitespace ``' ' \\t \\r \\n`` between tokens, and a recursive descent where ``in``/``notin`` are
keywords only where an operator may stand (``notin=in`` is a plain equality). Values of one term
are deduplicated and sorted; terms come out in key order. A NUL byte ends the input where a token
may begin and ends a token inside one, as Go's ``read() == 0`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from podtap.core.kube.selectors import (
    BINARY_OPERATORS,
    Operator,
    Requirement,
    Selector,
    SelectorError,
    new_requirement,
    validate_key,
)

__all__ = ["parse_requirements", "parse_selector"]


class Token(Enum):
    """Lexer tokens (``labels.Token``)."""

    ERROR = auto()
    END = auto()
    CLOSED_PAR = auto()
    COMMA = auto()
    DOES_NOT_EXIST = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER_THAN = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS_THAN = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAR = auto()


_LITERALS: Final = {
    ")": Token.CLOSED_PAR,
    ",": Token.COMMA,
    "!": Token.DOES_NOT_EXIST,
    "==": Token.DOUBLE_EQUALS,
    "=": Token.EQUALS,
    ">": Token.GREATER_THAN,
    "in": Token.IN,
    "<": Token.LESS_THAN,
    "!=": Token.NOT_EQUALS,
    "notin": Token.NOT_IN,
    "(": Token.OPEN_PAR,
}
_SPECIAL: Final = frozenset("=!(),><")
_BLANK: Final = frozenset(" \t\r\n")
_OPERATOR_OF: Final = {
    Token.IN: Operator.IN,
    Token.EQUALS: Operator.EQUALS,
    Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    Token.GREATER_THAN: Operator.GREATER_THAN,
    Token.LESS_THAN: Operator.LESS_THAN,
    Token.NOT_IN: Operator.NOT_IN,
    Token.NOT_EQUALS: Operator.NOT_EQUALS,
}
_EXPECTED_OPERATOR: Final = ", ".join(op.value for op in BINARY_OPERATORS)


def _lex(text: str) -> list[tuple[Token, str]]:
    """Every token of ``text`` up to and including the end token."""
    pos = 0

    def read() -> str:
        nonlocal pos
        if pos < len(text):
            pos += 1
            return text[pos - 1]
        return "\0"

    items: list[tuple[Token, str]] = []
    while True:
        char = read()
        while char in _BLANK:
            char = read()
        if char == "\0":
            items.append((Token.END, ""))
            return items
        pos -= 1
        if char in _SPECIAL:
            best: tuple[Token, str] | None = None
            buffer = ""
            while (char := read()) != "\0":
                if char not in _SPECIAL:
                    pos -= 1
                    break
                buffer += char
                if buffer in _LITERALS:
                    best = (_LITERALS[buffer], buffer)
                elif best is not None:
                    pos -= 1
                    break
            items.append(best or (Token.ERROR, f"error expected: keyword found '{buffer}'"))
            continue
        word = ""
        while (char := read()) != "\0":
            if char in _SPECIAL or char in _BLANK:
                pos -= 1
                break
            word += char
        items.append((_LITERALS.get(word, Token.IDENTIFIER), word))


@dataclass(slots=True)
class _Parser:
    items: list[tuple[Token, str]]
    position: int = 0

    def lookahead(self, *, values: bool) -> tuple[Token, str]:
        token, literal = self.items[self.position]
        if values and token in (Token.IN, Token.NOT_IN):
            token = Token.IDENTIFIER
        return token, literal

    def consume(self, *, values: bool) -> tuple[Token, str]:
        item = self.lookahead(values=values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self.lookahead(values=True)
            if token is Token.END:
                return requirements
            if token not in (Token.IDENTIFIER, Token.DOES_NOT_EXIST):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None
            token, literal = self.consume(values=True)
            if token is Token.END:
                return requirements
            if token is not Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self.lookahead(values=True)
            if token not in (Token.IDENTIFIER, Token.DOES_NOT_EXIST):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        key, operator = self.key_and_inferred_operator()
        if operator is not None:
            return new_requirement(key, operator)
        token, literal = self.consume(values=False)
        if token not in _OPERATOR_OF:
            raise SelectorError(f"found '{literal}', expected: {_EXPECTED_OPERATOR}")
        operator = _OPERATOR_OF[token]
        found = self.set_values() if operator in (Operator.IN, Operator.NOT_IN) else self.exact()
        return new_requirement(key, operator, sorted(found))

    def key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator = None
        token, literal = self.consume(values=True)
        if token is Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self.consume(values=True)
        if token is not Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        error = validate_key(literal, None)
        if error:
            raise SelectorError(str(error))
        following, _ = self.lookahead(values=True)
        if following in (Token.END, Token.COMMA) and operator is None:
            operator = Operator.EXISTS
        return literal, operator

    def set_values(self) -> set[str]:
        token, literal = self.consume(values=True)
        if token is not Token.OPEN_PAR:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self.lookahead(values=True)
        if token is Token.CLOSED_PAR:
            self.consume(values=True)
            return {""}
        if token not in (Token.IDENTIFIER, Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        found = self.identifiers()
        self.consume(values=True)  # the ')' identifiers() stopped before
        return found

    def identifiers(self) -> set[str]:
        found: set[str] = set()
        while True:
            token, literal = self.consume(values=True)
            if token is Token.IDENTIFIER:
                found.add(literal)
                following, next_literal = self.lookahead(values=True)
                if following is Token.CLOSED_PAR:
                    return found
                if following is not Token.COMMA:
                    raise SelectorError(f"found '{next_literal}', expected: ',' or ')'")
            elif token is Token.COMMA:
                # "(,a", "a,)" and "a,,b" each hold the empty value.
                following, _ = self.lookahead(values=True)
                if not found or following in (Token.CLOSED_PAR, Token.COMMA):
                    found.add("")
                if following is Token.CLOSED_PAR:
                    return found
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def exact(self) -> set[str]:
        token, _ = self.lookahead(values=True)
        if token in (Token.END, Token.COMMA):
            return {""}
        token, literal = self.consume(values=True)
        if token is not Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


def parse_requirements(text: str) -> list[Requirement]:
    """``labels.ParseToRequirements``: the terms of ``text`` in key order.

    Raises :class:`SelectorError` with Go's message.
    """
    return sorted(_Parser(_lex(text)).parse(), key=lambda r: r.key)


def parse_selector(text: str) -> Selector:
    """``labels.Parse``: the selector ``text`` spells (or :class:`SelectorError`)."""
    return Selector(tuple(parse_requirements(text)))
