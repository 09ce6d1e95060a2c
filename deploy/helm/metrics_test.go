package helm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/usersync/usersync/pkg/metrics/pushtest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// scrapeLabels are added by Prometheus (or the scrape config), not by the
// binaries.
var scrapeLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true,
	"usersync_instance": true} // the chart's ServiceMonitor relabels it in

// exposedSeries indexes scraped families by every series name they
// expose (a histogram's _bucket, _sum and _count), with the label names
// and values of their samples.
type exposedSeries map[string]map[string]map[string]bool

func (e exposedSeries) add(fams map[string]*dto.MetricFamily) {
	for name, f := range fams {
		names := []string{name}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		case dto.MetricType_SUMMARY:
			names = []string{name, name + "_sum", name + "_count"}
		}
		for _, n := range names {
			if e[n] == nil {
				e[n] = map[string]map[string]bool{}
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if e[n][l.GetName()] == nil {
						e[n][l.GetName()] = map[string]bool{}
					}
					e[n][l.GetName()][l.GetValue()] = true
				}
			}
			if strings.HasSuffix(n, "_bucket") {
				e[n]["le"] = map[string]bool{}
			}
		}
	}
}

// checkShippedMetrics fails for every metric name, label name or label
// value that an alert or a dashboard panel selects and the binaries do not
// expose. Names in pending are only logged: another test checks them.
func checkShippedMetrics(t *testing.T, exposed exposedSeries, pending map[string]bool) {
	t.Helper()
	exposed["up"] = map[string]map[string]bool{} // made by Prometheus for every scrape target
	for _, e := range shippedExpressions(t) {
		sels, err := selectorsOf(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, s := range sels {
			got, ok := exposed[s.Name]
			if !ok {
				if pending[s.Name] {
					t.Logf("%s: %s is checked elsewhere", e.where, s.Name)
					continue
				}
				t.Errorf("%s: no binary exposes %s", e.where, s.Name)
				continue
			}
			for _, m := range s.LabelMatchers {
				if m.Name == model.MetricNameLabel || scrapeLabels[m.Name] || s.Name == "up" {
					continue
				}
				values, ok := got[m.Name]
				if !ok {
					t.Errorf("%s: %s has no label %s", e.where, s.Name, m.Name)
					continue
				}
				if m.Type == labels.MatchEqual && !values[m.Value] {
					t.Errorf("%s: %s{%s=%q}: no such value is exposed (seen %v)", e.where, s.Name, m.Name, m.Value, values)
				}
			}
		}
	}
}

// TestShippedMetricsAreExposed: every metric the dashboard and the alerts
// use is one a real usersync pushes to a real Pushgateway (after a sync
// that met a retry and a 429) or a real usersapi serves on /metrics.
func TestShippedMetricsAreExposed(t *testing.T) {
	bin := binaries(t)
	gateway := pushtest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	sim := snipeittest.Start(t, snipeittest.Config{
		Data:       snipeittest.Generate(snipeittest.GenerateConfig{Users: 120, Assets: 80, Seed: 3}),
		MaxResults: 50,
	})
	sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultStatus, Status: 500, Path: "/api/v1/users", Times: 1})
	sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultRateLimit, RetryAfter: 1, Path: "/api/v1/hardware", Times: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "usersync"), "--full")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SNIPEIT_URL=" + sim.URL(), "SNIPEIT_TOKEN=" + sim.Token(),
		"DATABASE_URL=" + dbURL, "PUSHGATEWAY_URL=" + gateway, "SNIPEIT_RATE_LIMIT=0", "SYNC_PROGRESS=none",
		"SNIPEIT_RETRY_BACKOFF=10ms"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("usersync --full: %v\n%s", err, out)
	}
	exposed := exposedSeries{}
	exposed.add(pushtest.Scrape(t, gateway))

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("read:r-token\nsync:s-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api := startUsersapi(t, []string{"DATABASE_URL=" + dbURL, "API_TOKENS_FILE=" + tokens})
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/users?limit=5", "r-token"},
		{"GET", "/users/not-a-number", "r-token"},
		{"GET", "/users", ""},
	} {
		request(t, r.method, api.Base+r.path, r.token)
	}
	exposed.add(pushtest.Scrape(t, api.Base))

	// Sync on demand's metrics need a Kubernetes API server behind
	// usersapi: TestChartOnAPIServer checks them, with the chart's RBAC.
	pending := map[string]bool{
		"usersapi_sync_triggers_total":                        true,
		"usersapi_kubernetes_request_duration_seconds_bucket": true,
	}
	checkShippedMetrics(t, exposed, pending)
}
