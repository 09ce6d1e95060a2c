package main

import (
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/logtest"
)

// stallingWriter blocks every Write until release is closed, as a pipe
// whose reader fell behind does, and keeps what it was given.
type stallingWriter struct {
	release chan struct{}
	logtest.Buffer
}

func (s *stallingWriter) Write(p []byte) (int, error) {
	<-s.release
	return s.Buffer.Write(p)
}

// TestLogLinesDoNotWaitForASlowReader: requests log a line each; while the
// reader of stderr is stalled, writing must not block them until far more
// than one flush's worth is pending — and nothing is lost.
func TestLogLinesDoNotWaitForASlowReader(t *testing.T) {
	out := &stallingWriter{release: make(chan struct{})}
	f := newFlushWriter(out, 10*time.Millisecond)
	line := strings.Repeat("x", 249) + "\n"
	const lines = 800 // 200 KB: several flushes' worth
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range lines {
			if _, err := f.Write([]byte(line)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(out.release)
		t.Fatal("writing log lines blocked while the reader was stalled")
	}
	close(out.release)
	f.Close()
	if got := out.String(); len(got) != lines*len(line) || strings.Count(got, "\n") != lines {
		t.Errorf("the reader got %d bytes in %d lines, want %d in %d", len(got), strings.Count(got, "\n"), lines*len(line), lines)
	}
}

// TestLogWriterHoldsBackWhenFarBehind: when the pending output reaches the
// limit, writers wait (no unbounded memory, no dropped lines) and carry on
// once the reader drains it.
func TestLogWriterHoldsBackWhenFarBehind(t *testing.T) {
	out := &stallingWriter{release: make(chan struct{})}
	f := newFlushWriter(out, 10*time.Millisecond)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for n < 4*maxPendingLog/len(line) {
			_, _ = f.Write(line)
			n++
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("wrote %d KiB past a stalled reader; want to wait at about %d KiB", n, maxPendingLog>>10)
	case <-time.After(300 * time.Millisecond):
	}
	close(out.release)
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("writers still waiting after the reader drained")
	}
	f.Close()
	if got := strings.Count(out.String(), "\n"); got != 4*maxPendingLog/len(line) {
		t.Errorf("%d lines reached the reader, want %d", got, 4*maxPendingLog/len(line))
	}
}
