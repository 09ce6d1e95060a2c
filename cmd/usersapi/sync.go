package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/webhookqueue"
)

// newLauncher sets up sync on demand as cfg says: nil when SYNC_CRONJOB is
// unset (the sync-job operations then answer 503 and nothing touches
// Kubernetes). The Kubernetes API is first contacted by a request, so
// usersapi starts, and is ready, whether Kubernetes answers or not.
func newLauncher(cfg syncConfig, reg prometheus.Registerer, log *slog.Logger) (*kube.Launcher, error) {
	if cfg.cronJob == "" {
		log.Info("sync on demand is off: SYNC_CRONJOB is unset")
		return nil, nil
	}
	client, err := kube.NewClient(cfg.client.REST, reg, log)
	if err != nil {
		return nil, configError{err}
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: cfg.namespace, CronJob: cfg.cronJob,
		IncrementalCronJob: cfg.incrementalCronJob})
	if err != nil {
		return nil, configError{fmt.Errorf("sync on demand: %w", err)}
	}
	log.Info("sync on demand", "namespace", cfg.namespace, "cronjob", cfg.cronJob,
		"incremental_cronjob", cfg.incrementalCronJob, "kubernetes", cfg.client.REST.Host)
	return l, nil
}

// newWebhook sets up Snipe-IT's webhook as cfg says: the zero
// WebhookConfig (the route answers 404) and a nil queue when
// WEBHOOK_SECRET_FILE is unset. loadConfig made sure that a launcher
// exists when it is set.
func newWebhook(cfg webhookConfig, launcher *kube.Launcher, reg prometheus.Registerer, log *slog.Logger) (api.WebhookConfig, *webhookqueue.Queue, error) {
	if cfg.secretFile == "" {
		log.Info("the Snipe-IT webhook is off: WEBHOOK_SECRET_FILE is unset")
		return api.WebhookConfig{}, nil, nil
	}
	secrets, err := api.LoadWebhookSecrets(api.WebhookSecretsConfig{Path: cfg.secretFile, CheckEvery: tokensCheckEvery, Logger: log})
	if err != nil {
		return api.WebhookConfig{}, nil, configError{err}
	}
	q, err := webhookqueue.New(webhookqueue.Config{Launcher: launcher, Debounce: cfg.debounce, MaxWait: cfg.maxWait,
		Registry: reg, Logger: log})
	if err != nil {
		return api.WebhookConfig{}, nil, configError{err}
	}
	log.Info("the Snipe-IT webhook is on", "secrets", secrets.Len(), "debounce", cfg.debounce, "max_wait", cfg.maxWait)
	return api.WebhookConfig{Secrets: secrets, Queue: q}, q, nil
}
