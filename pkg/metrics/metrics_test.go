package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
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
	ok := succeeded(model.ScopeUsers, time.Now())
	ok.Rows = &syncer.MirrorRows{Live: 9, Deleted: 1}
	mark := time.Now().Add(-time.Minute)
	ok.Mode, ok.Watermark = model.ModeIncremental, &mark
	m.Record(ok)
	m.Record(syncer.ScopeResult{Scope: model.ScopeAssets, Status: model.RunFailed, Finished: time.Now(), Err: errors.New("boom"),
		Mode: model.ModeFull, FallbackReason: model.FallbackNoWatermark})
	return m
}

// TestModeAndFallbackArePushed: a run's mode, why it read everything when
// asked to be incremental, and its watermark; every reason is pushed, so
// the next push clears the last one's.
func TestModeAndFallbackArePushed(t *testing.T) {
	url := pushtest.Start(t)
	ctx := context.Background()
	at := time.Unix(1_767_225_600, 0)
	m := metrics.NewSync("test")
	r := succeeded(model.ScopeAssets, at)
	r.Mode, r.FallbackReason = model.ModeFull, model.FallbackCountMismatch
	m.Record(r)
	if err := m.Push(ctx, metrics.Gateway{URL: url}, model.ScopeAssets); err != nil {
		t.Fatal(err)
	}
	m = metrics.NewSync("test")
	r = succeeded(model.ScopeAssets, at.Add(time.Minute))
	mark := at.Add(-time.Second)
	r.Mode, r.Watermark = model.ModeIncremental, &mark
	m.Record(r)
	if err := m.Push(ctx, metrics.Gateway{URL: url}, model.ScopeAssets); err != nil {
		t.Fatal(err)
	}
	fams := pushtest.Scrape(t, url)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"usersync_last_run_incremental", nil, 1},
		{"usersync_last_run_fallback", map[string]string{"reason": "count_mismatch"}, 0},
		{"usersync_last_run_fallback", map[string]string{"reason": "no_watermark"}, 0},
		{"usersync_last_run_watermark_timestamp_seconds", nil, float64(mark.Unix())},
	} {
		labels := map[string]string{"job": "usersync", "scope": "assets"}
		maps.Copy(labels, tt.labels)
		if got, found := pushtest.Value(fams, tt.name, labels); !found || got != tt.want {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe(tt.name, labels), got, found, tt.want)
		}
	}
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
	if err := first.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}

	failed := metrics.NewSync("test")
	failed.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunFailed, Finished: ok.Add(time.Hour), Err: errors.New("boom")})
	if err := failed.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}
	skipped := metrics.NewSync("test")
	skipped.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunSkipped, Finished: ok.Add(2 * time.Hour)})
	if err := skipped.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
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

// TestFullSuccessSurvivesIncrementalRuns pushes to a real Pushgateway: a
// full run, then an incremental one, which moves the last success but not
// the last success of a run that read every row; an incremental run that
// fell back to reading every row moves both.
func TestFullSuccessSurvivesIncrementalRuns(t *testing.T) {
	url := pushtest.Start(t)
	ctx := context.Background()
	at := time.Unix(1_767_225_600, 0)
	users := map[string]string{"job": "usersync", "scope": "users"}
	for _, step := range []struct {
		name        string
		mode        model.RunMode
		fallback    string
		finished    time.Time
		success     time.Time
		fullSuccess time.Time
	}{
		{"a full run", model.ModeFull, "", at, at, at},
		{"an incremental run", model.ModeIncremental, "", at.Add(5 * time.Minute), at.Add(5 * time.Minute), at},
		{"an incremental run that fell back", model.ModeFull, model.FallbackNoActivityLog, at.Add(10 * time.Minute), at.Add(10 * time.Minute), at.Add(10 * time.Minute)},
	} {
		m := metrics.NewSync("test")
		r := succeeded(model.ScopeUsers, step.finished)
		r.Mode, r.FallbackReason = step.mode, step.fallback
		m.Record(r)
		if err := m.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
			t.Fatal(err)
		}
		fams := pushtest.Scrape(t, url)
		for name, want := range map[string]time.Time{
			"usersync_last_success_timestamp_seconds":      step.success,
			"usersync_last_full_success_timestamp_seconds": step.fullSuccess,
		} {
			if got, found := pushtest.Value(fams, name, users); !found || got != float64(want.Unix()) {
				t.Errorf("after %s: %s = %v (found %v), want %v", step.name, name, got, found, want.Unix())
			}
		}
	}
}

func TestPushToADeadGatewayFailsWithAnError(t *testing.T) {
	m := filled()
	err := m.Push(context.Background(), metrics.Gateway{URL: "http://127.0.0.1:1"}, model.ScopeUsers)
	if err == nil || !strings.Contains(err.Error(), "push users metrics") {
		t.Fatalf("err = %v, want a push error", err)
	}
}

