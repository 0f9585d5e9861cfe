"""The Kubernetes REST API of the embedded cluster, served over HTTPS (issue 12).

A component: `app.build_app(ctx)` is an aiohttp app the node mounts, `app.serving()` runs it
on its own. Objects, discovery, OpenAPI, watch and CRDs live here; patches, selectors and RBAC
come from podtap/core/kube/ through `seams.py`.
"""
