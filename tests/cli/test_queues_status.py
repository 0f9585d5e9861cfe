"""`podtap queues status` rendering, from the operator's split rows: one row per session
(a split no session holds any more is one row without one), filtered by namespace, shown
as a table (wide: fallback queues and counts too) or given to scripts as JSON rows."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from podtap.cli.operator_address import OperatorChoice
from podtap.cli.queues import _default_namespace, split_rows, split_table

ALICE, BOB = "000000000000000A", "000000000000000B"


def _split(**changes: Any) -> dict[str, Any]:
    split: dict[str, Any] = {
        "workload": "shop/deployment/consumer",
        "namespace": "shop",
        "target": "deployment/consumer",
        "phase": "active",
        "sessions": [ALICE, BOB],
        "queues": {"fallback": {"orders": "pt-fallback-orders"}},
        "routed": {ALICE: 3, BOB: 1, "fallback": 7},
        "pods": {"patched": 2, "ready": 1},
        "members": [
            {
                "session": ALICE,
                "user": "alice@laptop",
                "queues": {"orders": f"pt-{ALICE}-orders"},
                "filters": {
                    "orders": {"queue_type": "SQS", "message_filter": {"who": "^alice$"},
                               "jq_filter": None, "queue_mode": "steal"}
                },
                "routed": 3,
            },
            {
                "session": BOB,
                "user": "bob@desk",
                "queues": {"orders": f"pt-{BOB}-orders"},
                "filters": {
                    "orders": {"queue_type": "SQS", "message_filter": {},
                               "jq_filter": ".Body | fromjson | .vip", "queue_mode": "mirror"}
                },
                "routed": 1,
            },
        ],
    }  # fmt: skip
    return {**split, **changes}


def _text(rows: list[dict[str, Any]], *, wide: bool = False) -> list[str]:
    out = StringIO()
    Console(file=out, width=300).print(split_table(rows, wide=wide))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_one_row_per_session_with_what_it_asked() -> None:
    rows = split_rows([_split()], namespace="shop")
    assert [r["session"] for r in rows] == [ALICE, BOB]
    assert rows[0] == {
        "namespace": "shop",
        "target": "deployment/consumer",
        "phase": "active",
        "pods": {"patched": 2, "ready": 1},
        "fallback": {"orders": "pt-fallback-orders"},
        "session": ALICE,
        "user": "alice@laptop",
        "queues": {"orders": f"pt-{ALICE}-orders"},
        "filters": _split()["members"][0]["filters"],
        "routed": 3,
    }


def test_the_namespace_filters_and_none_means_every_namespace() -> None:
    other = _split(namespace="dev", workload="dev/deployment/consumer", members=[])
    assert {r["namespace"] for r in split_rows([_split(), other], namespace=None)} == {
        "shop",
        "dev",
    }
    assert split_rows([_split(), other], namespace="nope") == []


def test_a_split_without_sessions_is_one_row_without_one() -> None:
    (row,) = split_rows([_split(phase="draining", sessions=[], members=[])], namespace=None)
    assert (row["phase"], row["session"], row["queues"]) == ("draining", None, {})
    (line,) = _text([row])[1:]
    assert line.split()[:5] == ["shop", "deployment/consumer", "draining", "-", "-"]


def test_an_operator_without_members_still_gives_a_row_per_session() -> None:
    old = _split(queues={"fallback": {"o": "f"}, ALICE: {"o": "a"}})
    for key in ("members", "namespace", "target", "pods"):
        del old[key]
    rows = split_rows([old], namespace="shop")
    assert [(r["session"], r["queues"], r["routed"]) for r in rows] == [
        (ALICE, {"o": "a"}, 3),
        (BOB, {}, 1),
    ]
    assert rows[0]["target"] == "deployment/consumer" and rows[0]["user"] is None
    assert "-" in _text(rows)[1].split()  # no pods, user or filter said: dashes


def test_the_table_reads_like_kubectl() -> None:
    header, alice, bob = _text(split_rows([_split()], namespace=None))
    assert header.split() == [
        "NAMESPACE", "TARGET", "PHASE", "SESSION", "USER", "QUEUES", "FILTER", "PODS"
    ]  # fmt: skip
    assert f"orders→pt-{ALICE}-orders" in alice and "orders steal: who=^alice$" in alice
    assert "orders mirror: jq '.Body | fromjson | .vip'" in bob
    assert alice.endswith("1/2") and "bob@desk" in bob
    wide = _text(split_rows([_split()], namespace=None), wide=True)
    assert wide[0].split()[-2:] == ["FALLBACK", "ROUTED"]
    assert wide[1].split()[-2:] == ["orders→pt-fallback-orders", "3"]


def test_an_empty_filter_says_it_matches_nothing() -> None:
    nothing: dict[str, Any] = {
        "o": {"message_filter": {}, "jq_filter": None, "queue_mode": "steal"}
    }
    split = _split(members=[{"session": ALICE, "filters": nothing}])
    (row,) = split_rows([split], namespace=None)
    assert "o steal: nothing (an empty filter matches no message)" in _text([row])[1]


def test_without_n_the_namespace_is_the_kubeconfig_contexts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "shop"}},
                    {"name": "bare", "context": {"cluster": "c", "user": "u"}},
                ],
                "current-context": "dev",
            }
        )
    )
    assert _default_namespace(OperatorChoice(kubeconfig=str(kubeconfig))) == "shop"
    assert _default_namespace(OperatorChoice(kubeconfig=str(kubeconfig), context="bare")) == (
        "default"
    )
    assert _default_namespace(OperatorChoice(kubeconfig=str(tmp_path / "none"))) == "default"
