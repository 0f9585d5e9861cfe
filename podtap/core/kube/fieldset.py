"""Sets of field paths, the currency of server-side apply, in ``FieldsV1`` encoding.

A manager owns a set of paths into the object. A path is a tuple of *path elements*, kept in
the serialized form ``managedFields`` uses (structured-merge-diff's ``fieldpath``):

- ``f:<name>``: a field of a struct or a key of a map;
- ``k:{"name":"app"}``: the item of an associative list with these key values (JSON, keys
  sorted, no spaces, HTML characters escaped as Go's encoder does);
- ``v:"example.com/finalizer"``: the item of a set with this value;
- ``i:0``: an index (rare: items of lists apply cannot key).

In ``fieldsV1`` a path element maps to the set below it, and ``".": {}`` inside says the
element itself is a member; an element with nothing below is a member. Elements are written in
structured-merge-diff's order (fields, then keys, values, indexes; each by value), so a
round-trip keeps the bytes kubectl would see from a real server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from podtap.core.kube.goquote import go_quote

__all__ = ["FieldSet", "Path", "path_string", "pe_field", "pe_index", "pe_key", "pe_value"]

Path = tuple[str, ...]


def go_json(value: Any) -> str:
    """JSON as Go's encoder writes it: compact, keys sorted, ``<>&`` escaped, 1.0 as 1."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    text = json.dumps(norm(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def pe_field(name: str) -> str:
    return f"f:{name}"


def pe_key(keys: dict[str, Any]) -> str:
    return f"k:{go_json(keys)}"


def pe_value(value: Any) -> str:
    return f"v:{go_json(value)}"


def pe_index(index: int) -> str:
    return f"i:{index}"


def _value_order(v: Any) -> tuple[Any, ...]:
    """structured-merge-diff's total order of values: numbers, strings, bools, lists, maps."""
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_order(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, _value_order(x)) for k, x in sorted(v.items())))
    return (5,)


@cache
def pe_order(pe: str) -> tuple[Any, ...]:
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return (0, body)
    if kind == "k":
        return (1, tuple((k, _value_order(x)) for k, x in sorted(json.loads(body).items())))
    if kind == "v":
        return (2, _value_order(json.loads(body)))
    return (3, int(body) if body.lstrip("-").isdigit() else 0)


def _pe_string(pe: str) -> str:
    """One element as a conflict message prints it: ``.spec``, ``[name="app"]``, ``[="x"]``."""

    def show(v: Any) -> str:
        if isinstance(v, str):
            return go_quote(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return go_json(v)

    kind, body = pe[0], pe[2:]
    if kind == "f":
        return f".{body}"
    if kind == "k":
        keys = json.loads(body)
        return "[" + ",".join(f"{k}={show(keys[k])}" for k in sorted(keys)) + "]"
    if kind == "v":
        return f"[={show(json.loads(body))}]"
    return f"[{body}]"


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="app"].image``."""
    return "".join(_pe_string(pe) for pe in path)


class FieldSet:
    """A set of paths, as a tree: ``members`` end here, ``children`` go deeper."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.children: dict[str, FieldSet] = {}

    def insert(self, path: Path) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return node is not None and bool(path) and path[-1] in node.members

    def child(self, pe: str) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def __bool__(self) -> bool:
        return not self.empty()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and set(self.paths()) == set(other.paths())

    __hash__ = None  # type: ignore[assignment]

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in serialization order."""
        for pe in sorted({*self.members, *self.children}, key=pe_order):
            if pe in self.members:
                yield (*prefix, pe)
            if pe in self.children:
                yield from self.children[pe].paths((*prefix, pe))

    def _combine(self, other: FieldSet, op: str) -> FieldSet:
        out = FieldSet()
        if op == "|":
            out.members = self.members | other.members
            keys = {*self.children, *other.children}
        elif op == "-":
            out.members = self.members - other.members
            keys = set(self.children)
        else:
            out.members = self.members & other.members
            keys = set(self.children) & set(other.children)
        for pe in keys:
            sub = self.child(pe)._combine(other.child(pe), op)
            if not sub.empty():
                out.children[pe] = sub
        return out

    def union(self, other: FieldSet) -> FieldSet:
        return self._combine(other, "|")

    def difference(self, other: FieldSet) -> FieldSet:
        return self._combine(other, "-")

    def intersection(self, other: FieldSet) -> FieldSet:
        return self._combine(other, "&")

    def has_below(self, path: Path) -> bool:
        """Whether any member lies strictly below ``path``."""
        node: FieldSet | None = self
        for pe in path:
            node = node.children.get(pe) if node else None
        return bool(node)

    def to_fields_v1(self, *, include_self: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {".": {}} if include_self else {}
        for pe in sorted({*self.members, *self.children}, key=pe_order):
            sub = self.children.get(pe)
            if sub is not None and not sub.empty():
                out[pe] = sub.to_fields_v1(include_self=pe in self.members)
            else:
                out[pe] = {}
        return out

    @classmethod
    def from_fields_v1(cls, raw: Any) -> FieldSet:
        """Decode ``fieldsV1``; elements of unknown kinds are dropped, as upstream does."""
        out = cls()
        if not isinstance(raw, dict):
            return out
        for pe, sub in raw.items():
            if pe == "." or len(pe) < 2 or pe[1] != ":" or pe[0] not in "fkvi":
                continue
            below = cls.from_fields_v1(sub)
            if not isinstance(sub, dict) or not sub or "." in sub:
                out.members.add(pe)
            if not below.empty():
                out.children[pe] = below
        return out

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"
