{{/* Names, labels and the blocks every workload shares. */}}

{{- define "cs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "cs.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "cs.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cs.labels" -}}
app.kubernetes.io/name: {{ include "cs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* cs.selector: (dict "root" $ "component" "gateway") */}}
{{- define "cs.selector" -}}
app.kubernetes.io/name: {{ include "cs.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* cs.image: (dict "root" $ "image" "gateway") -> registry/credit-scoring-gateway:tag */}}
{{- define "cs.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/credit-scoring-%s:%s" .root.Values.image.registry .image $tag -}}
{{- end -}}

{{- define "cs.secretName" -}}
{{- default (printf "%s-secrets" (include "cs.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "cs.esName" -}}
{{- default (printf "%s-es" (include "cs.fullname" .)) .Values.elasticsearch.eck.name -}}
{{- end -}}

{{/* The environment of every service: the ConfigMap, the secrets, and Elasticsearch's address. */}}
{{- define "cs.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "cs.fullname" . }}-config
env:
  - name: API_KEYS
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: API_KEYS}}
  - name: PSEUDONYMISATION_KEY
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: PSEUDONYMISATION_KEY}}
  - name: REDIS_URL
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: REDIS_URL}}
{{- if .Values.elasticsearch.eck.enabled }}
  # ECK creates the elastic user's password, and the CA of its HTTP certificate when TLS is on
  - name: ELASTICSEARCH_URL
    value: "{{ if .Values.elasticsearch.eck.httpTLS }}https{{ else }}http{{ end }}://{{ include "cs.esName" . }}-es-http:9200"
  - name: ELASTICSEARCH_USERNAME
    value: elastic
  - name: ELASTICSEARCH_PASSWORD
    valueFrom: {secretKeyRef: {name: {{ include "cs.esName" . }}-es-elastic-user, key: elastic}}
  {{- if .Values.elasticsearch.eck.httpTLS }}
  - name: ELASTICSEARCH_CA_CERTS
    value: /etc/elasticsearch-ca/ca.crt
  {{- end }}
{{- else }}
  - name: ELASTICSEARCH_URL
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: ELASTICSEARCH_URL}}
  - name: ELASTICSEARCH_USERNAME
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: ELASTICSEARCH_USERNAME, optional: true}}
  - name: ELASTICSEARCH_PASSWORD
    valueFrom: {secretKeyRef: {name: {{ include "cs.secretName" . }}, key: ELASTICSEARCH_PASSWORD, optional: true}}
{{- end }}
{{- end -}}

{{- define "cs.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "cs.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* Writable folders under a read-only root: /tmp and /app/var (spool, reports). */}}
{{- define "cs.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: var
  emptyDir: {}
{{- if and .Values.elasticsearch.eck.enabled .Values.elasticsearch.eck.httpTLS }}
- name: elasticsearch-ca
  secret:
    secretName: {{ include "cs.esName" . }}-es-http-certs-public
{{- end }}
{{- end -}}

{{- define "cs.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: var
  mountPath: /app/var
{{- if and .Values.elasticsearch.eck.enabled .Values.elasticsearch.eck.httpTLS }}
- name: elasticsearch-ca
  mountPath: /etc/elasticsearch-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* cs.pdb: (dict "root" $ "component" "gateway" "minAvailable" 1) */}}
{{- define "cs.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cs.fullname" .root }}-{{ .component }}
  labels:
    {{- include "cs.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  minAvailable: {{ .minAvailable }}
  selector:
    matchLabels:
      {{- include "cs.selector" (dict "root" .root "component" .component) | nindent 6 }}
{{- end -}}
