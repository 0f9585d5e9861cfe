"""What a pod's containers get from the cluster: environment and volume files."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.serviceaccounts import (
    ROOT_CA,
    SA_DIR,
    projection,
    token_secret,
)
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.store import Key
from podtap.backends.local.kubeapi.tokenrequest import DEFAULT_EXPIRATION, issue
from podtap.backends.local.manifests import ConfigMap, Secret
from podtap.backends.local.models import (
    Container,
    EnvVar,
    HostPathVolume,
    PodSpec,
    ProjectedVolume,
    TokenProjection,
)
from podtap.backends.local.sandbox import Mount

Lookup = Callable[[str, str, str], object | None]
"""lookup(kind, namespace, name) -> the stored object's model, or None."""


class PodConfigError(RuntimeError):
    """A referenced ConfigMap, Secret or key is missing; the pod waits for it."""


def _source_data(
    lookup: Lookup, kind: str, namespace: str, name: str, optional: bool
) -> dict[str, bytes] | None:
    obj = lookup(kind, namespace, name)
    if isinstance(obj, ConfigMap):
        return {k: v.encode() for k, v in obj.data.items()}
    if isinstance(obj, Secret):
        return obj.decoded()
    if optional:
        return None
    raise PodConfigError(f"{kind} {namespace}/{name} not found")


NODE_NAME = "podtap-local"
"""The node's name, as `controllers.NODE_NAME` (which imports the pod runtime, so this
module cannot import it; a test keeps the two equal)."""
_KEYED = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DownwardSource:
    """What the downward API reads of a pod (as kubelet resolves `fieldRef`)."""

    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    node_name: str
    service_account: str
    pod_ip: str
    host_ip: str


def downward_fields(src: DownwardSource) -> dict[str, str]:
    """Every `fieldRef` path's value; a label or annotation as `metadata.labels['k']`, the
    whole maps as kubelet writes them to a file (`k="v"` lines, sorted)."""
    fields = {
        "metadata.name": src.name,
        "metadata.namespace": src.namespace,
        "metadata.uid": src.uid,
        "spec.nodeName": src.node_name,
        "spec.serviceAccountName": src.service_account,
        "status.hostIP": src.host_ip,
        "status.hostIPs": src.host_ip,
        "status.podIP": src.pod_ip,
        "status.podIPs": src.pod_ip,
    }
    for kind, values in (("labels", src.labels), ("annotations", src.annotations)):
        fields[f"metadata.{kind}"] = "".join(
            f"{k}={json.dumps(v)}\n" for k, v in sorted(values.items())
        )
        fields.update({f"metadata.{kind}['{k}']": v for k, v in values.items()})
    return fields


def _field_value(path: str, fields: dict[str, str]) -> str:
    if path in fields:
        return fields[path]
    if _KEYED.match(path):
        return ""  # a label or annotation the pod does not have: empty, as kubelet gives
    raise PodConfigError(f"fieldRef {path!r} is not supported")


def _env_value(
    var: EnvVar, *, lookup: Lookup, namespace: str, fields: dict[str, str]
) -> str | None:
    src = var.value_from
    if src is None:
        return var.value or ""
    if src.field_ref is not None:
        return _field_value(src.field_ref.field_path, fields)
    ref, kind = (
        (src.config_map_key_ref, "ConfigMap")
        if src.config_map_key_ref
        else (src.secret_key_ref, "Secret")
    )
    if ref is None:
        raise PodConfigError(f"env {var.name}: valueFrom needs a source")
    data = _source_data(lookup, kind, namespace, ref.name, ref.optional)
    if data is None:
        return None
    if ref.key not in data:
        if ref.optional:
            return None
        raise PodConfigError(f"env {var.name}: key {ref.key!r} not in {kind} {ref.name}")
    return data[ref.key].decode(errors="replace")


