package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/kube"
)

// newLauncher sets up sync on demand from SYNC_CRONJOB, SYNC_NAMESPACE and
// KUBECONFIG: nil when SYNC_CRONJOB is unset (the sync-job operations then
// answer 503 and nothing touches Kubernetes). It only reads files; the
// Kubernetes API is first contacted by a request, so usersapi starts, and
// is ready, whether Kubernetes answers or not.
func newLauncher(getenv func(string) string, reg prometheus.Registerer, log *slog.Logger) (api.SyncLauncher, error) {
	cronJob := getenv("SYNC_CRONJOB")
	if cronJob == "" {
		log.Info("sync on demand is off: SYNC_CRONJOB is unset")
		return nil, nil
	}
	cc, err := kube.LoadClientConfig(getenv("KUBECONFIG"))
	if err != nil {
		return nil, badConfig("SYNC_CRONJOB is set: %v", err)
	}
	namespace := getenv("SYNC_NAMESPACE")
	if namespace == "" {
		namespace = cc.Namespace
	}
	if namespace == "" {
		return nil, badConfig("SYNC_NAMESPACE is unset and neither the pod nor the kubeconfig names a namespace")
	}
	client, err := kube.NewClient(cc.REST, reg, log)
	if err != nil {
		return nil, configError{err}
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: namespace, CronJob: cronJob})
	if err != nil {
		return nil, configError{fmt.Errorf("sync on demand: %w", err)}
	}
	log.Info("sync on demand", "namespace", namespace, "cronjob", cronJob, "kubernetes", cc.REST.Host)
	return l, nil
}
