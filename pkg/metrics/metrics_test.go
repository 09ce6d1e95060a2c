package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/usersync/usersync/pkg/metrics"
	"github.com/usersync/usersync/pkg/metrics/pushtest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncer"
)

func succeeded(scope model.Scope, at time.Time) syncer.ScopeResult {
	return syncer.ScopeResult{
		Scope: scope, Status: model.RunSucceeded, Started: at.Add(-3 * time.Second), Finished: at,
		Counts:    model.RunCounts{Fetched: 10, Inserted: 2, Updated: 1, Deleted: 1, Unchanged: 7},
		Durations: map[string]time.Duration{"fetch": 2 * time.Second, "stage": 2 * time.Second, "merge": time.Second, "total": 3 * time.Second},
	}
}

func filled() *metrics.Sync {
	m := metrics.NewSync("test")
	m.Request("users", 200, 120*time.Millisecond)
	m.Request("users", 429, 5*time.Millisecond)
	m.Request("hardware_archived", 0, time.Second)
	m.Retry("users", "rate_limited")
	m.RateLimitWait("users", 1500*time.Millisecond)
	m.Record(succeeded(model.ScopeUsers, time.Now()))
	m.Record(syncer.ScopeResult{Scope: model.ScopeAssets, Status: model.RunFailed, Finished: time.Now(), Err: errors.New("boom")})
	return m
}

// TestMetricNamesPassPromtool runs the real promtool over what each scope
// would push.
func TestMetricNamesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (make test installs Debian's prometheus package)")
		}
		t.Skip("promtool is not installed")
	}
	m := filled()
	for _, scope := range model.Scopes {
		fams, err := m.Gatherer(scope).Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = &buf
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics (%s): %v\n%s", scope, err, out)
		}
	}
}

// TestPushKeepsLastSuccessAcrossFailures pushes to a real Pushgateway: a
// successful run, then a failed and a skipped one; the last-success
// timestamp must survive both.
func TestPushKeepsLastSuccessAcrossFailures(t *testing.T) {
	url := pushtest.Start(t)
	ctx := context.Background()
	ok := time.Unix(1_767_225_600, 0)

	first := metrics.NewSync("test")
	first.Request("users", 200, time.Millisecond)
	first.Record(succeeded(model.ScopeUsers, ok))
	if err := first.Push(ctx, url, model.ScopeUsers, nil); err != nil {
		t.Fatal(err)
	}

	failed := metrics.NewSync("test")
	failed.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunFailed, Finished: ok.Add(time.Hour), Err: errors.New("boom")})
	if err := failed.Push(ctx, url, model.ScopeUsers, nil); err != nil {
		t.Fatal(err)
	}
	skipped := metrics.NewSync("test")
	skipped.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunSkipped, Finished: ok.Add(2 * time.Hour)})
	if err := skipped.Push(ctx, url, model.ScopeUsers, nil); err != nil {
		t.Fatal(err)
	}

	fams := pushtest.Scrape(t, url)
	users := map[string]string{"job": "usersync", "scope": "users"}
	want := map[string]float64{
		"usersync_last_success_timestamp_seconds":    float64(ok.Unix()),
		"usersync_last_completion_timestamp_seconds": float64(ok.Add(time.Hour).Unix()),
		"usersync_last_run_success":                  0,
		"usersync_last_run_skipped":                  1,
		"usersync_last_skip_timestamp_seconds":       float64(ok.Add(2 * time.Hour).Unix()),
	}
	for name, w := range want {
		got, found := pushtest.Value(fams, name, users)
		if !found || got != w {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe(name, users), got, found, w)
		}
	}
	// The failed run wrote nothing, and says so.
	if got, found := pushtest.Value(fams, "usersync_last_run_records", map[string]string{"scope": "users", "action": "inserted"}); !found || got != 0 {
		t.Errorf("records{action=inserted} = %v (found %v), want 0 from the failed run", got, found)
	}
}

func TestPushToADeadGatewayFailsWithAnError(t *testing.T) {
	m := filled()
	err := m.Push(context.Background(), "http://127.0.0.1:1", model.ScopeUsers, nil)
	if err == nil || !strings.Contains(err.Error(), "push users metrics") {
		t.Fatalf("err = %v, want a push error", err)
	}
}