def container_env(
    container: Container,
    *,
    lookup: Lookup,
    namespace: str,
    fields: dict[str, str],
    service_env: dict[str, str],
) -> dict[str, str]:
    """The container's environment, in Kubernetes' order: services, envFrom, env."""
    path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    here = str(Path(sys.executable).parent)  # podtap's own bin: an agent pod runs `podtap`
    env = {
        "PATH": path if here in path.split(":") else f"{path}:{here}",
        "HOME": "/root",
        "HOSTNAME": fields["metadata.name"],
        **service_env,
    }
    for source in container.env_from:
        ref, kind = (
            (source.config_map_ref, "ConfigMap")
            if source.config_map_ref
            else (source.secret_ref, "Secret")
        )
        if ref is None:
            continue
        data = _source_data(lookup, kind, namespace, ref.name, ref.optional) or {}
        env.update({source.prefix + k: v.decode(errors="replace") for k, v in data.items()})
    for var in container.env:
        value = _env_value(var, lookup=lookup, namespace=namespace, fields=fields)
        if value is not None:
            env[var.name] = value
    return env


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundPod:
    """The pod its tokens are bound to and the API that issues them (kubelet's token
    manager asks for the same: the token keeper renews what is written here)."""

    api: ApiContext
    name: str
    uid: str


def _token(
    source: TokenProjection, *, bound: BoundPod | None, lookup: Lookup, namespace: str, account: str
) -> bytes:
    """A projected token: bound to the pod; the account's legacy token without an API or for
    a pod the API does not hold (`podtap local run`'s, which the node alone runs)."""
    if bound is not None and bound.api.store.get(Key("", "pods", namespace, bound.name)) is None:
        bound = None
    if bound is None:
        data = _source_data(lookup, "Secret", namespace, token_secret(account), False) or {}
        if "token" not in data:
            raise PodConfigError(f"the token of service account {namespace}/{account}")
        return data["token"]
    ref = {"kind": "Pod", "apiVersion": "v1", "name": bound.name, "uid": bound.uid}
    try:
        token, _expires = issue(
            bound.api,
            namespace=namespace,
            account=account,
            audiences=[source.audience] if source.audience else None,
            expiration=source.expiration_seconds or DEFAULT_EXPIRATION,
            bound=ref,
        )
    except ApiError as exc:
        raise PodConfigError(f"the token of service account {namespace}/{account}: {exc}") from None
    return token.encode()


def _root_ca(spec: PodSpec, *, bound: BoundPod | None, lookup: Lookup, namespace: str) -> bytes:
    """The cluster's CA, from `kube-root-ca.crt` in the API (the local models take names
    for DNS labels, so without the API it is read from the account's token Secret, which
    holds the same CA)."""
    if bound is not None:
        cm = bound.api.store.get(Key("", "configmaps", namespace, ROOT_CA)) or {}
        if "ca.crt" in (cm.get("data") or {}):
            return str(cm["data"]["ca.crt"]).encode()
    account = spec.service_account_name or "default"
    data = _source_data(lookup, "Secret", namespace, token_secret(account), False) or {}
    if "ca.crt" not in data:
        raise PodConfigError(f"ConfigMap {namespace}/{ROOT_CA} not found")
    return data["ca.crt"]


def _projected(
    volume: ProjectedVolume,
    *,
    spec: PodSpec,
    lookup: Lookup,
    namespace: str,
    fields: dict[str, str],
    bound: BoundPod | None = None,
) -> dict[str, bytes]:
    """The files of a projected volume: the pod's token, ConfigMap keys, downward API."""
    files: dict[str, bytes] = {}
    for source in volume.sources:
        if source.service_account_token is not None:
            account = spec.service_account_name or "default"
            files[source.service_account_token.path] = _token(
                source.service_account_token,
                bound=bound,
                lookup=lookup,
                namespace=namespace,
                account=account,
            )
        elif source.config_map is not None and source.config_map.name == ROOT_CA:
            files["ca.crt"] = _root_ca(spec, bound=bound, lookup=lookup, namespace=namespace)
        elif source.config_map is not None:
            cm = source.config_map
            got = _source_data(lookup, "ConfigMap", namespace, cm.name, cm.optional) or {}
            files.update(
                {i.path: got[i.key] for i in cm.items if i.key in got} if cm.items else got
            )
        elif source.downward_api is not None:
            for item in source.downward_api.items:
                files[item.path] = _field_value(item.field_ref.field_path, fields).encode()
    return files


