package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
