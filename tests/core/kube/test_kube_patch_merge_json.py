"""Merge patch (RFC 7386) and JSON patch (RFC 6902) as kubectl sends them and the server answers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.kube.patch import PatchError, json_equal, merge_patch
from podtap.core.kube.patch_json import json_patch

DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}},
    },
}


def test_rfc7386_examples() -> None:
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch(["a", "b"], ["c", "d"]) == ["c", "d"]
    assert merge_patch({"a": "foo"}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_kubectl_scale_patches_the_scale_subresource() -> None:
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 1}}
    assert merge_patch(scale, {"spec": {"replicas": 3}})["spec"] == {"replicas": 3}


def test_kubectl_label_and_annotate_send_merge_patches() -> None:
    labelled = merge_patch(DEPLOY, {"metadata": {"labels": {"tier": "frontend"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    unlabelled = merge_patch(labelled, {"metadata": {"labels": {"tier": None}}})
    assert unlabelled["metadata"]["labels"] == {"app": "web"}
    noted = merge_patch(DEPLOY, {"metadata": {"annotations": {"owner": "team-a"}}})
    assert noted["metadata"]["annotations"] == {"owner": "team-a"}
    assert DEPLOY["metadata"]["labels"] == {"app": "web"}, "the live object is not touched"


def test_merge_patch_replaces_lists_whole() -> None:
    patched = merge_patch(DEPLOY, {"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}})
    assert patched["spec"]["template"]["spec"]["containers"] == [{"name": "x"}]


def test_json_patch_operations() -> None:
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/tier", "value": "web"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "side"}},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
        {"op": "remove", "path": "/metadata/labels/app"},
        {"op": "test", "path": "/spec/replicas", "value": 4},
    ]
    out = json_patch(DEPLOY, ops)
    assert out["spec"]["replicas"] == 4
    assert out["metadata"]["labels"] == {"tier": "web", "moved": "web"}
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["nginx", "side"]
    assert DEPLOY["spec"]["replicas"] == 1


def test_json_patch_escapes_and_inserts_by_index() -> None:
    obj = {"metadata": {"annotations": {"a/b": "1", "m~n": "2"}}, "l": [1, 3]}
    out = json_patch(
        obj,
        [
            {"op": "remove", "path": "/metadata/annotations/a~1b"},
            {"op": "replace", "path": "/metadata/annotations/m~0n", "value": "3"},
            {"op": "add", "path": "/l/1", "value": 2},
        ],
    )
    assert out == {"metadata": {"annotations": {"m~n": "3"}}, "l": [1, 2, 3]}


def test_replace_of_a_missing_object_key_adds_it_as_the_apiserver_does() -> None:
    assert json_patch({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1}]) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("ops", "detail"),
    [
        (
            [{"op": "remove", "path": "/spec/template/spec/nodeSelector/x"}],
            'remove operation does not apply: doc is missing path: "/spec/template/spec/'
            'nodeSelector/x": missing value',
        ),
        (
            [{"op": "remove", "path": "/metadata/labels/nope"}],
            "error in remove for path: '/metadata/labels/nope': "
            "Unable to remove nonexistent key: nope: missing value",
        ),
        (
            [{"op": "test", "path": "/spec/replicas", "value": 2}],
            "testing value /spec/replicas failed: test failed",
        ),
        (
            [{"op": "test", "path": "/spec/replicas", "value": True}],
            "testing value /spec/replicas failed: test failed",
        ),
        (
            [{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}],
            "Unable to access invalid index: 5: invalid index referenced",
        ),
        ([{"op": "frob", "path": "/x"}], "Unexpected kind: frob"),
    ],
)
def test_json_patch_failures_are_422_with_the_generic_message(
    ops: list[dict[str, Any]], detail: str
) -> None:
    with pytest.raises(PatchError) as err:
        json_patch(DEPLOY, ops)
    assert err.value.code == 422
    assert err.value.status()["reason"] == "Invalid"
    assert err.value.message == "the server rejected our request due to an error in our request"
    assert err.value.detail == detail


def test_a_json_patch_that_is_not_a_list_is_a_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        json_patch(DEPLOY, {"op": "add"})
    assert (err.value.code, err.value.reason) == (400, "BadRequest")


def test_a_failing_operation_leaves_nothing_half_applied() -> None:
    live = copy.deepcopy(DEPLOY)
    with pytest.raises(PatchError):
        json_patch(live, [{"op": "replace", "path": "/spec/replicas", "value": 9}, {"op": "x"}])
    assert live == DEPLOY


scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab", max_size=2)
keys = st.text("abc/~", min_size=1, max_size=3)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=3)
)
objects = st.dictionaries(keys, json_values, max_size=4)


def _without_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    return v


def _merge_diff(src: Any, dst: Any) -> Any:
    """The merge patch that turns ``src`` into ``dst`` (what ``CreateMergePatch`` computes)."""
    if not (isinstance(src, dict) and isinstance(dst, dict)):
        return dst
    patch: dict[str, Any] = {k: None for k in src if k not in dst}
    for k, v in dst.items():
        if k not in src or not json_equal(src[k], v):
            patch[k] = _merge_diff(src.get(k), v)
    return patch


@given(objects.map(_without_nulls), objects.map(_without_nulls))
def test_merge_patch_of_a_diff_reproduces_the_target(src: Any, dst: Any) -> None:
    assert json_equal(merge_patch(src, _merge_diff(src, dst)), dst)


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _paths(v: Any, here: list[str | int]) -> list[list[str | int]]:
    out = [here]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, [*here, k])
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, [*here, i])
    return out


@given(objects, st.data())
def test_json_patch_test_passes_on_what_is_there(doc: Any, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(doc, [])))
    value: Any = doc
    for p in path:
        value = value[p]
    assert json_patch(doc, [{"op": "test", "path": _pointer(path), "value": value}]) == doc


@given(objects, json_values)
def test_json_patch_add_then_remove_is_undone(doc: Any, value: Any) -> None:
    key = "new-key"
    if key in doc:
        return
    ops = [
        {"op": "add", "path": f"/{key}", "value": value},
        {"op": "test", "path": f"/{key}", "value": value},
        {"op": "remove", "path": f"/{key}"},
    ]
    assert json_patch(doc, ops) == doc
