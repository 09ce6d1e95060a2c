package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envOf is a getenv over a map.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigReportsEveryProblemAtOnce(t *testing.T) {
	_, err := loadConfig(cmdServe, envOf(map[string]string{
		"DATABASE_URL":             "postgres://x@127.0.0.1:notaport/x",
		"DATABASE_READ_URL":        "postgres://x@127.0.0.1:alsonotaport/x",
		"BASE_PATH":                "api",
		"PUBLIC_READS":             "yes please",
		"SHUTDOWN_DELAY":           "soon",
		"MAX_STREAMS":              "0",
		"EXPORT_HISTORY_RETENTION": "forever",
		"SYNC_JOBS_CACHE_TTL":      "10ms",
		"LOG_FORMAT":               "xml",
		"LOG_LEVEL":                "loud",
	}))
	var problems configProblems
	if !errors.As(err, &problems) {
		t.Fatalf("err = %v, want configProblems", err)
	}
	var got []string
	for _, p := range problems {
		name, _, _ := strings.Cut(p, ":")
		name, _, _ = strings.Cut(name, "=")
		got = append(got, name)
	}
	want := []string{"BASE_PATH", "DATABASE_URL", "DATABASE_READ_URL", "PUBLIC_READS", "no way in", "SHUTDOWN_DELAY",
		"MAX_STREAMS", "EXPORT_HISTORY_RETENTION", "LOG_LEVEL", "LOG_FORMAT", "SYNC_JOBS_CACHE_TTL"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%s", diff, strings.Join(problems, "\n"))
	}
	if exitCode(err) != 2 {
		t.Errorf("exit code %d, want 2", exitCode(err))
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ops=sync:s\nread:r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cmdServe, envOf(map[string]string{"DATABASE_URL": "postgres://x@db/x", "API_TOKENS_FILE": tokens}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.listenAddr, c.basePath, c.publicReads, c.shutdownDelay, c.shutdownTimeout, c.limits.StreamTimeout,
		c.limits.StreamStallTimeout, c.limits.RequestTimeout, c.acquireTimeout, c.exportRetention, c.sync.cacheTTL,
		c.logFormat, c.databaseReadURL, len(c.tokens), c.gcPercent}
	want := []any{":8080", "", false, 5 * time.Second, 25 * time.Second, 5 * time.Minute, 10 * time.Second,
		10 * time.Second, time.Second, 90 * 24 * time.Hour, 5 * time.Second, "json", "", 2, 400}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	// GOGC set is the runtime's to obey: usersapi then sets nothing.
	c, err = loadConfig(cmdServe, envOf(map[string]string{"DATABASE_URL": "postgres://x@db/x", "API_TOKENS_FILE": tokens,
		"GOGC": "100"}))
	if err != nil || c.gcPercent != 0 {
		t.Errorf("with GOGC=100: gcPercent %d, %v; want 0", c.gcPercent, err)
	}
}

func TestLoadCheckConfig(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# rotated\nreports=read:first\nsync:second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cmdCheck, envOf(map[string]string{"CHECK_URL": "http://api/", "BASE_PATH": "/api/",
		"API_TOKENS_FILE": tokens}))
	if err != nil {
		t.Fatal(err)
	}
	if c.check.url != "http://api" || c.basePath != "/api" || c.tokens[0].Token != "first" || c.check.timeout != 30*time.Second {
		t.Errorf("check config = %q %q %q %s", c.check.url, c.basePath, c.tokens[0].Token, c.check.timeout)
	}

	// What check does not read is not checked: no DATABASE_URL needed.
	_, err = loadConfig(cmdCheck, envOf(map[string]string{"BASE_PATH": "api", "CHECK_TIMEOUT": "-1s",
		"API_TOKENS_FILE": filepath.Join(dir, "absent")}))
	var problems configProblems
	if !errors.As(err, &problems) || len(problems) != 4 {
		t.Errorf("err = %v, want four problems: BASE_PATH, API_TOKENS_FILE, CHECK_URL, CHECK_TIMEOUT", err)
	}
}

func TestParseRetention(t *testing.T) {
	for v, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0": 0, "0d": 0, "2160h": 2160 * time.Hour, "1h": time.Hour} {
		if got, err := parseRetention(v); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %s, %v; want %s", v, got, err, want)
		}
	}
	for _, v := range []string{"-1d", "1m", "d", "90 d", "1.5d", "forever", "-1h"} {
		if _, err := parseRetention(v); err == nil {
			t.Errorf("parseRetention(%q) accepted", v)
		}
	}
}

func TestLoadConfigWebhook(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secrets, []byte("# rotating\n0123456789abcdef0123\nfedcba9876543210fedc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"DATABASE_URL": "postgres://x@db/x", "PUBLIC_READS": "true"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := loadConfig(cmdServe, envOf(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.webhook.secretFile != "" || c.webhook.debounce != 5*time.Second || c.webhook.maxWait != 30*time.Second {
		t.Errorf("webhook defaults: %+v", c.webhook)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"a secret file without SYNC_CRONJOB": {with("WEBHOOK_SECRET_FILE", secrets), "WEBHOOK_SECRET_FILE is set without SYNC_CRONJOB"},
		"a secret too short":                 {with("WEBHOOK_SECRET_FILE", short), "WEBHOOK_SECRET_FILE: webhook secret file " + short + ": line 1: a secret is at least 16 characters"},
		"no such secret file":                {with("WEBHOOK_SECRET_FILE", filepath.Join(dir, "absent")), "WEBHOOK_SECRET_FILE: webhook secret file: stat "},
		"a debounce that is no duration":     {with("WEBHOOK_DEBOUNCE", "soon"), `WEBHOOK_DEBOUNCE="soon"`},
		"a max wait below the debounce":      {with("WEBHOOK_DEBOUNCE", "10s", "WEBHOOK_MAX_WAIT", "5s"), "WEBHOOK_MAX_WAIT=5s is shorter than WEBHOOK_DEBOUNCE=10s"},
		"an incremental CronJob alone":       {with("SYNC_INCREMENTAL_CRONJOB", "usersync-incremental"), "SYNC_INCREMENTAL_CRONJOB is set without SYNC_CRONJOB"},
	} {
		_, err := loadConfig(cmdServe, envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != 2 {
			t.Errorf("%s: %v, want exit 2 saying %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "tooshort") {
			t.Errorf("%s: the error quotes the secret: %v", name, err)
		}
	}
}