def _write_volume(target: Path, name: str, chosen: dict[str, bytes]) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for rel, content in chosen.items():
        path = (target / rel).resolve()
        if not path.is_relative_to(target.resolve()):
            raise PodConfigError(f"volume {name}: item path {rel!r} leaves the volume")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _files(
    spec: PodSpec,
    name: str,
    *,
    lookup: Lookup,
    namespace: str,
    fields: dict[str, str],
    bound: BoundPod | None,
) -> dict[str, bytes]:
    volume = next(v for v in spec.volumes if v.name == name)
    if volume.projected is not None:
        return _projected(
            volume.projected,
            spec=spec,
            lookup=lookup,
            namespace=namespace,
            fields=fields,
            bound=bound,
        )
    if volume.config_map is not None:
        cm = volume.config_map
        data = _source_data(lookup, "ConfigMap", namespace, cm.name, cm.optional) or {}
        items = cm.items
    else:
        assert volume.secret is not None
        sec = volume.secret
        data = _source_data(lookup, "Secret", namespace, sec.secret_name, sec.optional) or {}
        items = sec.items
    return {i.path: data[i.key] for i in items if i.key in data} if items else data


def host_path(volume: HostPathVolume) -> Path:
    """The node path of a hostPath volume, made or checked according to its type as kubelet
    does before mounting it (`''`: no check; a missing path becomes a directory, as the
    container runtime makes the source of a bind mount)."""
    path, kind = Path(volume.path), volume.type
    try:
        if not path.exists() and kind in ("", "DirectoryOrCreate"):
            path.mkdir(mode=0o755, parents=True)
        elif not path.exists() and kind == "FileOrCreate":
            with open(path, "x"):
                pass
            path.chmod(0o644)
        mode = path.stat().st_mode if path.exists() else 0
    except OSError as exc:
        raise PodConfigError(f"hostPath {volume.path}: {exc.strerror}") from None
    wrong = {
        "Directory": "a directory",
        "DirectoryOrCreate": "a directory",
        "File": "a file",
        "FileOrCreate": "a file",
        "Socket": "a socket file",
    }.get(kind)
    checks = {
        "a directory": stat.S_ISDIR,
        "a file": stat.S_ISREG,
        "a socket file": stat.S_ISSOCK,
    }
    if wrong is not None and not checks[wrong](mode):
        raise PodConfigError(f"hostPath type check failed: {volume.path} is not {wrong}")
    return path


def volume_mounts(
    spec: PodSpec,
    container: Container,
    *,
    lookup: Lookup,
    namespace: str,
    directory: Path,
    fields: dict[str, str] | None = None,
    bound: BoundPod | None = None,
) -> list[Mount]:
    """Write each volume's files under `directory` and return where to mount them.

    A pod stored without the service-account volume (one a controller of the node made,
    which admission did not see) gets it all the same, as kube-apiserver would have added it.
    Its tokens are bound to the pod from the first write when `bound` says which it is.
    """
    fields = fields or {"metadata.namespace": namespace}
    mounts: list[Mount] = []
    volumes = {v.name: v for v in spec.volumes}
    for vm in container.volume_mounts:
        volume = volumes[vm.name]
        target = directory / "volumes" / volume.name
        if volume.host_path is not None:
            mounts.append(Mount(host_path(volume.host_path), vm.mount_path, vm.read_only))
            continue
        if volume.empty_dir is not None:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)  # as kubelet makes it: any of the pod's users may write
            mounts.append(Mount(target, vm.mount_path, vm.read_only))
            continue
        chosen = _files(
            spec, vm.name, lookup=lookup, namespace=namespace, fields=fields, bound=bound
        )
        _write_volume(target, volume.name, chosen)
        mounts.append(Mount(target, vm.mount_path, read_only=True))
    if spec.automount_service_account_token is not False and not any(
        m.mount_path == SA_DIR for m in container.volume_mounts
    ):
        implicit = ProjectedVolume.model_validate(projection())
        target = directory / "volumes" / "kube-api-access"
        chosen = _projected(
            implicit, spec=spec, lookup=lookup, namespace=namespace, fields=fields, bound=bound
        )
        _write_volume(target, "kube-api-access", chosen)
        mounts.append(Mount(target, SA_DIR, read_only=True))
    return mounts
