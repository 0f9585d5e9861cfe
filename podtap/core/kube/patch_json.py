"""RFC 6902 JSON patch, applied as kube-apiserver applies it (``evanphx/json-patch`` v4).

The real server's library bends the RFC in ways clients come to rely on, so they are kept:
``replace`` of a missing *object* key adds it, ``test`` of a missing key fails, ``-`` appends
in ``add``. A malformed patch is a 400; an operation that cannot apply is a 422 whose message
is the generic one the server sends (the library's words stay in ``PatchError.detail``).
"""

from __future__ import annotations

import copy
from typing import Any

from podtap.core.kube.patch import PatchError, bad_request, json_equal

__all__ = ["json_patch"]

_REJECTED = "the server rejected our request due to an error in our request"
# kube-apiserver's cap (maxJSONPatchOperations).
MAX_OPERATIONS = 10000


def _fail(detail: str) -> PatchError:
    return PatchError(_REJECTED, code=422, reason="Invalid", detail=detail)


def _decode_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _parent(doc: Any, path: str) -> tuple[Any, str] | None:
    """The container holding the last token of ``path``, and that token (findObject)."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    node = doc
    for raw in parts[1:-1]:
        token = _decode_token(raw)
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
        if not isinstance(node, dict | list):
            return None
    return node, _decode_token(parts[-1])


def _index(container: list[Any], key: str, *, adding: bool = False) -> int:
    if adding and key == "-":
        return len(container)
    if not key.lstrip("-").isdigit():
        raise _fail(f"value was not a proper array index: '{key}'")
    idx = int(key)
    limit = len(container) + (1 if adding else 0)
    if idx < 0 or idx >= limit:
        raise _fail(f"Unable to access invalid index: {idx}: invalid index referenced")
    return idx


def _get(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    return container[_index(container, key)]


def _add(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        container.insert(_index(container, key, adding=True), value)


def _remove(container: Any, key: str, path: str, verb: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise _fail(
                f"error in {verb} for path: '{path}': "
                f"Unable to remove nonexistent key: {key}: missing value"
            )
        return container.pop(key)
    return container.pop(_index(container, key))


def _locate(doc: Any, path: str, what: str, *, quoted: bool = False) -> tuple[Any, str]:
    """The parent of ``path``; upstream quotes the path for ``add`` and ``remove`` only."""
    found = _parent(doc, path)
    if found is None:
        shown = f'"{path}"' if quoted else path
        raise _fail(f"{what}: {shown}: missing value")
    return found


def _test(doc: Any, path: str, value: Any) -> None:
    if path == "":
        present, target = True, doc
    else:
        container, key = _locate(doc, path, "test operation does not apply: is missing path")
        present = not isinstance(container, dict) or key in container
        target = _get(container, key) if present else None
    if not present or not json_equal(target, value):
        raise _fail(f"testing value {path} failed: test failed")


def _operation(op: Any) -> tuple[str, str]:
    if not isinstance(op, dict):
        raise bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
    kind, path = op.get("op"), op.get("path")
    if not isinstance(path, str):
        raise _fail("operation missing path field: missing value")
    return str(kind), path


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = _operation(op)
    if kind in ("add", "replace", "test") and "value" not in op:
        raise _fail("operation, missing value field: missing value")
    value = copy.deepcopy(op.get("value"))
    if kind == "replace" and path == "":
        if not isinstance(value, dict | list):
            raise _fail("replace operation value must be object or array")
        return value
    if kind == "test":
        _test(doc, path, value)
        return doc
    if kind == "add":
        container, key = _locate(
            doc, path, "add operation does not apply: doc is missing path", quoted=True
        )
        _add(container, key, value)
    elif kind == "remove":
        container, key = _locate(
            doc, path, "remove operation does not apply: doc is missing path", quoted=True
        )
        _remove(container, key, path, "remove")
    elif kind == "replace":
        container, key = _locate(doc, path, "replace operation does not apply: doc is missing path")
        if isinstance(container, dict):
            container[key] = value
        else:
            container[_index(container, key)] = value
    elif kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise _fail(f"{kind} operation, missing from field: missing value")
        container, key = _locate(
            doc, source, f"{kind} operation does not apply: doc is missing from path"
        )
        if kind == "move":
            moved = _remove(container, key, source, "move")
        else:
            moved = copy.deepcopy(_get(container, key))
        dest, dkey = _locate(
            doc, path, f"{kind} operation does not apply: doc is missing destination path"
        )
        _add(dest, dkey, moved)
    else:
        raise _fail(f"Unexpected kind: {kind}")
    return doc


def json_patch(live: Any, ops: Any) -> Any:
    """``live`` with every operation of ``ops`` applied in order, or a :class:`PatchError`.

    The whole patch fails if one operation fails: nothing is half-applied (the input is
    never touched; work happens on a copy).
    """
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_OPERATIONS:
        raise PatchError(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}",
            code=413,
            reason="RequestEntityTooLarge",
        )
    doc = copy.deepcopy(live)
    for op in ops:
        doc = _apply_one(doc, op)
    return doc
