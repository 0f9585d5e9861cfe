"""Manifests more than one kubectl test applies."""

from __future__ import annotations

# Two containers, so that a later apply without one sends a strategic `$patch: delete`.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx, ports: [{containerPort: 80}]}
      - {name: side, image: busybox}
"""
