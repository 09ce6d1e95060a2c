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
usersync.database.secretName and .secretKey locate DATABASE_URL.
*/}}
{{- define "usersync.database.secretName" -}}
{{- default (include "usersync.componentName" (list . "database")) .Values.externalDatabase.existingSecret }}
{{- end }}

{{- define "usersync.database.secretKey" -}}
{{- if .Values.externalDatabase.existingSecret }}{{ .Values.externalDatabase.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/*
usersync.database.required fails the render when no database is given at
all.
*/}}
{{- define "usersync.database.required" -}}
{{- if not (or .Values.externalDatabase.url .Values.externalDatabase.existingSecret .Values.postgresql.enabled) }}
{{- fail "a database is required: set externalDatabase.url, externalDatabase.existingSecret, or postgresql.enabled=true" }}
{{- end }}
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
usersync.podSecurityContext and usersync.containerSecurityContext are the
"restricted" Pod Security Standard's requirements, from values.
*/}}
{{- define "usersync.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "usersync.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
usersync.databaseEnv is DATABASE_URL by reference to its Secret, for every
container that reaches the database.
*/}}
{{- define "usersync.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "usersync.database.secretName" . }}
      key: {{ include "usersync.database.secretKey" . }}
{{- end }}

{{/*
usersync.apiURL is the in-cluster URL of the API's Service.
*/}}
{{- define "usersync.apiURL" -}}
{{- printf "http://%s.%s.svc:%v" (include "usersync.componentName" (list . "api")) .Release.Namespace .Values.api.service.port }}
{{- end }}

{{/*
usersync.database.checksum changes when the chart-made database URL does,
so that the API restarts onto it.
*/}}
{{- define "usersync.database.checksum" -}}
{{- printf "%s|%s|%s" .Values.externalDatabase.url .Values.externalDatabase.existingSecret .Values.externalDatabase.existingSecretKey | sha256sum | trunc 16 | quote }}
{{- end }}
