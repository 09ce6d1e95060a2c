{{/*
usersync.validate is every check of the values that the schema cannot make
(values.schema.json checks types, names and ranges): each failure says what
to set. cronjob.yaml, which every render has, includes it once.
*/}}
{{- define "usersync.validate" -}}
{{- $v := .Values }}

{{- /* What usersync needs at all. */}}
{{- if not $v.snipeit.url }}
{{- fail "snipeit.url is required: Snipe-IT's base URL, e.g. https://snipe.example.com" }}
{{- end }}
{{- if not (or $v.snipeit.token $v.snipeit.existingSecret) }}
{{- fail "a Snipe-IT token is required: set snipeit.existingSecret (recommended) or snipeit.token" }}
{{- end }}
{{- if not (or $v.externalDatabase.url $v.externalDatabase.existingSecret $v.postgresql.enabled) }}
{{- fail "a database is required: set externalDatabase.url, externalDatabase.existingSecret, or postgresql.enabled=true" }}
{{- end }}

{{- /* The sync's command line: POST /sync/* replaces the mode flags
(--scope, --full, --incremental), and the Job policy recognises them only as
one argument each. */}}
{{- range (ternary $v.sync.args list $v.api.syncOnDemand) }}
{{- if regexMatch "^--?scope$" . }}
{{- fail "sync.args: write the scope as one argument, --scope=users (or --full), not \"--scope\" \"users\": sync on demand replaces it, and the API's Job policy only recognises the one-argument form" }}
{{- end }}
{{- end }}

{{- /* The usersync.io/ labels are the chart's: usersync.io/trigger marks
the Jobs sync on demand makes, the ones the Job policy compares with the
CronJob; on every Job it would put the hooks and the scheduled Jobs under
it too. */}}
{{- range $k, $_ := $v.commonLabels }}
{{- if hasPrefix "usersync.io/" $k }}
{{- fail (printf "commonLabels: %s is the chart's own label (usersync.io/ marks what sync on demand makes): choose another key" $k) }}
{{- end }}
{{- end }}

{{- /* Time budgets that must nest. */}}
{{- if ge (int $v.databaseWaitSeconds) (int $v.migration.activeDeadlineSeconds) }}
{{- fail "migration.activeDeadlineSeconds must be longer than databaseWaitSeconds, or the hook is stopped while it still waits for the database" }}
{{- end }}
{{- if ge (int $v.databaseWaitSeconds) (int $v.sync.activeDeadlineSeconds) }}
{{- fail "sync.activeDeadlineSeconds must be longer than databaseWaitSeconds, or a sync is stopped while it still waits for the database" }}
{{- end }}
{{- if le (int $v.api.terminationGracePeriodSeconds) (int $v.api.shutdownTimeoutSeconds) }}
{{- fail "api.terminationGracePeriodSeconds must be longer than api.shutdownTimeoutSeconds, or the kubelet kills pods that are still draining" }}
{{- end }}
{{- if ge (add (int $v.api.shutdownDelaySeconds) 2) (int $v.api.shutdownTimeoutSeconds) }}
{{- fail "api.shutdownDelaySeconds leaves no time to drain within api.shutdownTimeoutSeconds (usersapi keeps 2 s of it)" }}
{{- end }}

{{- /* The API's scale. */}}
{{- if and $v.api.autoscaling.enabled (gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas)) }}
{{- fail "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" }}
{{- end }}
{{- if and $v.api.ingress.enabled (not $v.api.ingress.hosts) }}
{{- fail "api.ingress.hosts needs at least one host when api.ingress.enabled" }}
{{- end }}

{{- /* Webhooks start syncs: they need the right to. */}}
{{- if and $v.api.webhook.enabled (not $v.api.syncOnDemand) }}
{{- fail "api.webhook.enabled needs api.syncOnDemand=true: each webhook starts a sync Job from the CronJob, with the Role sync on demand gives the API" }}
{{- end }}
{{- if and $v.api.webhook.ingress.enabled (not $v.api.webhook.enabled) }}
{{- fail "api.webhook.ingress.enabled needs api.webhook.enabled=true: it routes the webhook alone" }}
{{- end }}
{{- if and $v.api.webhook.ingress.enabled (not $v.api.webhook.ingress.hosts) }}
{{- fail "api.webhook.ingress.hosts needs at least one host when api.webhook.ingress.enabled" }}
{{- end }}

{{- /* Generated secrets must be read back, or every render makes new ones:
the bundled PostgreSQL's data would then refuse the new password, and
clients' tokens and Snipe-IT's webhook URL would stop working. */}}
{{- if not (or (include "usersync.clusterReadable" .) $v.secrets.generateWithoutCluster) }}
{{- $missing := list }}
{{- if and (include "usersync.postgresql.enabled" .) (not $v.postgresql.existingSecret) }}
{{- $missing = append $missing "postgresql.existingSecret (the bundled PostgreSQL's password)" }}
{{- end }}
{{- if not $v.api.tokens.existingSecret }}
{{- $missing = append $missing "api.tokens.existingSecret (the API's tokens file)" }}
{{- end }}
{{- if and $v.api.webhook.enabled (not $v.api.webhook.existingSecret) }}
{{- $missing = append $missing "api.webhook.existingSecret (the webhook's secret)" }}
{{- end }}
{{- if $missing }}
{{- fail (printf "this render cannot read the cluster (helm template, helm lint, a client-side dry run, a GitOps tool), so it cannot find the secrets the chart generated before and would generate new ones on every render. Set %s, render with access to the cluster (helm install/upgrade, or --dry-run=server), or set secrets.generateWithoutCluster=true to generate them anyway; see \"Secrets\" in the chart README" (join " and " $missing)) }}
{{- end }}
{{- end }}

{{- /* A StatefulSet's volumeClaimTemplates cannot change. */}}
{{- if include "usersync.postgresql.enabled" . }}
{{- with lookup "apps/v1" "StatefulSet" .Release.Namespace (include "usersync.postgresql.name" .) }}
{{- range .spec.volumeClaimTemplates }}
{{- if eq .metadata.name "data" }}
{{- $liveSize := .spec.resources.requests.storage | toString }}
{{- $liveClass := default "" .spec.storageClassName }}
{{- if ne (include "usersync.bytes" $liveSize) (include "usersync.bytes" ($v.postgresql.persistence.size | toString)) }}
{{- fail (printf "postgresql.persistence.size cannot change from %s to %v with helm upgrade: a StatefulSet's volume claims are immutable. Resize the claim itself and keep %s here; see \"Resizing the bundled PostgreSQL's volume\" in the chart README" $liveSize $v.postgresql.persistence.size $liveSize) }}
{{- end }}
{{- if ne $liveClass $v.postgresql.persistence.storageClass }}
{{- fail (printf "postgresql.persistence.storageClass cannot change from %q to %q with helm upgrade: a StatefulSet's volume claims are immutable, and the data lives on the existing volume. See \"Resizing the bundled PostgreSQL's volume\" in the chart README" $liveClass $v.postgresql.persistence.storageClass) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
usersync.bytes is a Kubernetes quantity (8Gi, 8192Mi, 10G, 1e9) in bytes,
so that two spellings of one size compare equal.
*/}}
{{- define "usersync.bytes" -}}
{{- $q := . | toString }}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 }}
{{- $number := regexFind "^[0-9.]+([eE][-+]?[0-9]+)?" $q }}
{{- $unit := trimPrefix $number $q }}
{{- if hasKey $units $unit }}{{ mulf (float64 $number) (get $units $unit) | int64 }}{{ else }}{{ $q }}{{ end }}
{{- end }}