// TestPushedFamiliesFollowTheBatchJobConvention checks the settled names:
// every per-run figure is a gauge or histogram named for the last run, no
// counter, nothing ending in _total.
func TestPushedFamiliesFollowTheBatchJobConvention(t *testing.T) {
	m := filled()
	want := map[model.Scope][]string{
		model.ScopeUsers: {
			"usersync_build_info",
			"usersync_last_completion_timestamp_seconds",
			"usersync_last_run_duration_seconds",
			"usersync_last_run_fallback",
			"usersync_last_run_incremental",
			"usersync_last_run_rate_limit_wait_seconds",
			"usersync_last_run_records",
			"usersync_last_run_skipped",
			"usersync_last_run_snipeit_rate_limited",
			"usersync_last_run_snipeit_request_duration_seconds",
			"usersync_last_run_snipeit_requests",
			"usersync_last_run_snipeit_retries",
			"usersync_last_run_success",
			"usersync_last_run_watermark_timestamp_seconds",
			"usersync_last_success_timestamp_seconds",
			"usersync_mirror_rows",
		},
	}
	// The failed assets run has no success timestamp and left no
	// watermark.
	want[model.ScopeAssets] = slices.DeleteFunc(slices.Clone(want[model.ScopeUsers]), func(n string) bool {
		return n == "usersync_last_success_timestamp_seconds" || n == "usersync_mirror_rows" || n == "usersync_last_run_watermark_timestamp_seconds"
	})
	for _, scope := range model.Scopes {
		fams, err := m.Gatherer(scope).Gather()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range fams {
			names = append(names, f.GetName())
			if f.GetType() == dto.MetricType_COUNTER || strings.HasSuffix(f.GetName(), "_total") {
				t.Errorf("%s: %s is a %s: per-run figures are gauges named usersync_last_run_…", scope, f.GetName(), f.GetType())
			}
		}
		if diff := cmp.Diff(want[scope], names); diff != "" {
			t.Errorf("%s: pushed families (-want +got):\n%s", scope, diff)
		}
	}
}

// TestEachPushDescribesTheLastRunOnly pushes two runs to a real
// Pushgateway: the second run's figures replace the first's, label sets
// that the second run did not see included; a skipped run then leaves them.
func TestEachPushDescribesTheLastRunOnly(t *testing.T) {
	url := pushtest.Start(t)
	ctx := context.Background()
	at := time.Unix(1_767_225_600, 0)

	first := metrics.NewSync("test")
	first.Request("users", 200, time.Millisecond)
	first.Request("users", 500, time.Millisecond)
	first.Retry("users", "http_500")
	first.Retry("users", "timeout")
	first.Request("users", 429, time.Millisecond)
	first.RateLimitWait("users", 3*time.Second)
	first.Record(succeeded(model.ScopeUsers, at))
	if err := first.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}
	second := metrics.NewSync("test")
	second.Request("users", 200, time.Millisecond)
	second.Record(succeeded(model.ScopeUsers, at.Add(time.Hour)))
	if err := second.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		fams := pushtest.Scrape(t, url)
		for _, tt := range []struct {
			name   string
			labels map[string]string
			want   float64
			found  bool
		}{
			{"usersync_last_run_snipeit_requests", map[string]string{"endpoint": "users", "code": "200"}, 1, true},
			{"usersync_last_run_snipeit_requests", map[string]string{"endpoint": "users", "code": "500"}, 0, false},
			{"usersync_last_run_snipeit_retries", map[string]string{"endpoint": "users", "reason": "http_500"}, 0, false},
			{"usersync_last_run_snipeit_retries", map[string]string{"endpoint": "users", "reason": "timeout"}, 0, true},
			{"usersync_last_run_snipeit_rate_limited", nil, 0, true},
			{"usersync_last_run_rate_limit_wait_seconds", nil, 0, true},
		} {
			labels := map[string]string{"job": "usersync", "scope": "users"}
			maps.Copy(labels, tt.labels)
			got, found := pushtest.Value(fams, tt.name, labels)
			if found != tt.found || got != tt.want {
				t.Errorf("%s: %s = %v (found %v), want %v (found %v)", when, pushtest.Describe(tt.name, labels), got, found, tt.want, tt.found)
			}
		}
	}
	check("after the second run")

	skipped := metrics.NewSync("test")
	skipped.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunSkipped, Finished: at.Add(2 * time.Hour)})
	if err := skipped.Push(ctx, metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}
	check("after a skipped run")
}

