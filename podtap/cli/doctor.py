"""`podtap doctor`: check this machine, with the fix for each missing piece."""

from __future__ import annotations

import dataclasses
import json

import typer

from podtap.cli.output import Format, columns
from podtap.net.checks import run_checks


def doctor(
    output: Format = typer.Option(Format.table, "-o", "--output", help="table or json"),
) -> None:
    """Check user namespaces, nftables, kernel features and tools; print how to fix each
    missing one. Exits 1 when something podtap needs is missing."""
    checks = run_checks()
    if output is Format.json:
        typer.echo(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    else:
        rows = [
            ["ok" if c.ok else ("MISSING" if c.required else "optional"), c.name, c.detail, c.fix]
            for c in checks
        ]
        typer.echo(columns(["STATUS", "CHECK", "DETAIL", "FIX"], rows))
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)
