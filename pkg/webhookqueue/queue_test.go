package webhookqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/webhookqueue"
)

// fakeLease is the Lease's two counters and the Jobs, as pkg/kube keeps
// them; its methods are kube.Launcher's event methods.
type fakeLease struct {
	mu                 sync.Mutex
	received, launched int64
	running            bool  // a sync Job is unfinished
	fail               error // LaunchPending's error while set
	jobs               int
	records            int // RecordEvents calls
}

func (f *fakeLease) RecordEvents(_ context.Context, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records++
	f.received += n
	return nil
}

func (f *fakeLease) PendingEvents(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received - f.launched, nil
}

func (f *fakeLease) LaunchPending(context.Context) (model.SyncJob, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.received <= f.launched {
		return model.SyncJob{}, false, nil
	}
	if f.running {
		return model.SyncJob{}, false, fmt.Errorf("%w: sync Job x is running", model.ErrConflict)
	}
	if f.fail != nil {
		return model.SyncJob{}, false, f.fail
	}
	f.launched = f.received
	f.jobs++
	f.running = true
	return model.SyncJob{Name: fmt.Sprintf("job-%d", f.jobs), Scope: model.ScopeAll, Incremental: true}, true, nil
}

func (f *fakeLease) snapshot() (jobs int, pending int64, records int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs, f.received - f.launched, f.records
}

func (f *fakeLease) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = false
}

// start runs a Queue on lease until the test ends (or stop is called).
func start(t *testing.T, lease *fakeLease) (*webhookqueue.Queue, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	q, err := webhookqueue.New(webhookqueue.Config{Launcher: lease, Debounce: 30 * time.Millisecond,
		MaxWait: 200 * time.Millisecond, Retry: 20 * time.Millisecond, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return q, reg, stop
}

func TestABurstMakesOneJob(t *testing.T) {
	lease := &fakeLease{}
	q, reg, _ := start(t, lease)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); q.Add() }()
	}
	wg.Wait()
	eventually.Until(t, 10*time.Second, "the Job", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 1 })
	lease.finish()
	time.Sleep(100 * time.Millisecond) // several retry periods: nothing more may come
	jobs, pending, records := lease.snapshot()
	if jobs != 1 || pending != 0 {
		t.Errorf("%d Jobs, %d events pending; want one Job covering all 50", jobs, pending)
	}
	if records > 50 {
		t.Errorf("%d Lease writes for 50 events", records)
	}
	want := fmt.Sprintf("usersapi_webhook_events_coalesced_total %d\n", 49)
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP usersapi_webhook_events_coalesced_total Accepted webhook events that joined a sync launch already pending instead of making a Job of their own.\n# TYPE usersapi_webhook_events_coalesced_total counter\n"+want),
		"usersapi_webhook_events_coalesced_total"); err != nil {
		t.Error(err)
	}
	if got := launches(t, reg, "created"); got != 1 {
		t.Errorf("launches created = %v, want 1", got)
	}
}

// launches reads usersapi_webhook_launches_total{result}.
func launches(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "usersapi_webhook_launches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no launches metric for %s", result)
	return 0
}

// TestASteadyStreamStillLaunches: events closer together than the
// debounce never leave it quiet; MaxWait launches anyway.
func TestASteadyStreamStillLaunches(t *testing.T) {
	lease := &fakeLease{}
	q, _, _ := start(t, lease)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				q.Add()
			}
		}
	}()
	eventually.Until(t, 10*time.Second, "a Job while events keep coming", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 1 })
}

// TestAnEventWhileAJobRunsMakesOneMoreJobAfterIt.
func TestAnEventWhileAJobRunsMakesOneMoreJobAfterIt(t *testing.T) {
	lease := &fakeLease{}
	q, reg, _ := start(t, lease)
	q.Add()
	eventually.Until(t, 10*time.Second, "the first Job", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 1 })
	q.Add()
	q.Add()
	eventually.Until(t, 10*time.Second, "the events counted", func() bool { _, pending, _ := lease.snapshot(); return pending == 2 })
	eventually.Until(t, 10*time.Second, "the launch queued", func() bool { return launches(t, reg, "queued") == 1 })
	time.Sleep(100 * time.Millisecond) // retries while the Job runs
	if jobs, _, _ := lease.snapshot(); jobs != 1 {
		t.Fatalf("%d Jobs while the first runs, want it alone", jobs)
	}
	lease.finish()
	eventually.Until(t, 10*time.Second, "the second Job", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 2 })
	lease.finish()
	time.Sleep(100 * time.Millisecond)
	if jobs, pending, _ := lease.snapshot(); jobs != 2 || pending != 0 {
		t.Errorf("%d Jobs, %d pending; want exactly one more Job", jobs, pending)
	}
}

// TestPendingEventsSurviveARestart: events counted by a replica that
// stopped before launching are launched by the next one to start.
func TestPendingEventsSurviveARestart(t *testing.T) {
	lease := &fakeLease{}
	q, _, stop := start(t, lease)
	q.Add()
	q.Add()
	stop() // before the debounce: Run counts them as it stops
	if jobs, pending, _ := lease.snapshot(); jobs != 0 || pending != 2 {
		t.Fatalf("after the stop: %d Jobs, %d pending; want the 2 events counted and no Job", jobs, pending)
	}
	start(t, lease)
	eventually.Until(t, 10*time.Second, "the Job of the events left", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 1 })
}

// TestAFailedLaunchIsRetriedWithItsEvents: a launch that fails (the Job
// could not be created) is retried, and its events are counted again in
// case the failure left them marked as covered.
func TestAFailedLaunchIsRetriedWithItsEvents(t *testing.T) {
	lease := &fakeLease{fail: fmt.Errorf("%w: quota", model.ErrAdmissionDenied)}
	q, reg, _ := start(t, lease)
	q.Add()
	eventually.Until(t, 10*time.Second, "a failure", func() bool { return launches(t, reg, "failed") >= 1 })
	lease.mu.Lock()
	lease.fail = nil
	lease.launched = lease.received // as if the failed launch had marked them
	lease.mu.Unlock()
	eventually.Until(t, 10*time.Second, "the Job", func() bool { jobs, _, _ := lease.snapshot(); return jobs == 1 })
}

func TestNewChecksItsConfig(t *testing.T) {
	if _, err := webhookqueue.New(webhookqueue.Config{}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("without a launcher: %v", err)
	}
	if _, err := webhookqueue.New(webhookqueue.Config{Launcher: &fakeLease{}, Debounce: time.Minute, MaxWait: time.Second}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("max wait below the debounce: %v", err)
	}
}
