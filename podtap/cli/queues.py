"""`podtap queues`: the queue splits the operator runs (docs/queues.md).

``status`` reads the operator's status, as ``podtap operator status`` does (same options,
same call), and prints one row per session of each split. Turning the operator's split
rows into these rows, and these into a table, are pure functions (:func:`split_rows`,
:func:`split_table`); an operator from before the per-session details (``members``) still
gives a row per session, with what it said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.table import Table

from podtap.cli.operator import STATUS
from podtap.cli.operator_address import OperatorChoice, call, choosing_operator
from podtap.cli.output import Format, console, fail, print_data

__all__ = ["app", "split_rows", "split_table"]

app = typer.Typer(
    rich_markup_mode=None,
    help="Queue splitting: which sessions take which messages of a workload's queues "
    "(feature.split_queues; docs/queues.md).",
    no_args_is_help=True,
)

HEADERS = ("NAMESPACE", "TARGET", "PHASE", "SESSION", "USER", "QUEUES", "FILTER", "PODS")
WIDE = ("FALLBACK", "ROUTED")


def split_rows(
    splits: Sequence[Mapping[str, Any]], *, namespace: str | None
) -> list[dict[str, Any]]:
    """One row per session of each split in ``namespace`` (None: every namespace); a split
    that no session holds any more (it lingers, restores or drains) is one row without one."""
    rows: list[dict[str, Any]] = []
    for split in splits:
        ns, _, target = str(split.get("workload", "")).partition("/")
        ns, target = split.get("namespace", ns), split.get("target", target)
        if namespace is not None and ns != namespace:
            continue
        common = {
            "namespace": ns,
            "target": target,
            "phase": split.get("phase"),
            "pods": split.get("pods"),
            "fallback": (split.get("queues") or {}).get("fallback", {}),
        }
        for member in _members(split) or [{}]:
            rows.append(
                {
                    **common,
                    "session": member.get("session"),
                    "user": member.get("user"),
                    "queues": member.get("queues", {}),
                    "filters": member.get("filters"),
                    "routed": member.get("routed"),
                }
            )
    return rows


def _members(split: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "members" in split:
        return list(split["members"])
    queues, routed = split.get("queues") or {}, split.get("routed") or {}
    return [
        {"session": s, "queues": queues.get(s, {}), "routed": routed.get(s)}
        for s in split.get("sessions") or []
    ]


def split_table(rows: Sequence[Mapping[str, Any]], *, wide: bool = False) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in HEADERS + (WIDE if wide else ()):
        table.add_column(header, overflow="fold")
    for row in rows:
        cells = [
            row["namespace"],
            row["target"],
            row["phase"] or "-",
            row["session"] or "-",
            row["user"] or "-",
            _queues(row["queues"]),
            _filters(row["filters"]),
            _pods(row["pods"]),
        ]
        if wide:
            cells += [
                _queues(row["fallback"]),
                "-" if row["routed"] is None else str(row["routed"]),
            ]
        table.add_row(*cells)
    return table


def _queues(names: Mapping[str, str]) -> str:
    return ", ".join(f"{original}→{name}" for original, name in sorted(names.items())) or "-"


def _filters(filters: Mapping[str, Mapping[str, Any]] | None) -> str:
    """``orders steal: who=^alice$, jq '.Body | ...'``; one line per queue id."""
    if not filters:
        return "-"
    lines = []
    for queue_id, asked in sorted(filters.items()):
        parts = [f"{name}={regex}" for name, regex in sorted(asked["message_filter"].items())]
        if asked.get("jq_filter") is not None:
            parts.append(f"jq {asked['jq_filter']!r}")
        said = ", ".join(parts) or "nothing (an empty filter matches no message)"
        lines.append(f"{queue_id} {asked['queue_mode']}: {said}")
    return "\n".join(lines)


def _pods(pods: Mapping[str, int] | None) -> str:
    return "-" if not pods else f"{pods['ready']}/{pods['patched']}"


def _default_namespace(choice: OperatorChoice) -> str:
    """The kubeconfig context's namespace, as kubectl takes it (``default`` without one)."""
    from podtap.client.host.policy_explain import context_namespace

    try:
        return context_namespace(choice.kubeconfig, choice.context)
    except Exception:  # no kubeconfig here, or one kubernetes_asyncio cannot read
        return "default"


@app.command()
@choosing_operator()
def status(
    namespace: str | None = typer.Option(
        None, "-n", "--namespace", help="Only this namespace's splits (default: the context's)."
    ),
    all_namespaces: bool = typer.Option(
        False, "-A", "--all-namespaces", help="The splits of every namespace."
    ),
    output: Format = typer.Option(
        Format.table, "-o", "--output", help="table, wide (adds fallback queues, routed) or json"
    ),
    *,
    choice: OperatorChoice,
) -> None:
    """Every queue split the operator runs: one row per session, with its user, the queues it
    reads instead of the originals (original→temporary), the filter it asked, and the
    workload's pods on the fallback queues (ready/patched).

    Example: podtap queues status -n shop -o wide"""
    if namespace is not None and all_namespaces:
        fail("-n/--namespace and -A/--all-namespaces say different things: give one")
    where = None if all_namespaces else namespace or _default_namespace(choice)
    data = call(choice.address(), "GET", STATUS)
    rows = split_rows(data.get("splits") or [], namespace=where)
    if output is Format.json:
        typer.echo(json.dumps(rows, indent=2))
    elif output is Format.yaml:
        print_data(rows, output)
    elif not rows:
        typer.echo("No queue splits.")
    else:
        console.print(split_table(rows, wide=output is Format.wide), soft_wrap=False)
