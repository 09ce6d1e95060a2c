package logtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/usersync/usersync/pkg/logtest"
)

// TestBufferKeepsEveryConcurrentWrite: writes from many goroutines, read
// while they happen, all arrive whole (and -race sees no race).
func TestBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b logtest.Buffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			fmt.Fprintf(&b, "line %d\n", i)
			_ = b.String()
		})
	}
	wg.Wait()
	got := b.String()
	for i := range 50 {
		if !strings.Contains(got, fmt.Sprintf("line %d\n", i)) {
			t.Errorf("line %d missing from %q", i, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 50 {
		t.Errorf("%d lines, want 50", n)
	}
}

func TestLinesIndexFindsTheFirstLineContaining(t *testing.T) {
	var l logtest.Lines
	if got := l.Index("a"); got != -1 {
		t.Errorf("Index on no lines = %d, want -1", got)
	}
	var wg sync.WaitGroup
	wg.Go(func() { l.Add(`{"msg":"starting"}`) })
	wg.Wait()
	l.Add(`{"msg":"listening"}`)
	l.Add(`{"msg":"listening again"}`)
	if got := l.Index("listening"); got != 1 {
		t.Errorf("Index(listening) = %d, want 1", got)
	}
	if got := l.Index("stopped"); got != -1 {
		t.Errorf("Index(stopped) = %d, want -1", got)
	}
	if got, want := l.String(), "{\"msg\":\"starting\"}\n{\"msg\":\"listening\"}\n{\"msg\":\"listening again\"}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
