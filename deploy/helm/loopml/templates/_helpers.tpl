{{/*
Named templates shared by the chart's objects. Each mirrors a function of
src/loopml/k8s/_pods.py (loopml k8s render); tests/deploy/ renders both and compares
every object, so a change here needs the same change there.
*/}}

{{/* Selector labels. Args: dict "root" $ "component" NAME */}}
{{- define "loopml.selector" -}}
app.kubernetes.io/name: loopml
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels. Args: dict "root" $ "component" NAME */}}
{{- define "loopml.labels" -}}
{{ include "loopml.selector" . }}
app.kubernetes.io/part-of: loopml
app.kubernetes.io/version: {{ .root.Values.image.tag | quote }}
{{- end }}

{{/* Object metadata. Args: dict "root" $ "name" NAME "component" C ["namespace" NS] */}}
{{- define "loopml.meta" -}}
name: {{ .name }}
namespace: {{ .namespace | default .root.Release.Namespace }}
labels:
  {{- include "loopml.labels" . | nindent 2 }}
{{- end }}

{{- define "loopml.controlPlane" -}}{{ .Release.Name }}-control-plane{{- end }}

{{- define "loopml.credentialsSecret" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" .Release.Name) -}}
{{- end }}

{{/* The namespace of a workspace (the release namespace when empty). Args: dict "root" $ "workspace" NAME */}}
{{- define "loopml.namespaceOf" -}}
{{- $ns := .root.Release.Namespace -}}
{{- range .root.Values.workspaces }}{{ if eq .name $.workspace }}{{ $ns = .namespace }}{{ end }}{{ end -}}
{{- $ns -}}
{{- end }}

{{- define "loopml.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "loopml.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "loopml.volumes" -}}
- name: credentials
  secret:
    secretName: {{ include "loopml.credentialsSecret" . }}
    defaultMode: 288
- name: home
  emptyDir: {}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- if .Values.workspaceSecrets }}
- name: workspace-secrets
  secret:
    secretName: {{ .Values.workspaceSecrets }}
    defaultMode: 288
{{- end }}
{{- end }}

{{- define "loopml.volumeMounts" -}}
- name: credentials
  mountPath: /var/run/secrets/loopml/credentials
  readOnly: true
- name: home
  mountPath: /var/lib/loopml
- name: tmp
  mountPath: /tmp
{{- if .Values.workspaceSecrets }}
- name: workspace-secrets
  mountPath: /var/run/secrets/loopml/workspace
  readOnly: true
{{- end }}
{{- end }}

{{- define "loopml.env" -}}
- name: LOOPML_HOME
  value: /var/lib/loopml
- name: AWS_DEFAULT_REGION
  value: {{ .Values.external.s3.region | quote }}
- name: AWS_SHARED_CREDENTIALS_FILE
  value: /var/run/secrets/loopml/credentials/aws-credentials
{{- if .Values.external.s3.endpoint }}
- name: LOOPML_S3_ENDPOINT_URL
  value: {{ .Values.external.s3.endpoint | quote }}
{{- end }}
{{- if .Values.workspaceSecrets }}
- name: LOOPML_SECRETS_BACKEND
  value: files
- name: LOOPML_SECRETS_DIR
  value: /var/run/secrets/loopml/workspace
{{- end }}
{{- end }}

{{/* ServiceAccount, Role, RoleBinding. Args: dict "root" $ "name" N "component" C "namespace" NS "rules" LIST */}}
{{- define "loopml.rbac" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "loopml.meta" . | nindent 2 }}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  {{- include "loopml.meta" . | nindent 2 }}
rules: {{- if .rules }}{{ toYaml .rules | nindent 2 }}{{ else }} []{{ end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  {{- include "loopml.meta" . | nindent 2 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .name }}
    namespace: {{ .namespace }}
{{- end }}

{{/* The credentials Secret in a namespace, unless existingSecret names one. Args: dict "root" $ "namespace" NS */}}
{{- define "loopml.credentials" -}}
{{- $c := .root.Values.credentials -}}
{{- if not $c.existingSecret }}
---
apiVersion: v1
kind: Secret
type: Opaque
metadata:
  {{- include "loopml.meta" (dict "root" .root "name" (include "loopml.credentialsSecret" .root) "component" "credentials" "namespace" .namespace) | nindent 2 }}
stringData:
  auth-token: {{ $c.authToken | quote }}
  db-password: {{ $c.dbPassword | quote }}
  {{- if $c.awsAccessKeyId }}
  aws-credentials: {{ printf "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" $c.awsAccessKeyId $c.awsSecretAccessKey | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* --allowed-hosts: the Service's names. Args: dict "name" N "namespace" NS "extra" LIST */}}
{{- define "loopml.hosts" -}}
{{- $n := .name -}}{{- $ns := .namespace -}}
{{- join "," (concat (list $n (printf "%s.%s" $n $ns) (printf "%s.%s.svc" $n $ns) (printf "%s.%s.svc.cluster.local" $n $ns)) .extra) -}}
{{- end }}

{{- define "loopml.scrape" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/* NetworkPolicy egress rules. */}}
{{- define "loopml.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* Args: dict "root" $ "port" P */}}
{{- define "loopml.externalEgress" -}}
- to:
    - ipBlock:
        cidr: {{ .root.Values.networkPolicy.externalCidr }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}

{{- define "loopml.clients" -}}
- namespaceSelector:
    matchLabels:
      {{- toYaml .Values.networkPolicy.clientNamespaceLabels | nindent 6 }}
- namespaceSelector:
    matchLabels:
      {{- toYaml .Values.networkPolicy.prometheusNamespaceLabels | nindent 6 }}
{{- end }}

{{- define "loopml.toControlPlane" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Release.Namespace }}
      podSelector:
        matchLabels:
          {{- include "loopml.selector" (dict "root" . "component" "control-plane") | nindent 10 }}
  ports:
    - port: {{ .Values.controlPlane.port }}
      protocol: TCP
{{- end }}

{{/* Args: dict "root" $ "namespace" NS */}}
{{- define "loopml.defaultDeny" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "loopml.meta" (dict "root" .root "name" (printf "%s-default-deny" .root.Release.Name) "component" "network" "namespace" .namespace) | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .root.Release.Name }}
  policyTypes: [Ingress, Egress]
{{- end }}

{{/* A list entry merged over its defaults (modelServerDefaults, workspaceDefaults) the way
Helm merges values: mappings key by key, anything else replaced; a false or 0 in the entry
wins (sprig's merge would drop it). Returns JSON. Args: dict "defaults" D "item" I */}}
{{- define "loopml.withDefaults" -}}
{{- $out := dict -}}
{{- range $k, $d := .defaults -}}
{{- if hasKey $.item $k -}}
{{- $v := index $.item $k -}}
{{- if and (kindIs "map" $d) (kindIs "map" $v) -}}
{{- $_ := set $out $k (include "loopml.withDefaults" (dict "defaults" $d "item" $v) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- else -}}
{{- $_ := set $out $k $d -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := .item -}}
{{- if not (hasKey $out $k) }}{{ $_ := set $out $k $v }}{{ end -}}
{{- end -}}
{{- toJson $out -}}
{{- end }}
