{{/*
usersync.syncJobTemplate is the jobTemplate of both CronJobs: the sync
CronJob's, which scheduled runs, `kubectl create job --from=cronjob/…` and
POST /sync/* and webhooks run, and the incremental CronJob's, which is the
same but for SYNC_INCREMENTAL=true. Call with (list . incremental); it
renders at the CronJob spec's indentation.
*/}}
{{- define "usersync.syncJobTemplate" -}}
{{- $incremental := index . 1 }}
{{- with index . 0 }}
  jobTemplate:
    metadata:
      labels:
        {{- include "usersync.labels" (list . "sync") | nindent 8 }}
    spec:
      backoffLimit: {{ .Values.sync.backoffLimit }}
      activeDeadlineSeconds: {{ .Values.sync.activeDeadlineSeconds }}
      ttlSecondsAfterFinished: {{ .Values.sync.ttlSecondsAfterFinished }}
      template:
        metadata:
          labels:
            {{- include "usersync.selectorLabels" (list . "sync") | nindent 12 }}
            {{- with .Values.sync.podLabels }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with .Values.sync.podAnnotations }}
          annotations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        spec:
          restartPolicy: Never
          # usersync never calls the Kubernetes API.
          automountServiceAccountToken: false
          enableServiceLinks: false
          securityContext:
            {{- toYaml .Values.podSecurityContext | nindent 12 }}
          {{- with .Values.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          containers:
            # POST /sync/* finds the sync container by this name.
            - name: usersync
              image: {{ include "usersync.image" . }}
              imagePullPolicy: {{ .Values.image.pullPolicy }}
              command: ["/usersync"]
              {{- with .Values.sync.args }}
              args:
                {{- toYaml . | nindent 16 }}
              {{- end }}
              env:
                - name: SNIPEIT_URL
                  value: {{ .Values.snipeit.url | quote }}
                - name: SNIPEIT_TOKEN_FILE
                  value: /etc/usersync/snipeit/token
                {{- include "usersync.databaseEnv" . | nindent 16 }}
                {{- include "usersync.databaseWaitEnv" . | nindent 16 }}
                - name: SNIPEIT_TIMEZONE
                  value: {{ .Values.snipeit.timezone | quote }}
                - name: SNIPEIT_RATE_LIMIT
                  value: {{ .Values.snipeit.rateLimit | quote }}
                {{- with include "usersync.pushgatewayEnv" . }}
                {{- . | nindent 16 }}
                {{- end }}
                # Recorded in sync_runs; POST /sync/* sets api. A pod cannot
                # see its Job's annotations, so GET /sync/jobs tells manual
                # runs from scheduled ones by the Job itself.
                - name: SYNC_TRIGGER
                  value: schedule
                - name: JOB_NAME
                  valueFrom:
                    fieldRef:
                      fieldPath: metadata.labels['batch.kubernetes.io/job-name']
                - name: LOG_LEVEL
                  value: {{ .Values.sync.logLevel | quote }}
                - name: LOG_FORMAT
                  value: json
                - name: SYNC_PROGRESS
                  value: log
                # A run that finds another one writing waits for it, up to
                # this, rather than being skipped until the next schedule.
                - name: SYNC_LOCK_WAIT
                  value: {{ .Values.sync.lockWait | quote }}
                {{- with .Values.sync.lookback }}
                # How far before the watermark incremental runs read again:
                # the incremental CronJob's, and those sync on demand and
                # webhooks start from this template.
                - name: SYNC_LOOKBACK
                  value: {{ . | quote }}
                {{- end }}
                {{- if $incremental }}
                # The one difference between the incremental CronJob's Jobs
                # and the sync CronJob's.
                - name: SYNC_INCREMENTAL
                  value: "true"
                {{- end }}
                {{- with .Values.sync.extraEnv }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
              volumeMounts:
                - name: snipeit-token
                  mountPath: /etc/usersync/snipeit
                  readOnly: true
              resources:
                {{- toYaml .Values.sync.resources | nindent 16 }}
              securityContext:
                {{- toYaml .Values.containerSecurityContext | nindent 16 }}
          volumes:
            - name: snipeit-token
              secret:
                secretName: {{ include "usersync.snipeit.secretName" . }}
                items:
                  - key: {{ include "usersync.snipeit.secretKey" . }}
                    path: token
          {{- with .Values.sync.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.sync.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.sync.affinity }}
          affinity:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end }}
{{- end }}
