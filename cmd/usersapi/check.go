package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// checkPollInterval is how often check retries /readyz until it answers.
const checkPollInterval = time.Second

// runCheck is `usersapi check`, what the Helm chart's `helm test` pod
// runs: /readyz answers 200 (within CHECK_TIMEOUT, default 30s), and
// GET <BASE_PATH>/users?limit=1 with the first token of API_TOKENS_FILE
// answers 200 with a JSON array. It lives in usersapi so that the test
// needs no second image: the distroless image has no shell or curl.
func runCheck(ctx context.Context, cfg *config, stdout io.Writer) error {
	base, basePath, timeout := cfg.check.url, cfg.basePath, cfg.check.timeout
	var token string
	if len(cfg.tokens) > 0 {
		token = cfg.tokens[0].Token
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}

	// The pods may still be starting when the test runs: wait for readiness.
	var last error
	for {
		status, _, err := fetch(ctx, client, base+"/readyz", "")
		if err == nil && status == http.StatusOK {
			break
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %d", status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s/readyz: not ready within %s: %w", base, timeout, last)
		case <-time.After(checkPollInterval):
		}
	}
	fmt.Fprintf(stdout, "ok: GET %s/readyz\n", base)

	url := base + basePath + "/users?limit=1"
	status, body, err := fetch(ctx, client, url, token)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", url, status, bytes.TrimSpace(body))
	}
	var users []json.RawMessage
	if err := json.Unmarshal(body, &users); err != nil {
		return fmt.Errorf("GET %s: not a JSON array: %w", url, err)
	}
	fmt.Fprintf(stdout, "ok: GET %s: %d user(s)\n", url, len(users))
	return nil
}

// fetch GETs url and returns the status and up to 1 MiB of the body.
func fetch(ctx context.Context, client *http.Client, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}
