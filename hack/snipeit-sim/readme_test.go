package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeInstructionsWork follows docs/development.md's instructions for the
// simulator: every flag it names exists, and the token it tells users to
// export is the one a simulator started without -token accepts.
func TestReadmeInstructionsWork(t *testing.T) {
	readme, err := os.ReadFile("../../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "go run ./hack/snipeit-sim")
	if start < 0 {
		t.Fatal("docs/development.md does not say how to run hack/snipeit-sim")
	}
	section := string(readme[start:])
	section = section[:strings.Index(section, "\n## ")]

	var usage strings.Builder
	_ = run(context.Background(), []string{"-h"}, io.Discard, &usage)
	for _, m := range regexp.MustCompile("`(-[a-z-]+)`").FindAllStringSubmatch(section, -1) {
		if !strings.Contains(usage.String(), "  "+m[1]+" ") {
			t.Errorf("docs/development.md names %s, which snipeit-sim does not have:\n%s", m[1], usage.String())
		}
	}
	m := regexp.MustCompile(`SNIPEIT_TOKEN=(\S+)`).FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/development.md does not give the simulator's token")
	}
	token := m[1]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-users", "10", "-assets", "0"}, outW, io.Discard)
		outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, strings.TrimPrefix(strings.TrimSpace(line), "SNIPEIT_URL=")+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the simulator answers the README's token %q with %d", token, resp.StatusCode)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}
