"""The restricted security context a hardened chart asks (podtap's own chart does), run for
real by `podtap local up`: a read-only root filesystem with writable volumes, no privilege
escalation, a non-root user, and the runtime's default seccomp profile; a Localhost profile,
which the node cannot load, is refused at admission."""

from __future__ import annotations

from pathlib import Path

import podtap
from podtap.testing.localcluster import LocalCluster
from tests.cluster.test_kubectl_local import Kubectl

HARDENED = """
apiVersion: v1
kind: Secret
metadata: {name: tls}
stringData: {tls.key: secret-key}
---
apiVersion: v1
kind: Pod
metadata: {name: hardened}
spec:
  securityContext:
    runAsUser: 65532
    runAsGroup: 65532
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  volumes:
    - {name: tmp, emptyDir: {}}
    - {name: tls, secret: {secretName: tls}}
  containers:
    - name: app
      image: busybox
      command: ["sleep", "3600"]
      volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: tls, mountPath: /etc/tls, readOnly: true}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
        seccompProfile: {type: Unconfined}
"""
LOCALHOST = """
apiVersion: v1
kind: Pod
metadata: {name: custom-seccomp}
spec:
  securityContext: {seccompProfile: {type: Localhost, localhostProfile: my.json}}
  containers: [{name: app, image: busybox, command: ["sleep", "3600"]}]
"""


def test_a_hardened_pod_runs_as_asked(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-hardened")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("apply", "-f", "-", stdin=HARDENED)
    kubectl("wait", "--for=condition=Ready", "pod/hardened", "--timeout=60s")
    root = kubectl("exec", "hardened", "--", "sh", "-c", "echo x > /x", ok=False)
    assert root.returncode != 0 and "Read-only file system" in root.stderr, root.stderr
    assert not Path("/x").exists()
    kubectl("exec", "hardened", "--", "sh", "-c", "echo x > /tmp/x && cat /tmp/x")
    assert kubectl("exec", "hardened", "--", "id", "-u").stdout.strip() == "65532"
    key = kubectl("exec", "hardened", "--", "cat", "/etc/tls/tls.key").stdout
    assert key == "secret-key"  # a Secret volume is readable by the pod's user (0644)
    status = kubectl("exec", "hardened", "--", "grep", "NoNewPrivs", "/proc/self/status")
    assert status.stdout.split() == ["NoNewPrivs:", "1"]
    refused = kubectl("apply", "-f", "-", stdin=LOCALHOST, ok=False)
    assert refused.returncode != 0
    assert "spec.securityContext.seccompProfile" in refused.stderr, refused.stderr


def test_a_volume_over_podtaps_install_does_not_hide_it(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    """Here the host's filesystem stands in for the image: an emptyDir mounted over a parent
    of podtap's install (the chart's /tmp, when podtap lives under /tmp) must not hide it,
    as no volume hides an image's /usr."""
    parent = Path(podtap.__file__).resolve().parents[2]  # above the source tree and venv
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: over}}
spec:
  volumes: [{{name: scratch, emptyDir: {{}}}}]
  containers:
    - name: app
      image: podtap
      command: ["sleep", "3600"]
      readinessProbe: {{exec: {{command: ["podtap", "--version"]}}, periodSeconds: 1}}
      volumeMounts: [{{name: scratch, mountPath: {parent}}}]
"""
    c = make_cluster("t-overinstall")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("apply", "-f", "-", stdin=pod)
    kubectl("wait", "--for=condition=Ready", "pod/over", "--timeout=60s")  # podtap ran
    assert kubectl("exec", "over", "--", "podtap", "--version").stdout.startswith("podtap ")
    listed = kubectl("exec", "over", "--", "ls", "-A", str(parent)).stdout.split()
    source = Path(podtap.__file__).resolve().parents[1]
    assert listed == [source.name]  # the (empty) volume, podtap's install bound on it
