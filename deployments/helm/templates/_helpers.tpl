{{/* The chart's name, for the app.kubernetes.io/name label. */}}
{{- define "multinic-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: the release name when it already contains the chart's name (the usual
`helm upgrade --install multinic-agent ...`), so `kubectl get daemonset multinic-agent` works as written.
*/}}
{{- define "multinic-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "multinic-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selects the agent's pods; never changes after the first install (a DaemonSet's selector is immutable). */}}
{{- define "multinic-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "multinic-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "multinic-agent.labels" -}}
helm.sh/chart: {{ include "multinic-agent.chart" . }}
{{ include "multinic-agent.selectorLabels" . }}
app.kubernetes.io/component: agent
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "multinic-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "multinic-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the password: the user's own, or the one this chart creates. */}}
{{- define "multinic-agent.secretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-db" (include "multinic-agent.fullname" .) }}
{{- end }}
{{- end }}

{{- define "multinic-agent.secretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else -}}
password
{{- end }}
{{- end }}

{{- define "multinic-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
