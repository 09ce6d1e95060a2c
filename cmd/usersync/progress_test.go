package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogProgressReportsRowsRateAndETA(t *testing.T) {
	var out syncBuffer
	lp := newLogProgress(slog.New(slog.NewJSONHandler(&out, nil)), 10*time.Millisecond)
	lp.Page("users", 1000, 4000)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "sync progress") {
		if time.Now().After(deadline) {
			t.Fatal("no progress line within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lp.Close()
	line := strings.SplitN(out.String(), "\n", 2)[0]
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("progress line is not JSON: %q", line)
	}
	for _, key := range []string{"endpoint", "pages", "received", "total", "rows_per_second", "eta"} {
		if _, ok := rec[key]; !ok {
			t.Errorf("progress line lacks %q: %s", key, line)
		}
	}
	if rec["received"] != 1000.0 || rec["total"] != 4000.0 {
		t.Errorf("received/total = %v/%v, want 1000/4000", rec["received"], rec["total"])
	}
}

func TestLogLinesDoNotLandInsideTheBar(t *testing.T) {
	var out bytes.Buffer
	bar := newBarProgress(&out)
	bar.Page("users", 10, 100)
	if _, err := bar.Write([]byte("time=now level=INFO msg=hello\n")); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	i := strings.Index(s, "time=now")
	if i <= 0 || s[i-1] != '\r' && s[i-1] != '\n' {
		t.Fatalf("the log line does not start on a line of its own: %q", s)
	}
	bar.Page("users", 100, 100)
	bar.Close()
	if !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("a finished bar leaves the cursor mid-line: %q", out.String())
	}
}
