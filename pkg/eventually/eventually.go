// Package eventually waits, in tests, for what another goroutine or
// process brings about: a row written, a log line, a server ready. Each
// wait names what it awaits, so a timeout says what did not happen.
//
// It polls through k8s.io/apimachinery's wait.PollUntilContextTimeout,
// about a thousand times within the timeout: every 1 ms for a short wait,
// at most every 50 ms for a long one.
package eventually

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Until calls cond until it returns true, and fails the test if it has
// not within timeout. what says what is awaited ("the export to be
// recorded"). cond runs on the calling goroutine, so it may itself fail
// the test.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	err := Wait(tb.Context(), timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// NoError calls f until it returns nil, and fails the test with f's last
// error if it has not within timeout.
func NoError(tb testing.TB, timeout time.Duration, what string, f func() error) {
	tb.Helper()
	if err := Wait(tb.Context(), timeout, f); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// Wait calls f until it returns nil, and returns nil then. If f has not
// within timeout, or ctx ends first, it returns f's last error. It does
// not touch a test, so it serves off the test's goroutine and in helpers
// that return errors.
func Wait(ctx context.Context, timeout time.Duration, f func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, interval(timeout), timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case last == nil: // ended before f ran
		return err
	default:
		return fmt.Errorf("still failing after %v: %w", timeout, last)
	}
}

var errNotYet = errors.New("condition not met")

// interval is how often to poll within timeout: often enough that a
// short wait ends soon after the condition holds, seldom enough that a
// long one does not load the server it asks.
func interval(timeout time.Duration) time.Duration {
	return min(max(timeout/1000, time.Millisecond), 50*time.Millisecond)
}
