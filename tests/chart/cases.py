"""The sets of values the chart is rendered with (the issue's matrix, and one with everything)."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.chart.render import Obj

SAMPLES = Path(__file__).parent / "samples"
CA_BUNDLE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
REGISTRY = "registry.corp.example:5000/mirror"

CASES: dict[str, Obj] = {
    "defaults": {},
    "openshift": {"openshift": {"enabled": True}},
    "openshift-agent-namespace": {
        "openshift": {"enabled": True},
        "agent": {
            "namespace": "podtap-agents",
            "serviceAccount": {"name": "podtap-agent", "create": True},
            "privileged": True,
        },
    },
    "internal-registry": {"image": {"registry": REGISTRY}, "imagePullSecrets": ["corp-pull"]},
    # agent.namespace among them: one Role there, not two.
    "role-namespaces": {"roleNamespaces": ["shop", "billing"], "agent": {"namespace": "shop"}},
    "tls-given": {"tls": {"secretName": "operator-tls", "caBundle": CA_BUNDLE.decode()}},
    "agent-ephemeral": {"agent": {"ephemeral": True}},
    "replicas-2": {"replicas": 2},
    "metrics": {"metrics": {"enabled": True, "serviceMonitor": {"enabled": True}}},
    "api-service-off": {"apiService": {"enabled": False}, "crds": {"keep": True}},
    "everything": {
        "replicas": 3,
        "roleNamespaces": ["shop"],
        "agent": {"namespace": "podtap-agents", "ephemeral": True, "linger": 0},
        "openshift": {"enabled": True},
        "metrics": {"enabled": True, "port": 9100, "serviceMonitor": {"enabled": True}},
        "rbac": {"aggregateToDefaultRoles": True},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "dev"}],
        "podAnnotations": {"example.com/team": "dev"},
        "podLabels": {"team": "dev"},
        "serviceAccount": {"annotations": {"example.com/role": "podtap"}},
        "logLevel": "debug",
        "jsonLog": True,
        "sessions": {"unusedTtl": 12, "setupDeadline": 60, "maxTime": 3600},
    },
}
