package eventually_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/eventually"
)

// TestWaitReturnsOnceTheConditionHolds checks the wait ends on the first
// success, without waiting out the timeout.
func TestWaitReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	err := eventually.Wait(t.Context(), time.Minute, func() error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls.Load() != 3 {
		t.Fatalf("Wait = %v after %d calls; want nil after 3", err, calls.Load())
	}
}

// TestWaitReportsTheLastFailure checks a timed-out wait says why the
// condition last failed.
func TestWaitReportsTheLastFailure(t *testing.T) {
	var calls atomic.Int32
	err := eventually.Wait(t.Context(), 20*time.Millisecond, func() error {
		calls.Add(1)
		return errors.New("row missing")
	})
	if err == nil || !strings.Contains(err.Error(), "row missing") {
		t.Fatalf("Wait = %v; want the last failure, row missing", err)
	}
	if calls.Load() < 2 {
		t.Errorf("condition ran %d times; want it polled", calls.Load())
	}
}

// TestWaitEndsWithItsContext checks a cancelled context ends the wait.
func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := eventually.Wait(ctx, time.Minute, func() error { return nil })
	if err != nil {
		t.Fatalf("Wait on a satisfied condition = %v; want nil (it checks once before waiting)", err)
	}
	err = eventually.Wait(ctx, time.Minute, func() error { return errors.New("never") })
	if err == nil {
		t.Fatal("Wait with a cancelled context and a failing condition = nil")
	}
}

// recorder is a testing.TB that records a failure instead of ending the
// test, so the failing paths of Until and NoError can be checked.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestUntilNamesWhatItAwaited(t *testing.T) {
	r := &recorder{TB: t}
	eventually.Until(r, 10*time.Millisecond, "the export to be recorded", func() bool { return false })
	if !strings.Contains(r.failed, "the export to be recorded") {
		t.Errorf("failure %q does not say what was awaited", r.failed)
	}
	r.failed = ""
	eventually.Until(r, time.Minute, "a true condition", func() bool { return true })
	if r.failed != "" {
		t.Errorf("Until on a true condition failed: %s", r.failed)
	}
}

func TestNoErrorReportsTheLastError(t *testing.T) {
	r := &recorder{TB: t}
	eventually.NoError(r, 10*time.Millisecond, "the CRDs to be served", func() error { return errors.New("not found") })
	for _, want := range []string{"the CRDs to be served", "not found"} {
		if !strings.Contains(r.failed, want) {
			t.Errorf("failure %q lacks %q", r.failed, want)
		}
	}
}
