"""Local models of the workloads whose pods the node's controllers make from a template.

A ReplicaSet is a Deployment's pod set for one template; a DaemonSet runs one pod on each
node (the local cluster has one); a Job runs pods to completion. Their templates are
checked as any pod the node runs (`models.PodSpec`); the Deployment keeps its own model in
`manifests` (the host's `podtap local apply` reads it there).
"""

from __future__ import annotations

from pydantic import Field

from podtap.backends.local.models import K8s, LabelSelector, ObjectMeta, PodTemplate, WorkloadSpec


class ReplicaSet(K8s):
    metadata: ObjectMeta
    spec: WorkloadSpec


class DaemonSetSpec(K8s):
    selector: LabelSelector
    template: PodTemplate


class DaemonSet(K8s):
    metadata: ObjectMeta
    spec: DaemonSetSpec


class JobSpec(K8s):
    template: PodTemplate
    parallelism: int = Field(default=1, ge=0)
    completions: int | None = Field(default=None, ge=0)
    backoff_limit: int = Field(default=6, ge=0)
    suspend: bool = False


class Job(K8s):
    metadata: ObjectMeta
    spec: JobSpec


MODELS: dict[str, type[K8s]] = {"ReplicaSet": ReplicaSet, "DaemonSet": DaemonSet, "Job": Job}
