"""A CRD's `type: date` printer columns, as kube-apiserver's table convertor prints them:
the time since the timestamp (`12m`), `<invalid>` for a value that is not one, `<none>` when
the field is absent; `kubectl get pdb` prints the disruption budget's columns."""

from __future__ import annotations

import datetime
from pathlib import Path

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clocks.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: clocks, singular: clock, kind: Clock}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              since: {type: string}
    additionalPrinterColumns:
    - {name: Since, type: date, jsonPath: .spec.since}
"""


def _clock(name: str, since: str | None) -> str:
    spec = f"{{since: {since!r}}}" if since is not None else "{}"
    return f"apiVersion: example.com/v1\nkind: Clock\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def test_date_columns_print_an_age(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "apply", "-f", "-", stdin=CRD)
    try:
        ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=12)
        clocks = [
            _clock("twelve", ago.strftime("%Y-%m-%dT%H:%M:%SZ")),
            _clock("bad", "yesterday"),
            _clock("none", None),
        ]
        run(kubectl_bin, api, "apply", "-n", "default", "-f", "-", stdin="---\n".join(clocks))
        rows = run(kubectl_bin, api, "get", "clocks", "-n", "default").stdout.splitlines()
        assert rows[0].split() == ["NAME", "SINCE", "AGE"]
        since = {line.split()[0]: line.split()[1] for line in rows[1:]}
        assert since == {"twelve": "12m", "bad": "<invalid>", "none": "<none>"}
    finally:
        run(kubectl_bin, api, "delete", "crd", "clocks.example.com", "--wait=false")


def test_kubectl_get_pdb_prints_the_budgets_columns(api: Running, kubectl_bin: Path) -> None:
    budgets = [
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: most}\n"
        "spec: {minAvailable: 2, selector: {matchLabels: {app: a}}}\n",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: one}\n"
        'spec: {maxUnavailable: "25%", selector: {matchLabels: {app: b}}}\n',
    ]
    run(kubectl_bin, api, "apply", "-n", "default", "-f", "-", stdin="---\n".join(budgets))
    try:
        rows = run(kubectl_bin, api, "get", "pdb", "-n", "default").stdout.splitlines()
        assert rows[0].split() == [
            "NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE",
        ]  # fmt: skip
        cells = {line.split()[0]: line.split()[1:4] for line in rows[1:]}
        assert cells == {"most": ["2", "N/A", "0"], "one": ["N/A", "25%", "0"]}
    finally:
        run(kubectl_bin, api, "delete", "pdb", "most", "one", "-n", "default")
