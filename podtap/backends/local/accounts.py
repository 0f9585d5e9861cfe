"""The node's system controllers: what kube-controller-manager and the API server keep.

- `default/kubernetes`, the Service in front of the API server (cluster IP 10.96.0.1:443 →
  the node's 10.244.0.1:6443), written at start as kube-apiserver's reconciler does;
- in every namespace the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap;
- for every ServiceAccount a `kubernetes.io/service-account-token` Secret with an opaque
  token, which is registered with the API's token book (so it authenticates, and TokenReview
  accepts it, as `system:serviceaccount:NS:NAME`) and which the kubelet part mounts into
  pods (`podconfig`); deleting the account deletes the Secret and revokes the token;
- Endpoints and EndpointSlices of Services, from the Pod objects (`endpoints`);
- on the node, each pod's mounted token, bound to the pod and refreshed (`token_keeper`).

One pass after every change of the store (and once at start, before pods run).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets

from podtap.backends.local import endpoints
from podtap.backends.local.apiservices import authentication_config, availability
from podtap.backends.local.kubeapi import semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.serviceaccounts import (
    ROOT_CA,
    SA_ANNOTATION,
    TOKEN_TYPE,
    account_identity,
    token_secret,
)
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.services import KUBERNETES_VIP
from podtap.backends.local.token_keeper import TokenKeeper

KUBERNETES_SERVICE: Obj = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "kubernetes",
        "namespace": "default",
        "labels": {"component": "apiserver", "provider": "kubernetes"},
    },
    "spec": {
        "clusterIP": KUBERNETES_VIP,
        "clusterIPs": [KUBERNETES_VIP],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        "sessionAffinity": "None",
        "type": "ClusterIP",
    },
}


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


class SystemControllers:
    def __init__(self, ctx: ApiContext, *, ca_pem: bytes, front_proxy_ca: bytes = b"") -> None:
        self.objects = ApiObjects(ctx)
        self.ctx = ctx
        self.ca = ca_pem.decode()
        self.front_proxy_ca = front_proxy_ca.decode()
        self._registered: dict[str, str] = {}  # token -> "NS/NAME" of its account
        self._wake = asyncio.Event()

    def _ensure(self, kind: str, obj: Obj) -> None:
        rt = self.objects.type_of(kind)
        assert rt is not None
        meta = obj["metadata"]
        key = self.objects.key(rt, meta.get("namespace", ""), meta["name"])
        if self.ctx.store.get(key) is None:
            body = semantics.prepare_create(rt, obj, namespace=key.namespace)
            self.objects.create(rt, key, body)

    def _write(self, kind: str, obj: Obj) -> None:
        """Create `obj`, or update the stored one when its content differs."""
        rt = self.objects.type_of(kind)
        assert rt is not None
        meta = obj["metadata"]
        key = self.objects.key(rt, meta["namespace"], meta["name"])
        old = self.ctx.store.get(key)
        if old is None:
            self._ensure(kind, obj)
            return
        new = {**old, **{k: v for k, v in obj.items() if k != "metadata"}}
        new["metadata"] = {**old["metadata"], "labels": meta.get("labels") or {}}
        if meta.get("annotations"):
            annotations = {**(old["metadata"].get("annotations") or {}), **meta["annotations"]}
            new["metadata"]["annotations"] = annotations
        if "subsets" not in obj and obj["kind"] == "Endpoints":
            new.pop("subsets", None)
        if new != old:
            self.objects.put(rt, new)

    def sync(self) -> None:
        self._ensure("Service", KUBERNETES_SERVICE)
        nss = self.objects.type_of("Namespace")
        assert nss is not None
        for ns in self.objects.raw_items(nss):
            name = ns["metadata"]["name"]
            if ns["metadata"].get("deletionTimestamp"):
                continue
            meta = {"name": "default", "namespace": name}
            self._ensure(
                "ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
            )
            cm = {"name": ROOT_CA, "namespace": name}
            self._ensure(
                "ConfigMap",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": cm,
                    "data": {"ca.crt": self.ca},
                },
            )
        self._sync_tokens()
        self._sync_endpoints()
        if self.front_proxy_ca:
            self._write("ConfigMap", authentication_config(self.ca, self.front_proxy_ca))
        apiservices = self.objects.type_of("APIService")
        assert apiservices is not None
        for obj in self.objects.raw_items(apiservices):
            status = availability(self.ctx.store, obj)
            if status != obj.get("status"):
                self.ctx.store.put(
                    self.objects.key(apiservices, "", obj["metadata"]["name"]),
                    {**obj, "status": status},
                )

    def _sync_tokens(self) -> None:
        sas = self.objects.type_of("ServiceAccount")
        secrets_rt = self.objects.type_of("Secret")
        assert sas is not None and secrets_rt is not None
        accounts = {
            (a["metadata"]["namespace"], a["metadata"]["name"]): a
            for a in self.objects.raw_items(sas)
            if not a["metadata"].get("deletionTimestamp")
        }
        for (ns, name), account in accounts.items():
            self._ensure("Secret", self._token_secret(ns, name, account["metadata"]["uid"]))
        tokens: dict[str, str] = {}
        for secret in self.objects.raw_items(secrets_rt):
            meta = secret["metadata"]
            account = (meta.get("annotations") or {}).get(SA_ANNOTATION, "")
            if secret.get("type") != TOKEN_TYPE:
                continue
            if (meta["namespace"], account) not in accounts:
                self.ctx.store.delete(self.objects.key(secrets_rt, meta["namespace"], meta["name"]))
                continue
            token = base64.b64decode((secret.get("data") or {}).get("token", "")).decode()
            if token:
                tokens[token] = f"{meta['namespace']}/{account}"
        for token in set(self._registered) - set(tokens):
            self.ctx.tokens.remove(token)
        for token, who in tokens.items():
            ns, name = who.split("/", 1)
            self.ctx.tokens.add(token, account_identity(ns, name))
        self._registered = tokens

    def _token_secret(self, namespace: str, account: str, uid: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": TOKEN_TYPE,
            "metadata": {
                "name": token_secret(account),
                "namespace": namespace,
                "annotations": {SA_ANNOTATION: account, "kubernetes.io/service-account.uid": uid},
            },
            "data": {
                "token": _b64(secrets.token_urlsafe(32)),
                "ca.crt": _b64(self.ca),
                "namespace": _b64(namespace),
            },
        }

    def _sync_endpoints(self) -> None:
        services_rt = self.objects.type_of("Service")
        pods_rt = self.objects.type_of("Pod")
        eps_rt = self.objects.type_of("Endpoints")
        assert services_rt is not None and pods_rt is not None and eps_rt is not None
        pods = self.objects.raw_items(pods_rt)
        services = [s for s in self.objects.raw_items(services_rt) if endpoints.wanted(s)]
        for svc in services:
            self._write("Endpoints", endpoints.endpoints_object(svc, pods))
            self._write("EndpointSlice", endpoints.slice_object(svc, pods))
        names = {
            (s["metadata"]["namespace"], s["metadata"]["name"])
            for s in self.objects.raw_items(services_rt)
        }
        for ep in self.objects.raw_items(eps_rt):
            meta = ep["metadata"]
            managed = endpoints.MANAGED in (meta.get("annotations") or {})
            if managed and (meta["namespace"], meta["name"]) not in names:
                self.ctx.store.delete(Key("", "endpoints", meta["namespace"], meta["name"]))

    def changed(self, *_: object) -> None:
        self._wake.set()

    async def run(self, *, pod_tokens: TokenKeeper | None = None) -> None:
        """Sync after every change; with `pod_tokens`, keep the pods' token files too (after
        each change, and when one is due or a pod is starting)."""
        unlisten = self.ctx.store.listen(self.changed)
        try:
            wait = pod_tokens.sync() if pod_tokens is not None else None
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                woke = self._wake.is_set()
                if woke:
                    self._wake.clear()
                    self.sync()
                wait = pod_tokens.sync(changed=woke) if pod_tokens is not None else None
                if woke:  # a burst of changes is one pass (a starting pod's files: sooner)
                    await asyncio.sleep(min(0.05, wait or 0.05))
        finally:
            unlisten()
