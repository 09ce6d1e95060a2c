package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/logtest"
)

// firstLine waits for a progress line in out and returns the first line
// decoded.
func firstLine(t *testing.T, out *logtest.Buffer) map[string]any {
	t.Helper()
	eventually.Until(t, 5*time.Second, "a progress line", func() bool { return strings.Contains(out.String(), "sync progress") })
	line := strings.SplitN(out.String(), "\n", 2)[0]
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("progress line is not JSON: %q", line)
	}
	return rec
}

func TestLogProgressReportsRowsRateAndETA(t *testing.T) {
	var out logtest.Buffer
	lp := newLogProgress(slog.New(slog.NewJSONHandler(&out, nil)), 10*time.Millisecond)
	lp.Request("users", 200, time.Second)
	lp.Page("users", 1000, 4000)
	rec := firstLine(t, &out)
	lp.Close()
	for _, key := range []string{"scope", "pages", "received", "total", "rows_per_second", "eta"} {
		if _, ok := rec[key]; !ok {
			t.Errorf("progress line lacks %q: %v", key, rec)
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

// TestProgressNamesListingsAndRatesHonestly pages a one-page archived
// listing, as a site with three archived assets has: the bar and the log
// say assets, not Snipe-IT's endpoint names, and the rate counts from the
// first request, not from the first page's arrival (which made a handful
// of rows look like millions per second).
func TestProgressNamesListingsAndRatesHonestly(t *testing.T) {
	var out bytes.Buffer
	bar := newBarProgress(&out)
	bar.Request("hardware_archived", 200, 100*time.Millisecond)
	bar.Page("hardware_archived", 3, 3)
	bar.Close()
	got := out.String()
	if strings.Contains(got, "hardware") || !strings.Contains(got, "archived assets") {
		t.Errorf("the bar names the listing %q; want archived assets", got)
	}
	m := regexp.MustCompile(`([0-9.]+) rows/s`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("the bar shows no rate: %q", got)
	}
	if rate, _ := strconv.ParseFloat(m[1], 64); rate > 30 {
		t.Errorf("the bar shows %s rows/s for 3 rows fetched in 100ms; want at most 30", m[1])
	}

	var logOut logtest.Buffer
	lp := newLogProgress(slog.New(slog.NewJSONHandler(&logOut, nil)), 10*time.Millisecond)
	lp.Request("hardware", 200, 200*time.Millisecond)
	lp.Page("hardware", 5, 10)
	rec := firstLine(t, &logOut)
	lp.Close()
	if strings.Contains(logOut.String(), "hardware") || rec["scope"] != "assets" {
		t.Errorf("the progress log names the listing %v; want scope assets", rec)
	}
	if rate := rec["rows_per_second"].(float64); rate > 25 {
		t.Errorf("rows_per_second = %v for 5 rows in 200ms; want at most 25", rate)
	}
}

// TestProgressOfAChangeListingCountsChanges: a listing of changes reports
// 20 of 100,000 when 20 rows changed; progress shows the changes found,
// not a bar stuck at 0.02 % nor a time left.
func TestProgressOfAChangeListingCountsChanges(t *testing.T) {
	var out bytes.Buffer
	bar := newBarProgress(&out)
	bar.Request("users_all_changed", 200, 50*time.Millisecond)
	bar.Page("users_all_changed", 20, 100_000)
	bar.Close()
	if got := out.String(); !strings.Contains(got, "changed users since the last run (of 100000)") || strings.Contains(got, "%") {
		t.Errorf("the bar for a change listing reads %q; want the changes counted, no percentage", got)
	}

	var logOut logtest.Buffer
	lp := newLogProgress(slog.New(slog.NewJSONHandler(&logOut, nil)), 10*time.Millisecond)
	lp.Request("hardware_changed", 200, time.Millisecond)
	lp.Page("hardware_changed", 7, 50_000)
	rec := firstLine(t, &logOut)
	lp.Close()
	if rec["changed"] != 7.0 || rec["scope"] != "assets" || rec["listing"] != "changed assets" || rec["eta"] != nil || rec["total"] != nil {
		t.Errorf("progress line %v; want 7 changed assets, no total or eta", rec)
	}
}