// TestMirrorRowsArePushed checks usersync_mirror_rows{state}.
func TestMirrorRowsArePushed(t *testing.T) {
	url := pushtest.Start(t)
	m := metrics.NewSync("test")
	r := succeeded(model.ScopeUsers, time.Now())
	r.Rows = &syncer.MirrorRows{Live: 9, Deleted: 3}
	m.Record(r)
	if err := m.Push(context.Background(), metrics.Gateway{URL: url}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}
	fams := pushtest.Scrape(t, url)
	for state, want := range map[string]float64{"live": 9, "deleted": 3} {
		labels := map[string]string{"job": "usersync", "scope": "users", "state": state}
		if got, found := pushtest.Value(fams, "usersync_mirror_rows", labels); !found || got != want {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe("usersync_mirror_rows", labels), got, found, want)
		}
	}
}

// TestPushNeverShowsTheGatewayPassword pushes with basic auth in the URL,
// as PUSHGATEWAY_URL carries it, to a gateway that refuses the push and to
// one that is not there: the error names the gateway without the password.
func TestPushNeverShowsTheGatewayPassword(t *testing.T) {
	var gotUser, gotPassword string
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPassword, _ = r.BasicAuth()
		http.Error(w, "push refused", http.StatusBadRequest)
	}))
	defer refusing.Close()
	const secret = "s3cr3t-pushgateway-password"
	for _, gateway := range []string{
		strings.Replace(refusing.URL, "http://", "http://pusher:"+secret+"@", 1),
		"http://pusher:" + secret + "@127.0.0.1:1",
		"http://pusher:" + secret + "@bad host:9091",
	} {
		err := filled().Push(context.Background(), metrics.Gateway{URL: gateway}, model.ScopeUsers)
		if err == nil {
			t.Fatalf("push to %s: no error", gateway)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the push error shows the password: %v", err)
		}
	}
	if gotUser != "pusher" || gotPassword != secret {
		t.Errorf("basic auth sent = %q:%q, want the URL's credentials", gotUser, gotPassword)
	}
}

// TestInstancesPushSideBySide pushes to one real Pushgateway from two
// installations and from one that sets no instance: each is its own group,
// so a failed run of one leaves the others' figures alone, and the push
// without an instance keeps the grouping key it always had, {job, scope}.
func TestInstancesPushSideBySide(t *testing.T) {
	url := pushtest.Start(t)
	ctx := context.Background()
	at := time.Unix(1_767_225_600, 0)
	for i, instance := range []string{"site-a/usersync", "site-b/usersync", ""} {
		m := metrics.NewSync("test")
		m.Record(succeeded(model.ScopeUsers, at.Add(time.Duration(i)*time.Hour)))
		if err := m.Push(ctx, metrics.Gateway{URL: url, Instance: instance}, model.ScopeUsers); err != nil {
			t.Fatal(err)
		}
	}
	failed := metrics.NewSync("test")
	failed.Record(syncer.ScopeResult{Scope: model.ScopeUsers, Status: model.RunFailed, Finished: at.Add(5 * time.Hour), Err: errors.New("boom")})
	if err := failed.Push(ctx, metrics.Gateway{URL: url, Instance: "site-a/usersync"}, model.ScopeUsers); err != nil {
		t.Fatal(err)
	}

	want := []map[string]string{
		{"job": "usersync", "scope": "users"},
		{"job": "usersync", "scope": "users", "instance": "site-a/usersync"},
		{"job": "usersync", "scope": "users", "instance": "site-b/usersync"},
	}
	if diff := cmp.Diff(want, pushtest.Groups(t, url)); diff != "" {
		t.Errorf("groups on the Pushgateway (-want +got):\n%s", diff)
	}
	fams := pushtest.Scrape(t, url)
	for _, tt := range []struct {
		instance             string
		success, lastSuccess float64
	}{
		{"site-a/usersync", 0, float64(at.Unix())},
		{"site-b/usersync", 1, float64(at.Add(time.Hour).Unix())},
		// The Pushgateway exposes a push without an instance with
		// instance="", which a scrape with honor_labels keeps as none.
		{"", 1, float64(at.Add(2 * time.Hour).Unix())},
	} {
		labels := map[string]string{"job": "usersync", "instance": tt.instance, "scope": "users"}
		if got, found := pushtest.Value(fams, "usersync_last_run_success", labels); !found || got != tt.success {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe("usersync_last_run_success", labels), got, found, tt.success)
		}
		if got, found := pushtest.Value(fams, "usersync_last_success_timestamp_seconds", labels); !found || got != tt.lastSuccess {
			t.Errorf("%s = %v (found %v), want %v", pushtest.Describe("usersync_last_success_timestamp_seconds", labels), got, found, tt.lastSuccess)
		}
	}
}
