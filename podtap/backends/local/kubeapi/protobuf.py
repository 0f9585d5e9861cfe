"""Decode the Kubernetes protobuf encoding of request bodies into JSON objects.

kubectl's typed clients (`kubectl create namespace|configmap|secret|deployment`, `auth can-i`,
`run`, `expose`...) send `application/vnd.kubernetes.protobuf` bodies and cannot be told not
to; they accept JSON answers, so only decoding is needed. The envelope is the magic
`k8s\\0` and a runtime.Unknown (typeMeta, raw); raw is the object's message, decoded with the
field table `proto_table.json` (generated from the upstream generated.proto files by
scripts/gen-kube-proto-table). Go's encoder writes every non-pointer field, so empty strings,
lists, zero times and empty metadata/spec/status are dropped to get what the JSON encoder's
`omitempty` would have sent; other empty messages are kept (`emptyDir: {}` means something).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import struct
from importlib import resources
from typing import Any

from podtap.backends.local.kubeapi.status import bad_request

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_TIME = {_META + "Time", _META + "MicroTime"}
_DROP_EMPTY = {"metadata", "spec", "status"}
# Groups whose proto package is not named after the group's first label.
_PACKAGE = {"": "core"}


@functools.cache
def _table() -> tuple[dict[str, dict[str, list[str]]], frozenset[str]]:
    raw = resources.files("podtap.backends.local.kubeapi").joinpath("proto_table.json").read_text()
    data = json.loads(raw)
    return data["messages"], frozenset(data["nullable"])


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise bad_request("the protobuf body is truncated")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) in order."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        out.append((num, wire, value))
    return out


def _scalar(typ: str, wire: int, value: Any) -> Any:
    if typ == "string":
        return bytes(value).decode()
    if typ == "bytes":
        return base64.b64encode(value).decode()
    if typ == "bool":
        return bool(value)
    if typ in ("int32", "int64"):
        return value - (1 << 64) if value >= 1 << 63 else value
    if typ in ("double", "float"):
        return struct.unpack("<d" if wire == 1 else "<f", value)[0]
    return value


def _time(msg: dict[int, Any], *, micro: bool) -> str | None:
    seconds, nanos = msg.get(1, 0), msg.get(2, 0)
    if not seconds and not nanos:
        return None
    t = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _special(typ: str, buf: bytes) -> tuple[bool, Any]:
    if typ in _TIME:
        nums = {n: v for n, _w, v in _fields(buf)}
        return True, _time(nums, micro=typ.endswith("MicroTime"))
    if typ == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, next((bytes(v).decode() for n, _w, v in _fields(buf) if n == 1), "0")
    if typ == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        nums = {n: v for n, _w, v in _fields(buf)}
        return True, bytes(nums.get(3, b"")).decode() if nums.get(1) else nums.get(2, 0)
    if typ in ("k8s.io.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"):
        raw = next((bytes(v) for n, _w, v in _fields(buf) if n == 1), b"")
        return True, json.loads(raw) if raw else None
    return False, None


def decode_message(typ: str, buf: bytes) -> Any:
    """One message as its JSON value."""
    handled, value = _special(typ, buf)
    if handled:
        return value
    messages, nullable = _table()
    spec = messages.get(typ)
    if spec is None:
        raise bad_request(f"no protobuf description for {typ}")
    if typ in nullable:
        _name, _kind, item = spec["1"]
        return [_value(item, w, v) for n, w, v in _fields(buf) if n == 1]
    out: dict[str, Any] = {}
    for num, wire, raw in _fields(buf):
        field = spec.get(str(num))
        if field is None:
            continue  # a field newer than the table: unknown here, as to an older server
        name, kind, ftype = field
        if kind == "m":
            ktype, vtype = ftype.split(",")
            entry = {n: (w, v) for n, w, v in _fields(raw)}
            key = _value(ktype, *entry.get(1, (2, b"")))
            out.setdefault(name, {})[key] = _value(vtype, *entry.get(2, (2, b"")))
        elif kind == "r":
            if wire == 2 and ftype not in ("string", "bytes") and ftype in _SCALAR_TYPES:
                pos, packed = 0, []
                while pos < len(raw):
                    v, pos = _varint(raw, pos)
                    packed.append(_scalar(ftype, 0, v))
                out.setdefault(name, []).extend(packed)
            else:
                out.setdefault(name, []).append(_value(ftype, wire, raw))
        else:
            out[name] = _value(ftype, wire, raw)
    return {k: v for k, v in out.items() if not _empty(k, v)}


_SCALAR_TYPES = {"bool", "int32", "int64", "uint32", "uint64", "double", "float"}


def _value(typ: str, wire: int, raw: Any) -> Any:
    if typ in _SCALAR_TYPES or typ in ("string", "bytes"):
        return _scalar(typ, wire, raw)
    return decode_message(typ, bytes(raw))


def _empty(name: str, value: Any) -> bool:
    if value is None or value == "" or value == []:
        return True
    return value == {} and name in _DROP_EMPTY


def _message_for(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    package = _PACKAGE.get(group, group.split(".")[0])
    messages, _ = _table()
    for candidate in (f"k8s.io.api.{package}.{version}.{kind}", f"{_META}{kind}"):
        if candidate in messages:
            return candidate
    raise bad_request(f"no kind {kind!r} is registered for version {api_version!r} in protobuf")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object in a `k8s\\0` protobuf envelope, with apiVersion and kind set."""
    if not body.startswith(MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes magic")
    unknown = {n: v for n, _w, v in _fields(body[len(MAGIC) :])}
    type_meta = {n: bytes(v).decode() for n, _w, v in _fields(bytes(unknown.get(1, b"")))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    obj = decode_message(_message_for(api_version, kind), bytes(unknown.get(2, b"")))
    if not isinstance(obj, dict):
        raise bad_request("the protobuf body is not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}
