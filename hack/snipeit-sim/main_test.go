package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/logtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	var logs strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-users", "50", "-assets", "20", "-token", "secret", "-version", "8.5", "-max-results", "10"}, outW, &logs)
		outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v (logs: %s)", err, logs.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "SNIPEIT_URL=http://127.0.0.1:")
	if !ok {
		t.Fatalf("first line %q, want SNIPEIT_URL=http://127.0.0.1:PORT", line)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+url+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Total int
		Rows  []json.RawMessage
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || page.Total != 48 || len(page.Rows) != 10 {
		t.Errorf("status %d, total %d, %d rows, err %v: want 48 live users in pages of 10", resp.StatusCode, page.Total, len(page.Rows), err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	for _, msg := range []string{`"msg":"generated"`, `"msg":"listening"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("logs lack %s:\n%s", msg, logs.String())
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"an unknown version", []string{"-version", "4.0"}},
		{"a webhook on 5.0, which has none", []string{"-version", "5.0", "-webhook-url", "http://127.0.0.1:1/"}},
		{"a negative churn interval", []string{"-churn", "-1s"}},
		{"a negative user count", []string{"-users", "-1"}},
		{"an unknown flag", []string{"-bogus"}},
		{"a stray argument", []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is a usage error", func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if !errors.Is(err, errUsage) {
				t.Errorf("err %v, want a usage error", err)
			}
		})
	}
}

// TestRunSendsWebhooksAndChurns: a checkout through the API reaches the
// -webhook-url, and -churn keeps changing the data.
func TestRunSendsWebhooksAndChurns(t *testing.T) {
	got := make(chan string, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&m)
		got <- m.Text
	}))
	defer rcv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	var logs logtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-users", "30", "-assets", "40", "-webhook-url", rcv.URL, "-churn", "20ms"}, outW, &logs)
		outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v (logs: %s)", err, logs.String())
	}
	base := strings.TrimPrefix(strings.TrimSpace(line), "SNIPEIT_URL=")

	// An asset that can be checked out: the first one the default list
	// shows as ready to deploy and not checked out.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/hardware?status=RTD&sort=id&order=asc&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+snipeittest.DefaultToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Rows []struct{ ID int64 } }
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || len(page.Rows) == 0 {
		t.Fatalf("no asset to check out: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/hardware/%d/checkout", base, page.Rows[0].ID),
		strings.NewReader("checkout_to_type=user&assigned_user=1"))
	req.Header.Set("Authorization", "Bearer "+snipeittest.DefaultToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"status":"success"`) {
		t.Fatalf("checkout: %s", body)
	}
	deadline := time.After(10 * time.Second)
	for checkedOut := false; !checkedOut; {
		select {
		case text := <-got:
			checkedOut = text == ":arrow_up: :computer: Asset checked out"
		case <-deadline:
			t.Fatal("no checkout webhook within 10s")
		}
	}
	eventually.NoError(t, 10*time.Second, "-churn to make a change", func() error {
		if !strings.Contains(logs.String(), `"msg":"changed"`) {
			return fmt.Errorf("no change in the log:\n%s", logs.String())
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
