"""A test app deployed into the shared shop cluster, with its own agent and port-forwards."""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from podtap.testing.localcluster import LocalCluster, podtap_argv

WEB = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          command: ["{sys.executable}", "-m", "podtap.testing.testapp", "--port", "8000",
                    "--echo-port", "8001", "--h2-port", "8002"]
          ports: [{{containerPort: 8000}}, {{containerPort: 8001}}, {{containerPort: 8002}}]
          readinessProbe: {{tcpSocket: {{port: 8000}}, periodSeconds: 0.2}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports:
    - {{name: http, port: 80, targetPort: 8000}}
    - {{name: echo, port: 81, targetPort: 8001}}
    - {{name: echo-udp, port: 81, targetPort: 8001, protocol: UDP}}
    - {{name: h2, port: 82, targetPort: 8002}}
"""


@contextmanager
def port_forward(cluster: LocalCluster, target: str, remote: int) -> Iterator[int]:
    proc = subprocess.Popen(
        podtap_argv("local", "port-forward", target, f"0:{remote}"),
        env=cluster.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield int(line.split(":")[1].split()[0])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ws_accept(key: bytes) -> bytes:
    magic = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key + magic).digest())


def ws_text_frames(data: bytes) -> tuple[list[str], bytes]:
    """Decode complete masked client text frames; returns (texts, leftover bytes)."""
    texts = []
    while len(data) >= 6:
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            length = struct.unpack("!H", data[2:4])[0]
            offset = 4
        if len(data) < offset + 4 + length:
            break
        mask = data[offset : offset + 4]
        payload = bytes(
            b ^ mask[i % 4] for i, b in enumerate(data[offset + 4 : offset + 4 + length])
        )
        if data[0] & 0x0F == 1:
            texts.append(payload.decode())
        data = data[offset + 4 + length :]
    return texts, data


def ws_server_text(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload
