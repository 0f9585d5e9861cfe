"""The Kubernetes REST API of the embedded cluster, served over HTTPS (issue 12).

A component: `app.build_app(ctx)` is an aiohttp app the node mounts, `app.serving()` runs it
on its own. Objects, discovery, OpenAPI, watch, CRDs, deletion and garbage collection live
here; the decisions of patches, server-side apply, selectors, RBAC and impersonation are the
pure modules of podtap/core/kube/, called from `patching`, `selection`, `authz`, `reviews`
and `rbac_objects`.
"""
