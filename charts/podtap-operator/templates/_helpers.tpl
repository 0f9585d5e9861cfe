{{/*
Base name of every object. Truncated to 42 characters so that the longest suffix the chart
adds ("-auth-delegator", 15, and the rest) keeps names within the 63 of a DNS label.
*/}}
{{- define "podtap-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 42 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "podtap-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podtap-operator.baseLabels" -}}
app.kubernetes.io/name: {{ include "podtap-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* What the Deployment and the Service select the operator pods by. */}}
{{- define "podtap-operator.selectorLabels" -}}
{{ include "podtap-operator.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels of every object (no component: objects add theirs). */}}
{{- define "podtap-operator.labels" -}}
{{ include "podtap-operator.baseLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podtap
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* registry/repository:tag of a dict with those keys. */}}
{{- define "podtap-operator.imageRef" -}}
{{- if .registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .registry) .repository .tag -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{- define "podtap-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- include "podtap-operator.imageRef" (dict "registry" .Values.image.registry "repository" .Values.image.repository "tag" $tag) -}}
{{- end -}}

{{/* The agent's image: each empty agent.image field takes the operator's. */}}
{{- define "podtap-operator.agentImage" -}}
{{- $a := .Values.agent.image -}}
{{- $registry := default .Values.image.registry $a.registry -}}
{{- $repository := default .Values.image.repository $a.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) $a.tag -}}
{{- include "podtap-operator.imageRef" (dict "registry" $registry "repository" $repository "tag" $tag) -}}
{{- end -}}

{{- define "podtap-operator.agentPullSecrets" -}}
{{- join "," (default .Values.imagePullSecrets .Values.agent.imagePullSecrets) -}}
{{- end -}}

{{- define "podtap-operator.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "podtap-operator.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/*
Namespaces that get a Role and RoleBinding for the namespaced rules when roleNamespaces is
set: the listed ones plus agent.namespace, where the operator creates agent pods.
*/}}
{{- define "podtap-operator.podNamespaces" -}}
{{- $all := .Values.roleNamespaces -}}
{{- if .Values.agent.namespace -}}
{{- $all = append $all .Values.agent.namespace -}}
{{- end -}}
{{- join "," (uniq $all) -}}
{{- end -}}

{{/* Namespaces where the agent ServiceAccount exists (one per line, for users of the SCC). */}}
{{- define "podtap-operator.agentNamespaces" -}}
{{- if .Values.agent.namespace -}}
{{- .Values.agent.namespace -}}
{{- else -}}
{{- join "," .Values.roleNamespaces -}}
{{- end -}}
{{- end -}}

{{/* What the operator does in the namespaces it acts in: targets, agents, events. */}}
{{- define "podtap-operator.namespacedRules" -}}
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods/ephemeralcontainers]
  verbs: [patch, update]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments, statefulsets, replicasets, daemonsets]
  verbs: [get, list, watch, patch]
{{- /* A queue split writes its fallback queues into the workload's env, and back. */}}
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [update]
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch, patch]
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [get, list, watch, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.openshift.enabled }}
- apiGroups: [security.openshift.io]
  resources: [securitycontextconstraints]
  resourceNames: [{{ include "podtap-operator.fullname" . }}-agent]
  verbs: [use]
{{- end }}
{{- end -}}
