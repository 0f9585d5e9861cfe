"""The kubelet's token manager: each pod's mounted service-account token, bound to the pod.

For every `serviceAccountToken` source of a pod's projected volumes (and the implicit
`kube-api-access` volume of a pod stored without one) the node writes a token that the API
issues for the pod's account, bound to the pod (so it stops working when the pod goes), for
the source's `audience` and `expirationSeconds` (default 1 h). As kubelet does, it asks
again once 80 % of the token's life has passed (or 24 h), and writes the file atomically
(a rename in the volume's directory, which the pod has bind-mounted, so it sees the new one).
A file that changed under it (the pod was started again) is written again at once.

The kubelet part (`podconfig.py`) first writes the account's legacy token there, as it
starts the pod; while a pod created in the last STARTING seconds has no file yet the keeper
looks every FAST seconds (only at those files), so it replaces that token well before the
containers' processes are up.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.serviceaccounts import SA_DIR, projection
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.tokenrequest import DEFAULT_EXPIRATION, issue
from podtap.backends.local.kubeapi.tokens import parse_time
from podtap.backends.local.paths import ClusterPaths

log = logging.getLogger(__name__)
IMPLICIT_VOLUME = "kube-api-access"  # podconfig's directory for a pod stored without one
SAFETY_WAKE = 5.0  # seconds: a pass at least this often, for files written between changes
FAST = 0.01  # seconds between looks at the files of a starting pod
STARTING = 30.0  # seconds after its creation a pod without its files counts as starting


def refresh_at(*, issued: float, expiration: int) -> float:
    """When kubelet asks for a new token: at 80 % of its life, or after 24 h."""
    return issued + min(0.8 * expiration, 24 * 3600.0)


@dataclass(frozen=True)
class Wanted:
    """One token file a pod should hold."""

    file: Path
    namespace: str
    account: str
    pod: str
    pod_uid: str
    audience: str
    expiration: int
    created: float  # the pod's creationTimestamp


@dataclass
class Minted:
    token: bytes
    refresh: float


def _sources(volume: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for source in (volume.get("projected") or {}).get("sources") or ():
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            yield token


def wanted_files(pod: dict[str, Any], directory: Path) -> list[Wanted]:
    """The token files of one Pod object whose volumes live under `directory`."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    volumes = list(spec.get("volumes") or ())
    mounts = [m for c in spec.get("containers") or () for m in c.get("volumeMounts") or ()]
    if spec.get("automountServiceAccountToken") is not False and not any(
        m.get("mountPath") == SA_DIR for m in mounts
    ):
        volumes.append({"name": IMPLICIT_VOLUME, "projected": projection()})
    found = []
    for volume in volumes:
        for source in _sources(volume):
            found.append(
                Wanted(
                    file=directory / "volumes" / str(volume["name"]) / str(source["path"]),
                    namespace=str(meta.get("namespace", "")),
                    account=str(spec.get("serviceAccountName") or "default"),
                    pod=str(meta["name"]),
                    pod_uid=str(meta.get("uid", "")),
                    audience=str(source.get("audience") or ""),
                    expiration=int(source.get("expirationSeconds") or DEFAULT_EXPIRATION),
                    created=parse_time(
                        str(meta.get("creationTimestamp") or "1970-01-01T00:00:00Z")
                    ),
                )
            )
    return found


def _write(file: Path, data: bytes) -> None:
    part = file.with_name(f".{file.name}.podtap-new")
    part.write_bytes(data)
    os.replace(part, file)


class TokenKeeper:
    """Keeps the token files of the node's pods; a pass after each change of the store (the
    system controllers' loop runs it) and when a refresh is due."""

    def __init__(
        self, ctx: ApiContext, paths: ClusterPaths, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.ctx = ctx
        self.paths = paths
        self.clock = clock
        self._minted: dict[Path, Minted] = {}
        self._wanted: list[Wanted] = []

    def sync(self, *, changed: bool = True) -> float:
        """Write what is missing, changed or due (the pods read again from the store when it
        `changed`); the seconds until the next pass is due."""
        now = self.clock()
        if changed:
            self._wanted = [
                want
                for pod in self.ctx.store.items(group="", plural="pods")
                for want in wanted_files(pod, self._directory(pod))
            ]
            for gone in set(self._minted) - {w.file for w in self._wanted}:
                del self._minted[gone]
        starting = False
        for want in self._wanted:
            written = self._keep(want, now=now)
            starting = starting or (not written and now - want.created < STARTING)
        if starting:
            return FAST
        due = min((m.refresh for m in self._minted.values()), default=now + SAFETY_WAKE)
        return max(0.0, min(due - now, SAFETY_WAKE))

    def _directory(self, pod: dict[str, Any]) -> Path:
        return self.paths.pod_dir(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _keep(self, want: Wanted, *, now: float) -> bool:
        """Whether the file is there (and now holds a token of ours)."""
        if not want.file.exists():
            return False  # the pod has not started (or its files are gone)
        minted = self._minted.get(want.file)
        if minted is not None and now < minted.refresh and want.file.read_bytes() == minted.token:
            return True
        bound = {"kind": "Pod", "apiVersion": "v1", "name": want.pod, "uid": want.pod_uid}
        try:
            token, _expires = issue(
                self.ctx,
                namespace=want.namespace,
                account=want.account,
                audiences=[want.audience] if want.audience else None,
                expiration=want.expiration,
                bound=bound,
                now=now,
            )
        except ApiError as e:
            log.warning("token for pod %s/%s: %s", want.namespace, want.pod, e)
            return True  # not a starting pod's: its account is gone
        _write(want.file, token.encode())
        self._minted[want.file] = Minted(
            token.encode(), refresh_at(issued=now, expiration=want.expiration)
        )
        return True
