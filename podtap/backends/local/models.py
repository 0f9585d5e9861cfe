"""The subset of Kubernetes object schemas the embedded cluster runs (pydantic models).

Field names follow Kubernetes (camelCase in YAML). Unknown fields are ignored, as the
images, resources and security settings of real manifests mean nothing to local processes;
known fields are type-checked strictly enough that a typo in a value is reported.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from podtap.backends.local.k8sbase import K8s as K8s  # re-exported: the models base
from podtap.backends.local.security_models import (
    PodSecurityContext,
    SecurityContext,
    non_root_as_root,
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class ObjectMeta(K8s):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    @field_validator("name", "namespace")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _DNS_LABEL.fullmatch(value)):
            raise ValueError(
                f"{value!r} is not a valid name: use lower-case letters, digits and '-' "
                "(at most 63, starting and ending with a letter or digit)"
            )
        return value


class TemplateMeta(K8s):
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class KeyRef(K8s):
    name: str
    key: str
    optional: bool = False


_FIELD_PATHS = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
]
_KEYED_FIELD = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")


class FieldRef(K8s):
    """A downward-API field: the paths kubelet resolves for env (and for files, the whole
    `metadata.labels` / `metadata.annotations` too)."""

    field_path: str

    @field_validator("field_path")
    @classmethod
    def _known(cls, value: str) -> str:
        whole_maps = ("metadata.labels", "metadata.annotations")
        if value not in _FIELD_PATHS and value not in whole_maps and not _KEYED_FIELD.match(value):
            raise ValueError(
                f"fieldPath {value!r} is not supported: use one of {', '.join(_FIELD_PATHS)}, "
                "metadata.labels['KEY'] or metadata.annotations['KEY']"
            )
        return value


class EnvVarSource(K8s):
    config_map_key_ref: KeyRef | None = None
    secret_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None


class EnvVar(K8s):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class NameRef(K8s):
    name: str
    optional: bool = False


class EnvFromSource(K8s):
    prefix: str = ""
    config_map_ref: NameRef | None = None
    secret_ref: NameRef | None = None


class ContainerPort(K8s):
    container_port: PortNumber
    name: str | None = None
    protocol: Literal["TCP", "UDP"] = "TCP"


class TCPSocketAction(K8s):
    port: PortNumber | str


class ExecAction(K8s):
    command: list[str] = Field(min_length=1)


class HTTPHeader(K8s):
    name: str = Field(min_length=1)
    value: str


class HTTPGetAction(K8s):
    """kubelet's GET: `host` defaults to the pod's IP, `port` a number or a port's name."""

    port: PortNumber | str
    path: str = "/"
    host: str = ""
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[HTTPHeader] = []


class Probe(K8s):
    """A probe as kubelet runs it. Periods and delays are whole seconds in the API; the
    local models also take fractions (`podtap local apply` manifests use them)."""

    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    initial_delay_seconds: float = Field(default=0, ge=0)
    period_seconds: float = Field(default=10, gt=0)
    timeout_seconds: float = Field(default=1, gt=0)
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _one_action(self) -> Probe:
        if [self.tcp_socket, self.exec, self.http_get].count(None) != 2:
            raise ValueError("a probe needs exactly one of httpGet, tcpSocket or exec")
        return self


class VolumeMount(K8s):
    name: str
    mount_path: str
    read_only: bool = False

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value == "/":
            raise ValueError("mountPath must be an absolute path other than /")
        return value


class Container(K8s):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] = []
    env: list[EnvVar] = []
    env_from: list[EnvFromSource] = []
    working_dir: str | None = None
    ports: list[ContainerPort] = []
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    volume_mounts: list[VolumeMount] = []
    security_context: SecurityContext | None = None

    @field_validator("command")
    @classmethod
    def _non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("command must not be empty")
        return value

    @model_validator(mode="after")
    def _one_success(self) -> Container:
        for field, probe in (
            ("livenessProbe", self.liveness_probe),
            ("startupProbe", self.startup_probe),
        ):
            if probe is not None and probe.success_threshold != 1:
                raise ValueError(f"{field}.successThreshold: must be 1")
        return self


class EphemeralContainer(Container):
    """A container added to a running pod (`kubectl debug`): no ports or probes; it shares
    the pod's namespaces, the PID namespace included, so `targetContainerName` is met."""

    target_container_name: str | None = None


class KeyToPath(K8s):
    key: str
    path: str


class ConfigMapVolume(K8s):
    name: str
    items: list[KeyToPath] = []
    optional: bool = False


class SecretVolume(K8s):
    secret_name: str
    items: list[KeyToPath] = []
    optional: bool = False


class TokenProjection(K8s):
    path: str
    expiration_seconds: int | None = None
    audience: str | None = None


