{{/* The release name prefixes every object: kraft -> kraft, kraft-headless, kraft-config. */}}
{{- define "kraftd.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "kraftd.selectorLabels" -}}
app.kubernetes.io/name: kraftd
app.kubernetes.io/instance: {{ include "kraftd.fullname" . }}
{{- end -}}

{{- define "kraftd.labels" -}}
{{ include "kraftd.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "kraftd.validate" -}}
{{- if not (has (int .Values.replicas) (list 3 5)) -}}
{{- fail "replicas must be 3 or 5" -}}
{{- end -}}
{{- if not (has .Values.podAntiAffinity (list "hard" "soft")) -}}
{{- fail "podAntiAffinity must be hard or soft" -}}
{{- end -}}
{{- if and (not .Values.tls.enabled) (not .Values.allowPlaintext) -}}
{{- fail "tls.enabled=false serves plaintext gRPC: set allowPlaintext=true to accept that (throwaway clusters only)" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.secretName is required when tls.enabled" -}}
{{- end -}}
{{- if not (has .Values.tls.clientAuth (list "required" "optional" "none")) -}}
{{- fail "tls.clientAuth must be required, optional or none" -}}
{{- end -}}
{{- end -}}
