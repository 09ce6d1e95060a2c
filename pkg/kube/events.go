package kube

import (
	"context"
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/usersync/usersync/pkg/model"
)

// Annotations of the Lease that queue the webhook's launches. Both are
// counters that only grow: events received (by any replica) and events a
// launched Job covers. While received exceeds launched, a launch is
// pending. Only their difference means anything, so the replicas never
// compare clocks.
const (
	AnnotationEventsReceived = "usersync.io/events-received"
	AnnotationEventsLaunched = "usersync.io/events-launched"
)

// eventCounts are the Lease's two counters.
type eventCounts struct{ received, launched int64 }

// pending is how many counted events no Job covers yet.
func (c eventCounts) pending() int64 { return max(c.received-c.launched, 0) }

// countEvents reads the counters; a missing or garbled one counts 0.
func countEvents(lease *coordinationv1.Lease) eventCounts {
	read := func(name string) int64 {
		n, err := strconv.ParseInt(lease.Annotations[name], 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return eventCounts{received: read(AnnotationEventsReceived), launched: read(AnnotationEventsLaunched)}
}

func setCount(lease *coordinationv1.Lease, name string, n int64) {
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[name] = strconv.FormatInt(n, 10)
}

// leaseRetry paces the retries of a Lease update that lost to another
// writer: randomised, so that replicas counting at once spread out, and
// long enough for a handful of them; Config.Timeout bounds it too.
var leaseRetry = wait.Backoff{Steps: 12, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: 250 * time.Millisecond}

// RecordEvents counts n more webhook events on the Lease: one conditional
// update, retried when another replica or a launch changed the Lease in
// between. The events stay pending until LaunchPending launches a Job
// that covers them.
func (l *Launcher) RecordEvents(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.namespace)
	verb := "get"
	err := retry.RetryOnConflict(leaseRetry, func() error {
		verb = "get"
		lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := countEvents(lease)
		// A launched count above received (a hand-edited Lease) would
		// swallow the next events.
		setCount(lease, AnnotationEventsReceived, max(c.received, c.launched)+n)
		verb = "update"
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("count %d webhook events: %w", n, l.apiError(err, verb, "leases", l.name))
	}
	return nil
}

// PendingEvents returns how many events the Lease counts that no launched
// Job covers yet: a replica that starts (or restarts) resumes a pending
// launch with it.
func (l *Launcher) PendingEvents(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	lease, err := l.client.CoordinationV1().Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return 0, l.apiError(err, "get", "leases", l.name)
	}
	return countEvents(lease).pending(), nil
}

// LaunchPending launches one incremental sync of scope all, triggered by
// the webhook, when the Lease counts events no Job covers yet; with none
// it returns created false and no error. It is Launch, whose one
// conditional update of the Lease both claims the launch and marks every
// event counted so far as covered: two replicas launching at once make
// one Job, and an event counted after that update stays pending for the
// next Job. While a sync Job (of either CronJob) is unfinished it returns
// ErrConflict and the events stay pending: the caller tries again later.
//
// When the Job cannot be created after the Lease was updated, the events
// are counted as pending again on a best-effort basis; a caller that gets
// an error other than ErrConflict should count its events again
// (RecordEvents) before it retries, so none is lost either way.
func (l *Launcher) LaunchPending(ctx context.Context) (model.SyncJob, bool, error) {
	return l.launch(ctx, LaunchOptions{Scope: model.ScopeAll, Incremental: true, Trigger: model.TriggerWebhook}, true)
}
