"""`podtap local up` installs podtap's operator into the embedded cluster with the project's
Helm chart (charts/podtap-operator) and the real helm, as an admin does on a real cluster.

The chart is found next to the installed package (a checkout: `<repo>/charts/`), helm in the
tool cache `scripts/install-kube-tools` fills ($PODTAP_TOOLS, else `<repo>/.tools`) or on
PATH. `helm upgrade --install --wait` makes a second `up` an upgrade (nothing changes, a
new revision), and waits until the operator's Deployment is Available. helm keeps its cache
and config in the cluster's state directory, so `podtap local down` takes them with it and
needs nothing from helm (the cluster and every object of the release go).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import podtap
from podtap.backends.local import apiaccess
from podtap.backends.local.paths import ClusterPaths

RELEASE = "podtap"
NAMESPACE = "podtap"
REPO = Path(podtap.__file__).resolve().parent.parent
CHART = REPO / "charts" / "podtap-operator"

#: The values for the embedded cluster, each with why; everything else is the chart's
#: default, so the pod runs with the security context, probes, TLS, RBAC, Lease and
#: APIService of a real install.
VALUES: dict[str, str] = {
    # Names as the chart's README and the operator's defaults spell them (podtap-operator,
    # podtap-operator-leader, podtap-operator-user...), not podtap-podtap-operator.
    "fullnameOverride": "podtap-operator",
}
# Left at their defaults on purpose: image.* and agent.image.* (the node runs a pod's command
# with the host's podtap on its PATH; the image is informational, never pulled), replicas 1
# (one node), podSecurityContext/securityContext (uid 65532, read-only root: the node honours
# them, and the venv must be runnable by that user as it must be in the image).
OPERATOR_DEPLOYMENT = VALUES["fullnameOverride"]


class OperatorChartFailed(RuntimeError):
    """The chart could not be installed; the message says why and what to do."""


def chart_dir() -> Path:
    if not (CHART / "Chart.yaml").is_file():
        raise OperatorChartFailed(
            f"the operator chart is not at {CHART} (this podtap is installed without the "
            "repository's charts/): run podtap from a checkout, or pass --no-operator-chart"
        )
    return CHART


def helm_binary() -> Path:
    tools = Path(os.environ.get("PODTAP_TOOLS") or REPO / ".tools")
    if (tools / "helm").is_file():
        return tools / "helm"
    if found := shutil.which("helm"):
        return Path(found)
    raise OperatorChartFailed(
        f"helm is not in {tools} nor on PATH: get it with `scripts/install-kube-tools "
        f"{tools}` (or install helm 3.8+), or pass --no-operator-chart"
    )


def helm_argv(
    *, helm: Path, chart: Path, kubeconfig: Path, timeout: float, values: Sequence[str] = ()
) -> list[str]:
    """`helm upgrade --install` of the release, waiting up to `timeout` seconds, with the
    user's `values` (``KEY=VALUE``, as helm --set takes them) after the embedded cluster's."""
    given = [a for key, value in VALUES.items() for a in ("--set-string", f"{key}={value}")]
    given += [a for value in values for a in ("--set", value)]
    return [
        str(helm), "upgrade", "--install", RELEASE, str(chart),
        "--namespace", NAMESPACE, "--create-namespace",
        "--kubeconfig", str(kubeconfig),
        "--wait", "--timeout", f"{max(1, round(timeout))}s",
        *given,
    ]  # fmt: skip


def helm_env(paths: ClusterPaths) -> dict[str, str]:
    """helm's cache, config and data in the cluster's state (gone with `local down`)."""
    home = paths.root / "helm"
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def _why(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or ["(no output)"])[-1]


async def install(paths: ClusterPaths, *, timeout: float, values: Sequence[str] = ()) -> int:
    """Install or upgrade the release and wait for it; returns its revision."""
    argv = helm_argv(
        values=values,
        helm=helm_binary(),
        chart=chart_dir(),
        kubeconfig=apiaccess.admin_kubeconfig(paths),
        timeout=timeout,
    )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=helm_env(paths),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise OperatorChartFailed(
            f"helm did not finish within {timeout + 30:.0f} s; see "
            f"`kubectl -n {NAMESPACE} get pods` with `podtap local kubeconfig`"
        ) from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise OperatorChartFailed(
            f"helm could not install the operator chart: {_why(text)} (see `kubectl -n "
            f"{NAMESPACE} get pods,events` and `helm -n {NAMESPACE} status {RELEASE}`)"
        )
    found = [line.split()[-1] for line in text.splitlines() if line.startswith("REVISION:")]
    return int(found[0]) if found and found[0].isdigit() else 0
