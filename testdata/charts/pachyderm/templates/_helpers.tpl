{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{- define "pachyderm.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "pachyderm.podAnnotations" -}}
{{- with . }}
annotations:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
