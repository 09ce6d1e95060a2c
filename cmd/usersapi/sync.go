package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/kube"
)

// newLauncher sets up sync on demand as cfg says: nil when SYNC_CRONJOB is
// unset (the sync-job operations then answer 503 and nothing touches
// Kubernetes). The Kubernetes API is first contacted by a request, so
// usersapi starts, and is ready, whether Kubernetes answers or not.
func newLauncher(cfg syncConfig, reg prometheus.Registerer, log *slog.Logger) (api.SyncLauncher, error) {
	if cfg.cronJob == "" {
		log.Info("sync on demand is off: SYNC_CRONJOB is unset")
		return nil, nil
	}
	client, err := kube.NewClient(cfg.client.REST, reg, log)
	if err != nil {
		return nil, configError{err}
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: cfg.namespace, CronJob: cfg.cronJob})
	if err != nil {
		return nil, configError{fmt.Errorf("sync on demand: %w", err)}
	}
	log.Info("sync on demand", "namespace", cfg.namespace, "cronjob", cfg.cronJob, "kubernetes", cfg.client.REST.Host)
	return l, nil
}
