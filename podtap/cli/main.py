"""The `podtap` command."""

from __future__ import annotations

import typer

from podtap import __version__
from podtap.cli.agent import agent
from podtap.cli.config import verify_config
from podtap.cli.doctor import doctor
from podtap.cli.exec_cmd import exec_command
from podtap.cli.local import app as local_app
from podtap.cli.operator import app as operator_app
from podtap.cli.policy import app as policy_app
from podtap.cli.queues import app as queues_app
from podtap.cli.session import ls, port_forward

app = typer.Typer(
    rich_markup_mode=None,
    name="podtap",
    help="Run local code as if it were inside a pod of a shared Kubernetes cluster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(local_app, name="local")
app.add_typer(operator_app, name="operator")
app.add_typer(policy_app, name="policy")
app.add_typer(queues_app, name="queues")
app.command("agent", hidden=True)(agent)
app.command("doctor")(doctor)
app.command("ls")(ls)
app.command("port-forward")(port_forward)
app.command("verify-config")(verify_config)
app.command("exec", context_settings={"allow_interspersed_args": False})(exec_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"podtap {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """podtap: your local process, the pod's network, env, files and traffic."""
