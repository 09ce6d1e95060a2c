{{/*
usersync.name is the chart name, or nameOverride.
*/}}
{{- define "usersync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
usersync.fullname is the release's name prefix, and the CronJob's name, so
that `kubectl create job --from=cronjob/<release>-usersync` works. The Job
controller appends 11 characters to a CronJob's name, and a Job name is a
63-character label, so it is cut at 52.
*/}}
{{- define "usersync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
usersync.incrementalName is the incremental CronJob's name,
"<fullname>-incremental", the fullname cut to 40 characters so that it
stays within the 52 a CronJob's name may have (see usersync.fullname).
*/}}
{{- define "usersync.incrementalName" -}}
{{- printf "%s-incremental" (include "usersync.fullname" . | trunc 40 | trimSuffix "-") }}
{{- end }}

{{/*
usersync.componentName is "<fullname>-<component>"; call it with
(list . "api").
*/}}
{{- define "usersync.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "usersync.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
usersync.chart is name-version, for the helm.sh/chart label.
*/}}
{{- define "usersync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
usersync.selectorLabels select one component's pods; call with
(list . "api"). They never change across upgrades (selectors are immutable).
*/}}
{{- define "usersync.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "usersync.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
usersync.labels are every object's labels; call with (list . "api").
*/}}
{{- define "usersync.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "usersync.chart" $root }}
{{ include "usersync.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: usersync
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
usersync.image is the image reference; a digest wins over the tag, and the
tag defaults to the chart's appVersion (what the release workflow
publishes).
*/}}
{{- define "usersync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
usersync.pushgatewayInstance is the grouping label instance of usersync's
pushes: metrics.pushgatewayInstance rendered as a template (by default
"<namespace>/<release>"); empty pushes without one.
*/}}
{{- define "usersync.pushgatewayInstance" -}}
{{- tpl .Values.metrics.pushgatewayInstance . }}
{{- end }}

{{/*
usersync.postgresql.enabled is "true" when the bundled PostgreSQL runs: it
is on in values and no external database is given.
*/}}
{{- define "usersync.postgresql.enabled" -}}
{{- if and .Values.postgresql.enabled (not .Values.externalDatabase.url) (not .Values.externalDatabase.existingSecret) }}true{{ end }}
{{- end }}

{{/*
usersync.database.secretName and .secretKey locate the external database's
URL (DATABASE_URL).
*/}}
{{- define "usersync.database.secretName" -}}
{{- default (include "usersync.componentName" (list . "database")) .Values.externalDatabase.existingSecret }}
{{- end }}

{{- define "usersync.database.secretKey" -}}
{{- if .Values.externalDatabase.existingSecret }}{{ .Values.externalDatabase.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/*
usersync.postgresql.name is the bundled PostgreSQL's StatefulSet and
Service. At most 52 characters: its pods carry the label
controller-revision-hash=<name>-<hash of up to 10 characters>, which must fit
in 63.
*/}}
{{- define "usersync.postgresql.name" -}}
{{- include "usersync.componentName" (list . "postgresql") | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
usersync.postgresql.secretName and .secretKey locate the bundled
PostgreSQL's password: postgresql.existingSecret, or the Secret the chart
generates once and keeps.
*/}}
{{- define "usersync.postgresql.secretName" -}}
{{- default (include "usersync.componentName" (list . "database")) .Values.postgresql.existingSecret }}
{{- end }}

{{- define "usersync.postgresql.secretKey" -}}
{{- if .Values.postgresql.existingSecret }}{{ .Values.postgresql.existingSecretKey }}{{ else }}postgres-password{{ end }}
{{- end }}

{{/*
usersync.postgresql.url is the bundled PostgreSQL's URL without the
password, which processes get as PGPASSWORD (libpq's and pgx's variable) from
its Secret: so the URL holds no secret, and the password may come from a
Secret the chart never reads.
*/}}
{{- define "usersync.postgresql.url" -}}
{{- printf "postgres://%s@%s.%s.svc:5432/%s?sslmode=disable" .Values.postgresql.username (include "usersync.postgresql.name" .) .Release.Namespace .Values.postgresql.database }}
{{- end }}

{{/*
usersync.snipeit.secretName and .secretKey locate the Snipe-IT token.
*/}}
{{- define "usersync.snipeit.secretName" -}}
{{- default (include "usersync.componentName" (list . "snipeit")) .Values.snipeit.existingSecret }}
{{- end }}

{{- define "usersync.snipeit.secretKey" -}}
{{- if .Values.snipeit.existingSecret }}{{ .Values.snipeit.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/*
usersync.apiTokens.secretName and .secretKey locate usersapi's tokens file.
*/}}
{{- define "usersync.apiTokens.secretName" -}}
{{- default (include "usersync.componentName" (list . "api-tokens")) .Values.api.tokens.existingSecret }}
{{- end }}

{{- define "usersync.apiTokens.secretKey" -}}
{{- if .Values.api.tokens.existingSecret }}{{ .Values.api.tokens.existingSecretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{/*
usersync.webhook.secretName and .secretKey locate the webhook's secret.
*/}}
{{- define "usersync.webhook.secretName" -}}
{{- default (include "usersync.componentName" (list . "webhook")) .Values.api.webhook.existingSecret }}
{{- end }}

{{- define "usersync.webhook.secretKey" -}}
{{- if .Values.api.webhook.existingSecret }}{{ .Values.api.webhook.existingSecretKey }}{{ else }}secret{{ end }}
{{- end }}

{{/*
usersync.keptRandom is the value under key of a generated Secret found by
lookup, or, when there is none yet, a new random one of n alphanumeric
characters (URL-safe); call with (list $live key n). Generated secrets are
made once and read back by every later render (secrets.yaml).
*/}}
{{- define "usersync.keptRandom" -}}
{{- $live := index . 0 }}{{ $key := index . 1 }}{{ $n := index . 2 }}
{{- $kept := dig "data" $key "" (default dict $live) }}
{{- if $kept }}{{ b64dec $kept }}{{ else }}{{ randAlphaNum $n }}{{ end }}
{{- end }}

{{/*
usersync.databaseEnv is how every container that reaches the database finds
it: the bundled PostgreSQL's URL and PGPASSWORD from its Secret, or the
external database's URL from its Secret.
*/}}
{{- define "usersync.databaseEnv" -}}
{{- if include "usersync.postgresql.enabled" . -}}
- name: DATABASE_URL
  value: {{ include "usersync.postgresql.url" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "usersync.postgresql.secretName" . }}
      key: {{ include "usersync.postgresql.secretKey" . }}
{{- else -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "usersync.database.secretName" . }}
      key: {{ include "usersync.database.secretKey" . }}
{{- end }}
{{- end }}

{{/*
usersync.databaseWaitEnv is DATABASE_WAIT: how long usersync waits for a
database that is still starting.
*/}}
{{- define "usersync.databaseWaitEnv" -}}
- name: DATABASE_WAIT
  value: "{{ .Values.databaseWaitSeconds }}s"
{{- end }}

{{/*
usersync.pushgatewayEnv is PUSHGATEWAY_URL from its Secret (it may carry
credentials: a literal value would be readable by anyone who may list Jobs),
and PUSHGATEWAY_INSTANCE; nothing without a Pushgateway.
*/}}
{{- define "usersync.pushgatewayEnv" -}}
{{- if or .Values.metrics.pushgatewayURL .Values.metrics.pushgatewayExistingSecret -}}
- name: PUSHGATEWAY_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "usersync.componentName" (list . "metrics")) .Values.metrics.pushgatewayExistingSecret }}
      key: {{ if .Values.metrics.pushgatewayExistingSecret }}{{ .Values.metrics.pushgatewayExistingSecretKey }}{{ else }}url{{ end }}
{{- with include "usersync.pushgatewayInstance" . }}
# Installations sharing the Pushgateway keep apart by it; the chart's
# alerts select it.
- name: PUSHGATEWAY_INSTANCE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
usersync.apiJobPolicy is "true" when the ValidatingAdmissionPolicy that
confines the API's Jobs renders: sync on demand is on, and api.jobPolicy is
always, or auto on a cluster that serves the API (Kubernetes 1.30+).
*/}}
{{- define "usersync.apiJobPolicy" -}}
{{- $mode := .Values.api.jobPolicy }}
{{- if and .Values.api.syncOnDemand (or (eq $mode "always") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"))) }}true{{ end }}
{{- end }}

{{/*
usersync.clusterReadable is "true" when the render can read the cluster:
lookup lists this namespace's Secrets (which Helm keeps its releases in,
so an installer may list them) and gets a list, even an empty one, from a
real API server, but an empty map from helm template, helm lint, a
client-side dry run or a GitOps tool rendering without cluster access.
*/}}
{{- define "usersync.clusterReadable" -}}
{{- if lookup "v1" "Secret" .Release.Namespace "" }}true{{ end }}
{{- end }}

{{/*
usersync.apiURL is the in-cluster URL of the API's Service.
*/}}
{{- define "usersync.apiURL" -}}
{{- printf "http://%s.%s.svc:%v" (include "usersync.componentName" (list . "api")) .Release.Namespace .Values.api.service.port }}
{{- end }}

{{/*
usersync.database.checksum changes when where the API finds its database
does, so that the API restarts onto it.
*/}}
{{- define "usersync.database.checksum" -}}
{{- list .Values.externalDatabase .Values.postgresql.existingSecret .Values.postgresql.existingSecretKey .Values.api.database | toJson | sha256sum | trunc 16 | quote }}
{{- end }}

{{/*
usersync.apiJobPolicyName names the cluster-scoped policy and binding after
the release and its namespace, so that installations coexist.
*/}}
{{- define "usersync.apiJobPolicyName" -}}
{{- printf "%s.%s.usersync.io" (include "usersync.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
usersync.apiJobLabelPolicyName names the parameterless policy and binding
that require the launcher's label on the API's Jobs.
*/}}
{{- define "usersync.apiJobLabelPolicyName" -}}
{{- printf "%s.%s.trigger.usersync.io" (include "usersync.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
usersync.apiJobPolicyLabels label the cluster-scoped Job policies: the
release's labels and its namespace, so that one selector finds the
policies of one installation (they outlive helm uninstall).
*/}}
{{- define "usersync.apiJobPolicyLabels" -}}
{{ include "usersync.labels" (list . "api") }}
usersync.io/release-namespace: {{ .Release.Namespace | quote }}
{{- end }}

{{/*
usersync.celSame is a CEL expression that holds when field f is absent from
both a and b, or present in both and equal; call with (list a b f).
*/}}
{{- define "usersync.celSame" -}}
{{- $a := index . 0 }}{{ $b := index . 1 }}{{ $f := index . 2 -}}
(has({{ $a }}.{{ $f }}) ? has({{ $b }}.{{ $f }}) && {{ $a }}.{{ $f }} == {{ $b }}.{{ $f }} : !has({{ $b }}.{{ $f }}))
{{- end }}

{{/*
usersync.foreignSecret is "true" when a Secret found by lookup (call with
(list . $secret)) is not this release's to manage: Helm would refuse to
adopt it (no ownership annotations naming this release), so the chart uses
it as it is instead of rendering it.
*/}}
{{- define "usersync.foreignSecret" -}}
{{- $root := index . 0 }}{{ $live := index . 1 }}
{{- if $live }}
{{- $annotations := default dict $live.metadata.annotations }}
{{- if or (ne (get $annotations "meta.helm.sh/release-name") $root.Release.Name) (ne (get $annotations "meta.helm.sh/release-namespace") $root.Release.Namespace) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
usersync.ingress is an Ingress RELEASE-usersync-<component> routing paths
(a list of {path, pathType}) on each of the values' hosts to the API's
Service, unchanged (no rewrite); call with (list . component values paths),
values having className, annotations, hosts and tls.
*/}}
{{- define "usersync.ingress" -}}
{{- $root := index . 0 }}{{ $values := index . 2 }}{{ $paths := index . 3 }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "usersync.componentName" (list $root (index . 1)) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "usersync.labels" (list $root "api") | nindent 4 }}
  {{- with $values.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $values.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $values.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range $values.hosts }}
    - host: {{ . | quote }}
      http:
        paths:
          {{- range $paths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ include "usersync.componentName" (list $root "api") }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end }}
