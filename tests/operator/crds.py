"""The chart's PodtapSession CRD, rendered by the real helm, and an API server that has it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.server import in_thread, tools

CHART = Path(__file__).resolve().parents[2] / "charts" / "podtap-operator"
TEMPLATE = "templates/crd-podtapsessions.yaml"


def session_crd() -> dict[str, Any]:
    out = subprocess.run(
        [str(tools() / "helm"), "template", "t", str(CHART), "-s", TEMPLATE],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, Any] = yaml.safe_load(out)
    return found


@contextlib.contextmanager
def api_with_sessions() -> Iterator[Running]:
    """The API server in-process, with the CRD applied by the real kubectl."""
    with in_thread() as running:
        subprocess.run(
            [str(tools() / "kubectl"), "--kubeconfig", str(running.kubeconfig), "apply", "-f", "-"],
            input=yaml.safe_dump(session_crd()),
            check=True,
            capture_output=True,
            text=True,
        )
        yield running
