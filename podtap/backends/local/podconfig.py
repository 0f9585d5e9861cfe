"""What a pod's containers get from the cluster: environment and volume files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from podtap.backends.local.manifests import ConfigMap, Secret
from podtap.backends.local.models import Container, EnvVar, PodSpec
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


def _field_value(path: str, fields: dict[str, str]) -> str:
    if path not in fields:
        raise PodConfigError(f"fieldRef {path!r} is not supported")
    return fields[path]


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
    env = {
        "PATH": os.environ.get(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
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


def volume_mounts(
    spec: PodSpec, container: Container, *, lookup: Lookup, namespace: str, directory: Path
) -> list[Mount]:
    """Write each volume's files under `directory` and return where to mount them."""
    mounts: list[Mount] = []
    volumes = {v.name: v for v in spec.volumes}
    for vm in container.volume_mounts:
        volume = volumes[vm.name]
        target = directory / "volumes" / volume.name
        if volume.empty_dir is not None:
            target.mkdir(parents=True, exist_ok=True)
            mounts.append(Mount(target, vm.mount_path, vm.read_only))
            continue
        if volume.config_map is not None:
            cm = volume.config_map
            data = _source_data(lookup, "ConfigMap", namespace, cm.name, cm.optional) or {}
            items = cm.items
        else:
            assert volume.secret is not None
            sec = volume.secret
            data = _source_data(lookup, "Secret", namespace, sec.secret_name, sec.optional) or {}
            items = sec.items
        chosen = {i.path: data[i.key] for i in items if i.key in data} if items else data
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for rel, content in chosen.items():
            path = (target / rel).resolve()
            if not path.is_relative_to(target.resolve()):
                raise PodConfigError(f"volume {volume.name}: item path {rel!r} leaves the volume")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        mounts.append(Mount(target, vm.mount_path, read_only=True))
    return mounts
