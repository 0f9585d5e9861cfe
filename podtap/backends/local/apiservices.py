"""What the aggregation layer publishes: the requestheader configuration, APIService status.

`kube-system/extension-apiserver-authentication` tells aggregated API servers whom to trust:
client certificates of the cluster CA, and `X-Remote-*` headers only from a client
certificate of the front-proxy CA named `front-proxy-client`. An APIService is `Available`
when it is served locally or its Service has a ready endpoint (kube-aggregator also probes
the endpoint; here an endpoint that answers nothing shows as 503 on the first request).
"""

from __future__ import annotations

import json
import time

from podtap.backends.local.frontproxy import CLIENT_NAME
from podtap.backends.local.kubeapi.aggregation import endpoint
from podtap.backends.local.kubeapi.store import Obj, Store
from podtap.backends.local.podstatus import iso


def authentication_config(client_ca: str, front_proxy_ca: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": {
            "client-ca-file": client_ca,
            "requestheader-client-ca-file": front_proxy_ca,
            "requestheader-allowed-names": json.dumps([CLIENT_NAME]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        },
    }


def _condition(obj: Obj, status: str, reason: str, message: str) -> Obj:
    old: Obj = next(
        (
            c
            for c in (obj.get("status") or {}).get("conditions") or []
            if c.get("type") == "Available"
        ),
        {},
    )
    since = old.get("lastTransitionTime") if old.get("status") == status else None
    return {
        "type": "Available",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or iso(time.time()),
    }


def availability(store: Store, obj: Obj) -> Obj:
    """The APIService's status: its Available condition."""
    service = (obj.get("spec") or {}).get("service")
    if not service:
        cond = _condition(obj, "True", "Local", "Local APIServices are always available")
    elif endpoint(store, service) is None:
        where = f"{service.get('namespace')}/{service.get('name')}"
        cond = _condition(
            obj, "False", "MissingEndpoints", f"endpoints for service/{where} have no addresses"
        )
    else:
        cond = _condition(obj, "True", "Passed", "all checks passed")
    return {**(obj.get("status") or {}), "conditions": [cond]}
