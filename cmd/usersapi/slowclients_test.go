package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/eventually"
)

// stalledReader is a client of a full listing that reads a little of the
// body and then stops reading, as a hostile or broken client does: the
// server's writes fill the socket buffers and then block.
type stalledReader struct {
	resp *http.Response
	head []byte
}

// stall starts GET url on a connection of its own, reads n bytes of the
// body (when the answer is 200) and stops.
func stall(t *testing.T, url string, n int) *stalledReader {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	s := &stalledReader{resp: resp}
	if resp.StatusCode == http.StatusOK {
		s.head = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, s.head); err != nil {
			t.Fatalf("read the first %d bytes: %v", n, err)
		}
	}
	return s
}

// getWithin is GET url with the read token that gives up after timeout,
// as a probe or an impatient client would.
func getWithin(t *testing.T, url string, timeout time.Duration) (int, http.Header, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body), err
}

// metricValue reads one sample of the server's /metrics.
func metricValue(t *testing.T, base, sample string) string {
	t.Helper()
	_, body := get(t, base+"/metrics", "")
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestSlowClientsCannotTakeTheServiceDown reproduces the review's finding:
// with a pool of 2 connections, two clients that read 1 KB of a full
// listing and stop took every connection, so /readyz failed after 2 s and
// GET /users/1 hung. Now a full listing beyond the cap is refused at once,
// probes and single reads keep answering while the streams are stuck, and
// the stuck streams are cut.
func TestSlowClientsCannotTakeTheServiceDown(t *testing.T) {
	const n = 20000 // about 30 MB of JSON: far more than socket buffers hold
	url := seedDatabase(t, genUsers(n), nil)
	p := startAPI(t, "DATABASE_URL="+url+"&pool_max_conns=2", "PUBLIC_READS=true", "API_TOKENS_FILE="+writeTokenFile(t),
		"STREAM_STALL_TIMEOUT=3s", "LOG_LEVEL=debug")

	first := stall(t, p.Base+"/users", 1024)
	if first.resp.StatusCode != http.StatusOK {
		t.Fatalf("first full listing: %d, want 200", first.resp.StatusCode)
	}
	second := stall(t, p.Base+"/users?format=json", 1024)

	// Within a probe's budget, while the streams are stuck.
	const budget = 3 * time.Second
	if code, _, body, err := getWithin(t, p.Base+"/readyz", budget); err != nil || code != http.StatusOK {
		t.Errorf("/readyz while streams are stuck: %d %s %v; want 200 within %s", code, body, err, budget)
	}
	// A user's few assets, without limit, end within the first batch: no
	// stream slot needed.
	for _, path := range []string{"/users/1", "/users?limit=10", "/users/1/assets", "/users/1/assets?limit=100", "/sync/status", "/exports"} {
		if code, _, body, err := getWithin(t, p.Base+path, budget); err != nil || code != http.StatusOK {
			t.Errorf("GET %s while streams are stuck: %d %.200s %v; want 200 within %s", path, code, body, err, budget)
		}
	}
	// The second stream was refused (the cap is below the pool size)
	// rather than left to take the last connection.
	if got := second.resp.StatusCode; got != http.StatusServiceUnavailable {
		t.Errorf("second full listing with a pool of 2: %d, want 503", got)
	} else {
		body, _ := io.ReadAll(second.resp.Body)
		if second.resp.Header.Get("Retry-After") == "" || second.resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("refusal: Retry-After %q, Content-Type %q; want both set", second.resp.Header.Get("Retry-After"),
				second.resp.Header.Get("Content-Type"))
		}
		if !bytes.Contains(body, []byte(`"status":503`)) {
			t.Errorf("refusal body %s", body)
		}
	}

	// The stuck stream is cut: the client, reading on at last, gets a
	// truncated response, never one that looks complete.
	eventually.Until(t, 30*time.Second, "the stalled stream to be cut", func() bool { return metricValue(t, p.Base, "usersapi_streams_in_flight") == "0" })
	rest, err := io.ReadAll(first.resp.Body)
	if err == nil {
		var users []json.RawMessage
		if jerr := json.Unmarshal(append(first.head, rest...), &users); jerr == nil {
			t.Fatalf("the stalled stream was not cut: %d users arrived whole", len(users))
		}
		t.Errorf("the cut stream ended without a transport error (%d bytes): a client could take it for complete", len(rest))
	} else if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "connection reset") {
		t.Logf("stalled client's read ended with %v", err)
	}
	if got := metricValue(t, p.Base, "usersapi_streams_rejected_total"); got != "1" {
		t.Errorf("usersapi_streams_rejected_total = %q, want 1", got)
	}

	// With the slot free again, a client that reads finishes its stream.
	code, _, body, err := getWithin(t, p.Base+"/users", 60*time.Second)
	var users []json.RawMessage
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &users) != nil || len(users) != n {
		t.Errorf("full listing after the cut: %d, %d users, %v; want 200 with %d", code, len(users), err, n)
	}
}
