package snipeit_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// fixedServer answers every request with body and counts them.
func fixedServer(t *testing.T, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestClientKeepsRowsWithUnreadableValues: a value that cannot be read
// costs that value, not the page: it is stored as its empty value, the
// page is fetched once, and one warning names the record and the field.
func TestClientKeepsRowsWithUnreadableValues(t *testing.T) {
	srv, requests := fixedServer(t, `{"total":3,"rows":[
		{"id":1,"username":"a","name":"A","activated":"yes","assets_count":"3"},
		{"id":2,"username":"b","name":"B","activated":"no"},
		{"id":3,"username":"c","name":"C","activated":"1","assets_count":"4"}]}`)
	var logs logtest.Buffer
	c, err := snipeit.New(snipeit.Config{BaseURL: srv.URL, Token: "t", RatePerMinute: -1, RetryInitial: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, c.Users(context.Background()))
	if err != nil {
		t.Fatalf("the page was refused: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: a page with an unreadable value is not retried", n)
	}
	want := []struct {
		activated bool
		assets    int32
	}{{false, 3}, {false, 0}, {true, 4}}
	for i, u := range got {
		if u.Activated != want[i].activated || u.AssetsCount != want[i].assets {
			t.Errorf("user %d: activated %v, assets %d; want %v, %d", u.ID, u.Activated, u.AssetsCount, want[i].activated, want[i].assets)
		}
	}
	var warnings []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "cannot be read") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"field":"activated"`) || !strings.Contains(warnings[0], `"id":1`) ||
		!strings.Contains(warnings[0], `"rows":2`) {
		t.Errorf("warnings = %q; want one naming field activated, first id 1, 2 rows", warnings)
	}
}

// TestClientRefusesBodiesOverTheCap: a body one byte over the cap fails at
// once, without a retry, and says which endpoint and page size; one that
// fits exactly is read.
func TestClientRefusesBodiesOverTheCap(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 300, Seed: 2})})
	var requests atomic.Int64
	sim.OnRequest(func(snipeittest.RequestInfo) { requests.Add(1) })
	c := newClient(t, sim, func(c *snipeit.Config) { c.MaxBodyBytes, c.PageSize = 64<<10, 200 })
	_, err := collect(t, c.Users(context.Background()))
	if !errors.Is(err, model.ErrUpstream) {
		t.Fatalf("err = %v, want an upstream error: a 200-row page over a 64 KiB cap", err)
	}
	for _, want := range []string{"users response is larger than 64 KiB", "lower the page size (200 rows per page now)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: a body too large is too large again", n)
	}

	page := `{"total":1,"rows":[{"id":1,"username":"a","name":"A"}]}`
	exact := page + strings.Repeat(" ", 4096-len(page))
	for _, tt := range []struct {
		body string
		ok   bool
	}{{exact, true}, {exact + " ", false}} {
		srv, _ := fixedServer(t, tt.body)
		c, err := snipeit.New(snipeit.Config{BaseURL: srv.URL, Token: "t", RatePerMinute: -1, MaxBodyBytes: 4096, RetryInitial: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		users, err := collect(t, c.Users(context.Background()))
		if tt.ok && (err != nil || len(users) != 1) {
			t.Errorf("a body of exactly the cap: %d users, %v", len(users), err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "larger than 4 KiB")) {
			t.Errorf("a body one byte over the cap: %v", err)
		}
	}
}
