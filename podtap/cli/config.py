"""``podtap verify-config FILE``: validate a config file and print its resolved form."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from podtap.cli.output import console, err_console, fail


class VerifyFormat(StrEnum):
    text = "text"
    json = "json"


def verify_config(
    file: Path = typer.Argument(..., help="Config file: .json, .toml, .yaml or .yml."),
    output: VerifyFormat = typer.Option(
        VerifyFormat.text, "--output", "-o", help="text: resolved config and warnings; json."
    ),
) -> None:
    """Validate a podtap or mirrord config file and print the resolved configuration.

    The PODTAP_* / MIRRORD_* environment variables are applied, and templates rendered, as
    `podtap exec` would. Keys podtap does not support yet are warnings; exits 1 listing every
    error (with its key path) when the file is invalid or has an unknown key.
    """
    from podtap.core.config import ConfigError, resolve_report
    from podtap.core.exec_spec import plan_of
    from podtap.core.targets import POD_KINDS

    try:
        report = resolve_report(
            # targetless is refused here, before connecting; the operator resolves the rest
            resolvable_kinds=POD_KINDS,
            backend="podtap",
            cwd=Path.cwd(),
            file=file,
            env=os.environ,
        )
        plan = plan_of(report.config)  # what podtap exec would do, or why it would not start
    except ConfigError as e:
        if output is VerifyFormat.json:
            typer.echo(
                json.dumps(
                    {
                        "valid": False,
                        "errors": [
                            {"path": i.path, "message": i.message, "source": i.source}
                            for i in e.issues
                        ],
                    },
                    indent=2,
                )
            )
            raise typer.Exit(1) from None
        fail(escape(str(e)))
    resolved = report.config.model_dump(mode="json")
    if output is VerifyFormat.json:
        doc = {
            "valid": True,
            "config": resolved,
            "warnings": report.warnings,
            "unsupported": report.unsupported,
            "plan": plan,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(json.dumps(resolved, indent=2))
    for line in plan["incoming"]["text"]:
        typer.echo(line)
    for w in report.warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    console.print(f"[green]{file} is valid[/]", highlight=False)
