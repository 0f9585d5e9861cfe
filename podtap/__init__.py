"""podtap: run local code as if it were inside a pod of a shared cluster."""

__version__ = "0.1.0"
