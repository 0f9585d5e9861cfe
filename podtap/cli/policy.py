"""``podtap policy explain``: see before you run what the operator's policies would decide."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import typer
from rich.markup import escape

from podtap.cli.config import VerifyFormat
from podtap.cli.output import err_console, fail

app = typer.Typer(
    rich_markup_mode=None,
    help="Policies and profiles: what they let a session do.",
    no_args_is_help=True,
)


TargetOpt = typer.Option(
    None, "-t", "--target", help="deployment/NAME, pod/NAME[/container/C], ... (else the config's)."
)
NamespaceOpt = typer.Option(
    None, "-n", "--namespace", help="Its namespace (else the config's, else the context's)."
)
ConfigOpt = typer.Option(
    None,
    "-f",
    "--config-file",
    help="The config podtap exec would use (else podtap.json / .mirrord/mirrord.json here).",
)
ProfileOpt = typer.Option(None, "--profile", help="The profile: NAME (cluster) or NS/NAME.")
OutputOpt = typer.Option(VerifyFormat.text, "-o", "--output", help="text or json.")
KubeconfigOpt = typer.Option(
    None, "--kubeconfig", help="The kubeconfig to read with (else $KUBECONFIG, ~/.kube/config)."
)
ContextOpt = typer.Option(
    None, "--context", envvar="PODTAP_KUBE_CONTEXT", help="Its context (else the current one)."
)


@app.command("explain")
def explain_command(
    target: str | None = TargetOpt,
    namespace: str | None = NamespaceOpt,
    config_file: Path | None = ConfigOpt,
    profile: str | None = ProfileOpt,
    output: VerifyFormat = OutputOpt,
    kubeconfig: str | None = KubeconfigOpt,
    context: str | None = ContextOpt,
) -> None:
    """Print which policies and profile apply to a session on TARGET with this config, what
    each blocks or changes, and what the operator would refuse, as it would decide it (read
    through your kubeconfig, with your rights)."""
    from podtap.backends.kubernetes.backend import BACKEND_NAME, RESOLVABLE_KINDS
    from podtap.client.host.policy_explain import ExplainFailed, explain_session
    from podtap.core.config import ConfigError, resolve_report

    try:
        report = resolve_report(
            resolvable_kinds=RESOLVABLE_KINDS,
            backend=BACKEND_NAME,
            cwd=Path.cwd(),
            file=config_file,
            env=os.environ,
            cli={"target": target, "namespace": namespace, "profile": profile},
        )
    except ConfigError as exc:  # each issue is a line after a count: one line here
        issues = [line.strip() for line in str(exc).splitlines()]
        fail(escape("; ".join(issues[1:] or issues)))
    config = report.config
    if config.target.path is None:
        fail("give a target: -t deployment/NAME (or `target` in the config file)")
    try:
        done = asyncio.run(
            explain_session(config, kubeconfig=kubeconfig, context=context or config.kube_context)
        )
    except ExplainFailed as exc:
        fail(escape(str(exc)))
    for line in done.skipped:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if output is VerifyFormat.json:
        typer.echo(json.dumps(done.explanation.to_json(), indent=2))
        return
    for line in done.explanation.lines():
        typer.echo(line)
