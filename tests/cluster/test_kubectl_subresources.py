"""The real kubectl through the pod subresources and scale against `podtap local up` (issue 12,
item 7): logs (tail, follow, a Deployment's), exec (exit codes, stdin, a TTY), attach,
port-forward to a pod and a Service, and scale of Deployments."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import time
import urllib.request
from pathlib import Path

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import EXAMPLES, HELLO, Kubectl

# The shop's pods have `periodSeconds: 0.5`, which the local models take and kubectl's typed
# Pod cannot decode (kubectl logs/exec read the Pod first), so the pods here are kubectl's own.
WEB = (
    HELLO.replace("hello", "web")
    .replace("replicas: 2", "replicas: 1")
    .replace('"-c", "', '"-u", "-c", "print(\'web listening\', flush=True); ')
    .replace(
        "ports: [{containerPort",
        "env: [{name: GREETING, value: hi-there}]\n          ports: [{containerPort",
    )
)

DB = WEB.split("---")[0].replace("Deployment", "StatefulSet").replace("web", "db")


def _pod(kubectl: Kubectl, app: str) -> str:
    pods = kubectl.json("pods", "-l", f"app={app}")["items"]
    return str(sorted(p["metadata"]["name"] for p in pods)[0])


def _in_terminal(kubectl: Kubectl, *args: str) -> str:
    """What kubectl prints when its stdio is a terminal (24x80), as for a person typing."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [str(kubectl.bin), *args], env=kubectl.env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    out = b""
    try:
        while chunk := _read(master):
            out += chunk
    finally:
        os.close(master)
        assert proc.wait(timeout=30) == 0, out
    return out.decode(errors="replace")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: kubectl closed the terminal
        return b""


def _forwarded(kubectl: Kubectl, target: str, port: str) -> str:
    """The body of GET / through `kubectl port-forward TARGET :PORT` (two requests, so
    the second rides a fresh stream pair), or "refused: ..." when the pod side refused."""
    proc = subprocess.Popen(
        [str(kubectl.bin), "port-forward", target, f":{port}"],
        env=kubectl.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), line
        local = int(line.split(":")[1].split()[0])
        bodies = []
        for _ in range(2):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=20) as resp:
                    bodies.append(resp.read().decode())
            except OSError as e:
                return f"refused: {e}"
        assert bodies[0] == bodies[1]
        return bodies[0]
    finally:
        proc.kill()
        proc.wait()


def test_kubectl_logs_exec_attach_scale(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-kubesub")
    c.up(EXAMPLES / "shop")
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl = Kubectl(config, tmp_path)
    kubectl("apply", "-f", "-", stdin=WEB)
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    pod = _pod(kubectl, "web")

    # Logs: whole, tail, a Deployment's, a container by name; a wrong container is refused.
    assert "web listening" in kubectl("logs", pod).stdout
    assert "web listening" in kubectl("logs", "deployment/web").stdout
    assert "web listening" in kubectl("logs", pod, "-c", "web", "--tail", "1").stdout
    assert kubectl("logs", pod, "--tail", "0").stdout == ""
    wrong = kubectl("logs", pod, "-c", "nope", ok=False)
    assert wrong.returncode != 0 and "container nope is not valid" in wrong.stderr
    assert kubectl("logs", pod, "--since", "1h").stdout
    missing = kubectl("logs", "no-such-pod", ok=False)
    assert 'pods "no-such-pod" not found' in missing.stderr

    # Follow: a request to the frontend shows up in the followed log.
    follow = subprocess.Popen(
        [str(kubectl.bin), "logs", "-f", pod],
        env=kubectl.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1)
        c.curl("http://web/healthz")
        assert follow.stdout is not None
        wait_until(
            lambda: "GET /healthz" in follow.stdout.readline(), timeout=20, what="followed log"
        )
    finally:
        follow.kill()
        follow.wait()

    # Exec: output, the exit code, stdin, the container's environment, a TTY.
    done = kubectl("exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert done.returncode == 3 and done.stdout == "out\n" and "err" in done.stderr
    assert kubectl("exec", pod, "--", "hostname").stdout.strip() == pod
    assert kubectl("exec", "-i", pod, "--", "wc", "-c", stdin="hello").stdout.strip() == "5"
    env = kubectl("exec", pod, "-c", "web", "--", "printenv", "GREETING").stdout
    assert env.strip() == "hi-there"
    tty = _in_terminal(kubectl, "exec", "-it", pod, "--", "sh", "-c", "test -t 0 && stty size")
    assert "24 80" in tty, tty
    assert kubectl("exec", "deployment/web", "--", "true").returncode == 0

    # Attach follows the container's output until kubectl stops.
    attach = subprocess.Popen(
        [str(kubectl.bin), "attach", pod],
        env=kubectl.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        c.curl("http://web/whoami")
        assert attach.stdout is not None
        wait_until(lambda: "GET /whoami" in attach.stdout.readline(), timeout=20, what="attach")
    finally:
        attach.kill()
        attach.wait()

    # Port-forward to the pod and through the Service (kubectl picks a pod and its port).
    assert _forwarded(kubectl, f"pod/{pod}", "8000") == pod
    assert _forwarded(kubectl, "svc/web", "80") == pod
    refused = _forwarded(kubectl, f"pod/{pod}", "8999")
    assert refused.startswith("refused"), refused

    # RBAC: pods/log is `get`, pods/exec is `create`, each its own resource.
    alice = tmp_path / "alice.kubeconfig"
    c.podtap("local", "kubeconfig", "--user", "alice", "--out", str(alice))
    kubectl("create", "role", "peek", "--verb=get,list", "--resource=pods,pods/log")
    kubectl("create", "rolebinding", "peek", "--role=peek", "--user=alice")
    assert "web listening" in kubectl("logs", pod, config=alice).stdout
    denied = kubectl("exec", pod, "--", "true", ok=False, config=alice)
    assert 'User "alice" cannot create resource "pods/exec"' in denied.stderr, denied.stderr

    # Scale through the scale subresource.
    kubectl("scale", "deployment/web", "--replicas=3")
    kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert len(kubectl.json("pods", "-l", "app=web")["items"]) == 3
    kubectl("scale", "deployment/web", "--replicas=1")
    wait_until(
        lambda: len(kubectl.json("pods", "-l", "app=web")["items"]) == 1,
        timeout=30,
        what="scale down",
    )
    kubectl("apply", "-f", "-", stdin=DB)
    kubectl("scale", "statefulset/db", "--replicas=2")
    assert kubectl.json("statefulset", "db")["spec"]["replicas"] == 2
    wait_until(
        lambda: sorted(p["name"] for p in c.pods("db-")) == ["db-0", "db-1"],
        timeout=30,
        what="the scaled StatefulSet's pods",
    )
    c.down()
