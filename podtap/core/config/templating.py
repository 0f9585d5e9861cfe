"""The part of mirrord's config templating (Tera) that mirrord documents.

mirrord renders a config file's text as a Tera template before parsing it; its docs use
``{{ get_env(name="X", default="y") }}``, the session ``{{ key }}``, ``{{ git_branch }}`` and
the ``default(value=...)`` filter. This module renders exactly that subset (plus ``{# comments
#}`` and the ``{{-``/``-}}`` whitespace trims); anything else, like ``{% if %}``, is a
:class:`TemplateError` naming the line rather than text left in the file. Like Tera, an
undefined variable or an unset environment variable without a default is an error, never an
empty string (which would make a filter match nothing, or everything).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

__all__ = ["Rendered", "TemplateError", "find_git_branch", "render"]

_KNOWN = "podtap renders {{ key }}, {{ git_branch }}, {{ get_env(name=..., default=...) }}"
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()=,|]))"""
)


class TemplateError(ValueError):
    """A template the renderer cannot render; ``line`` is 1-based in the file's text."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True, slots=True)
class Rendered:
    """The rendered text and the variables it used (``key`` says whether a key was needed)."""

    text: str
    used: frozenset[str] = field(default_factory=frozenset)


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


class _Expr:
    """One ``{{ ... }}``: ``primary (| filter)*`` over the tokens of its inside."""

    def __init__(
        self, inside: str, *, line: int, variables: Mapping[str, str], env: Mapping[str, str]
    ) -> None:
        self.line, self.variables, self.env = line, variables, env
        self.tokens: list[tuple[str, str]] = []
        self.used: set[str] = set()
        self.undefined = ""
        pos = 0
        while pos < len(inside.rstrip()):
            m = _TOKEN.match(inside, pos)
            if m is None or m.end() == pos:
                self.fail(f"cannot read {inside.strip()!r} ({_KNOWN})")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m[kind]))
            pos = m.end()

    def fail(self, message: str) -> NoReturn:
        raise TemplateError(self.line, message)

    def take(self, kind: str, text: str | None = None) -> str:
        if not self.tokens or self.tokens[0][0] != kind or text not in (None, self.tokens[0][1]):
            got = self.tokens[0][1] if self.tokens else "the end"
            self.fail(f"expected {text or kind} in the template, got {got!r}")
        return self.tokens.pop(0)[1]

    def peek(self, text: str) -> bool:
        return bool(self.tokens) and self.tokens[0][1] == text

    def literal(self) -> str:
        kind, text = self.tokens[0] if self.tokens else ("end", "")
        if kind == "str":
            self.tokens.pop(0)
            return _unquote(text)
        if kind == "num" or text in ("true", "false"):
            self.tokens.pop(0)
            return text
        self.fail(f"expected a quoted string or a number, got {text or 'the end'!r}")

    def args(self) -> dict[str, str]:
        out: dict[str, str] = {}
        self.take("punct", "(")
        while not self.peek(")"):
            name = self.take("name")
            self.take("punct", "=")
            out[name] = self.literal()
            if not self.peek(")"):
                self.take("punct", ",")
        self.take("punct", ")")
        return out

    def primary(self) -> str | None:
        """The value, or None when it is undefined (for ``default`` to fill)."""
        if self.tokens and self.tokens[0][0] == "str":
            return self.literal()
        name = self.take("name")
        if self.peek("("):
            if name != "get_env":
                self.fail(f"unknown function {name}() ({_KNOWN})")
            args = self.args()
            if set(args) - {"name", "default"} or "name" not in args:
                self.fail('get_env takes name="VAR" and optionally default="..."')
            value = self.env.get(args["name"], args.get("default"))
            if value is None:
                self.fail(
                    f"environment variable {args['name']} is not set and get_env has no default"
                )
            return value
        self.used.add(name)
        if name not in self.variables:
            self.undefined = name
        return self.variables.get(name)

    def evaluate(self) -> str:
        value = self.primary()
        while self.peek("|"):
            self.take("punct", "|")
            name = self.take("name")
            if name != "default":
                self.fail(f"unknown filter {name} (podtap knows default(value=...))")
            args = self.args()
            if set(args) != {"value"}:
                self.fail("default takes value=...")
            if value is None:
                value = args["value"]
        if self.tokens:
            self.fail(f"unexpected {self.tokens[0][1]!r} in the template")
        if value is None:
            names = ", ".join(sorted(self.variables)) or "none"
            self.fail(
                f"variable {self.undefined} is not defined (defined here: {names}); "
                f"give a fallback with {{{{ {self.undefined} | default(value='...') }}}}"
            )
        assert value is not None
        return value


def _close(text: str, start: int, closer: str) -> int:
    """Index of ``closer`` after ``start``, skipping quoted strings (``"}}"`` is not an end)."""
    i, quote = start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif text.startswith(closer, i):
            return i
        i += 1
    return -1


def render(text: str, *, variables: Mapping[str, str], env: Mapping[str, str]) -> Rendered:
    """Render ``text``; raises :class:`TemplateError` for anything outside the subset."""
    out: list[str] = []
    used: set[str] = set()
    pos = 0
    while (start := text.find("{", pos)) != -1:
        opener = text[start : start + 2]
        if opener not in ("{{", "{%", "{#"):
            out.append(text[pos : start + 1])
            pos = start + 1
            continue
        line = text.count("\n", 0, start) + 1
        if opener == "{%":
            raise TemplateError(
                line, f"template statements {{% ... %}} are not supported ({_KNOWN})"
            )
        closer = "}}" if opener == "{{" else "#}"
        end = _close(text, start + 2, closer) if opener == "{{" else text.find(closer, start + 2)
        if end == -1:
            raise TemplateError(line, f"{opener} is not closed by {closer}")
        inside = text[start + 2 : end]
        before = text[pos:start]
        if inside.startswith("-"):
            before, inside = before.rstrip(), inside[1:]
        trim_after = inside.endswith("-")
        inside = inside[:-1] if trim_after else inside
        out.append(before)
        if opener == "{{":
            expr = _Expr(inside, line=line, variables=variables, env=env)
            out.append(expr.evaluate())
            used |= expr.used
        pos = end + 2
        if trim_after:
            pos = len(text) - len(text[pos:].lstrip())
    out.append(text[pos:])
    return Rendered("".join(out), frozenset(used))


def find_git_branch(cwd: Path, env: Mapping[str, str]) -> str | None:
    """``{{ git_branch }}``: ``MIRRORD_BRANCH_NAME`` when set, else the branch ``HEAD`` of the
    repository holding ``cwd`` names (None when detached or not a repository, as in mirrord)."""
    if env.get("MIRRORD_BRANCH_NAME"):
        return env["MIRRORD_BRANCH_NAME"]
    for d in (cwd, *cwd.parents):
        git = d / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: PATH"
            pointer = git.read_text(encoding="utf-8", errors="replace").strip()
            git = d / pointer.removeprefix("gitdir: ")
        head = git / "HEAD"
        if head.is_file():
            content = head.read_text(encoding="utf-8", errors="replace").strip()
            if content.startswith("ref: refs/heads/"):
                return content.removeprefix("ref: refs/heads/")
            return None
    return None