class DownwardItem(K8s):
    path: str
    field_ref: FieldRef


class DownwardProjection(K8s):
    items: list[DownwardItem] = []


class VolumeProjection(K8s):
    """One source of a projected volume (the service-account token volume's three)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
    service_account_token: TokenProjection | None = None
    config_map: ConfigMapVolume | None = None
    downward_api: DownwardProjection | None = Field(default=None, alias="downwardAPI")


class ProjectedVolume(K8s):
    sources: list[VolumeProjection] = []
    default_mode: int | None = None


class HostPathVolume(K8s):
    """A node directory or file, checked against `type` as kubelet does when mounting."""

    path: str
    type: Literal["", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"] = ""

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("hostPath.path must be an absolute path")
        return value


class Volume(K8s):
    name: str
    config_map: ConfigMapVolume | None = None
    secret: SecretVolume | None = None
    empty_dir: dict[str, object] | None = None
    projected: ProjectedVolume | None = None
    host_path: HostPathVolume | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        sources = (self.config_map, self.secret, self.empty_dir, self.projected, self.host_path)
        if len([s for s in sources if s is not None]) != 1:
            raise ValueError(
                "a volume needs exactly one of configMap, secret, emptyDir, projected or hostPath"
            )
        return self


class PodSpec(K8s):
    containers: list[Container] = Field(min_length=1)
    volumes: list[Volume] = []
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    hostname: str | None = None
    subdomain: str | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    node_name: str | None = None
    host_pid: bool = Field(default=False, alias="hostPID")
    enable_service_links: bool = True
    security_context: PodSecurityContext | None = None
    ephemeral_containers: list[EphemeralContainer] = []

    @model_validator(mode="after")
    def _ephemeral(self) -> PodSpec:
        mounted = {(m.name, m.mount_path) for c in self.containers for m in c.volume_mounts}
        for i, c in enumerate(self.ephemeral_containers):
            where = f"ephemeralContainers[{i}] ({c.name})"
            if c.command is None:
                raise ValueError(f"{where}: command is required (images are not run)")
            if c.ports or c.readiness_probe or c.liveness_probe or c.startup_probe:
                raise ValueError(f"{where}: ephemeral containers may not have ports or probes")
            if any((m.name, m.mount_path) not in mounted for m in c.volume_mounts):
                raise ValueError(
                    f"{where}: the pod's mounts are made when it starts: an ephemeral "
                    "container may mount a volume only where a container of the pod does"
                )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> PodSpec:
        names = {v.name for v in self.volumes}
        seen_ports: dict[tuple[int, str], str] = {}
        for i, c in enumerate(self.containers):
            if non_root_as_root(self.security_context, c.security_context):
                raise ValueError(
                    f"containers[{i}] ({c.name}): runAsNonRoot is set but the container would "
                    "run as root (uid 0): set runAsUser to a non-zero uid"
                )
            if c.command is None:
                raise ValueError(
                    f"containers[{i}] ({c.name}): command is required in the local cluster "
                    "(images are not run): give the command that starts the program"
                )
            for m in c.volume_mounts:
                if m.name not in names:
                    raise ValueError(f"containers[{i}] ({c.name}): no volume named {m.name!r}")
            for p in c.ports:
                key = (p.container_port, p.protocol)
                if key in seen_ports:
                    raise ValueError(
                        f"containers[{i}] ({c.name}): port {p.container_port}/{p.protocol} "
                        f"clashes with container {seen_ports[key]!r} of the same pod"
                    )
                seen_ports[key] = c.name
        return self


class PodTemplate(K8s):
    metadata: TemplateMeta = TemplateMeta()
    spec: PodSpec


class LabelSelector(K8s):
    match_labels: dict[str, str] = Field(min_length=1)


class WorkloadSpec(K8s):
    replicas: int = Field(default=1, ge=0, le=50)
    selector: LabelSelector
    template: PodTemplate
    service_name: str | None = None

    @model_validator(mode="after")
    def _selector_matches(self) -> WorkloadSpec:
        labels = self.template.metadata.labels
        if any(labels.get(k) != v for k, v in self.selector.match_labels.items()):
            raise ValueError("selector.matchLabels do not match template.metadata.labels")
        return self


class ServicePort(K8s):
    port: PortNumber
    target_port: PortNumber | str | None = None
    name: str | None = None
    protocol: Literal["TCP", "UDP"] = "TCP"


class ServiceSpec(K8s):
    selector: dict[str, str] = {}
    ports: list[ServicePort] = Field(min_length=1)
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"

    @model_validator(mode="after")
    def _distinct(self) -> ServiceSpec:
        seen = [(p.port, p.protocol) for p in self.ports]
        if len(seen) != len(set(seen)):
            raise ValueError("ports: the same port and protocol appear twice")
        return self
