"""Bad objects against `podtap local up` under the real kubectl: each refused with a real
cluster's words (client-side through /openapi/v3 and v2, server-side with --validate=false),
nothing of them stored, and the cluster serving after each (tests/kubeapi has the details)."""

from __future__ import annotations

from pathlib import Path

from podtap.testing.localcluster import LocalCluster
from tests.cluster.test_kubectl_local import Kubectl
from tests.kubeapi.test_kubectl_openapi_v2 import BAD, REFUSED


def test_bad_objects_are_refused_and_the_cluster_keeps_serving(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-kvalidate")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    for validate, bad in REFUSED:
        manifest, message = BAD[bad]
        done = kubectl("apply", f"--validate={validate}", "-f", "-", stdin=manifest, ok=False)
        assert (done.returncode, done.stderr.strip()) == (1, message), (validate, bad)
        assert kubectl("get", "pods").returncode == 0
        assert kubectl("get", "deployments", "-o", "name").stdout == ""
    c.down()
