"""The operator's ClusterBackend over the Kubernetes API (see `backend.py`)."""

from podtap.backends.kubernetes.backend import KubernetesBackend
from podtap.backends.kubernetes.config import ConfigError
from podtap.backends.kubernetes.discovery import UnknownKind

__all__ = ["ConfigError", "KubernetesBackend", "UnknownKind"]
