"""A pod's token files are bound to the pod from the node's first write of them, so the
first read of a container is its own bound token (never the account's legacy one), for the
implicit `kube-api-access` volume and a projected source with its own audience and life."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.manifests import Secret
from podtap.backends.local.models import PodSpec
from podtap.backends.local.podconfig import BoundPod, PodConfigError, volume_mounts
from tests.kubeapi.cli import run
from tests.kubeapi.test_tokens import claims

SHORT = {"serviceAccountToken": {"path": "t", "expirationSeconds": 600, "audience": "x"}}
MOUNT = {"name": "short", "mountPath": "/s"}
SPEC = {
    "serviceAccountName": "robot",
    "containers": [{"name": "c", "image": "x", "command": ["true"], "volumeMounts": [MOUNT]}],
    "volumes": [{"name": "short", "projected": {"sources": [SHORT]}}],
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_first_token_written_is_bound_to_the_pod(
    api: Running, kubectl_bin: Path, tmp_path: Path
) -> None:
    run(kubectl_bin, api, "create", "namespace", "firstread")
    try:
        run(kubectl_bin, api, "create", "serviceaccount", "robot", "-n", "firstread")
        # What the node's account controller publishes in every namespace.
        run(kubectl_bin, api, "create", "configmap", "kube-root-ca.crt", "-n", "firstread",
            "--from-literal=ca.crt=THE-CA")  # fmt: skip
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": SPEC}
        made = run(kubectl_bin, api, "create", "-n", "firstread", "-o", "json", "-f", "-",
                   stdin=json.dumps(pod))  # fmt: skip
        uid = json.loads(made.stdout)["metadata"]["uid"]
        spec = PodSpec.model_validate(SPEC)
        bound = BoundPod(api=api.context, name="p", uid=uid)
        volume_mounts(
            spec,
            spec.containers[0],
            lookup=lambda kind, ns, name: None,  # no legacy Secret is read
            namespace="firstread",
            directory=tmp_path,
            bound=bound,
        )
        short = (tmp_path / "volumes" / "short" / "t").read_text()
        implicit = (tmp_path / "volumes" / "kube-api-access" / "token").read_text()
        for token in (short, implicit):
            assert claims(token)["kubernetes.io"]["pod"] == {"name": "p", "uid": uid}
        assert (tmp_path / "volumes" / "kube-api-access" / "ca.crt").read_text() == "THE-CA"
        assert claims(short)["aud"] == ["x"]
        assert claims(short)["exp"] - claims(short)["iat"] == 600
        who = run(kubectl_bin, api, "auth", "whoami", "-o", "json", f"--token={implicit}")
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == "system:serviceaccount:firstread:robot"
        assert info["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]

        other = BoundPod(api=api.context, name="p", uid="not-its-uid")
        with pytest.raises(PodConfigError, match=r"robot: .*does not match the UID in record"):
            volume_mounts(
                spec,
                spec.containers[0],
                lookup=lambda kind, ns, name: None,
                namespace="firstread",
                directory=tmp_path / "other",
                bound=other,
            )

        # A pod the API does not hold (`podtap local run`'s): the account's legacy token.
        legacy = Secret.model_validate(
            {"metadata": {"name": "robot-token"}, "stringData": {},
             "data": {"token": _b64("legacy"), "ca.crt": _b64("THE-CA")}}
        )  # fmt: skip
        volume_mounts(
            spec,
            spec.containers[0],
            lookup=lambda kind, ns, name: legacy if name == "robot-token" else None,
            namespace="firstread",
            directory=tmp_path / "run",
            bound=BoundPod(api=api.context, name="run-1", uid=""),
        )
        assert (tmp_path / "run" / "volumes" / "short" / "t").read_text() == "legacy"
    finally:
        run(kubectl_bin, api, "delete", "namespace", "firstread", "--wait=false")
