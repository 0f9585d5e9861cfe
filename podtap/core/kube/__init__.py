"""Sans-IO pieces of the embedded cluster's Kubernetes API server (selectors, RBAC, ...)."""
