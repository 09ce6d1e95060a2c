package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usersync/usersync/pkg/api"
	"github.com/usersync/usersync/pkg/logtest"
)

// checkoutMessage is what Snipe-IT's general webhook posts for an asset
// checkout.
const checkoutMessage = `{"text":":arrow_up: :computer: Asset checked out","attachments":[{"fields":[` +
	`{"title":"To","value":"<https:\/\/snipe.example.test\/users\/7|Ann Example>","short":true},` +
	`{"title":"By","value":"<https:\/\/snipe.example.test\/users\/1|Admin Fakeuser>","short":true}],` +
	`"title":"Laptop (A-1)","title_link":"https:\/\/snipe.example.test\/hardware\/1"}],"username":"Snipe-Bot"}`

// testMessage is what the "Test integration" button of Admin >
// Integrations posts.
const testMessage = `{"channel":"","text":"Oh hai! It looks like your General Webhook integration with Snipe-IT is working!",` +
	`"username":"Snipe-Bot","icon_emoji":":heart:"}`

const (
	secretA = "webhook-secret-aaaaaaaaaaaa"
	secretB = "webhook-secret-bbbbbbbbbbbb"
)

type countingQueue struct{ n atomic.Int64 }

func (q *countingQueue) Add() { q.n.Add(1) }

type webhookEnv struct {
	srv    *httptest.Server
	queue  *countingQueue
	reg    *prometheus.Registry
	logs   *logtest.Buffer
	secret string // the secrets file
}

func newWebhookEnv(t *testing.T, cfg api.WebhookConfig, secrets string) *webhookEnv {
	t.Helper()
	e := &webhookEnv{queue: &countingQueue{}, reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	if secrets != "" {
		e.secret = filepath.Join(t.TempDir(), "secrets")
		if err := os.WriteFile(e.secret, []byte(secrets), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := api.LoadWebhookSecrets(api.WebhookSecretsConfig{Path: e.secret, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Secrets = s
	}
	cfg.Queue = e.queue
	store := &fakeStore{}
	h, err := api.NewHandler(api.Config{Deps: api.Deps{Users: store, Assets: store, Runs: store}, BasePath: "/api",
		DB: store, Registry: e.reg, Logger: log, Webhook: cfg})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *webhookEnv) post(t *testing.T, path, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// comparable drops the headers that differ between any two answers.
func comparableHeader(h http.Header) http.Header {
	h = h.Clone()
	h.Del("Date")
	h.Del("X-Request-Id")
	return h
}

func TestWebhookWrongSecretIsAnUnknownPath(t *testing.T) {
	for name, secrets := range map[string]string{"with secrets": secretA + "\n", "without WEBHOOK_SECRET_FILE": ""} {
		t.Run(name, func(t *testing.T) {
			e := newWebhookEnv(t, api.WebhookConfig{}, secrets)
			unknown, unknownBody := e.post(t, "/api/no/such/path", checkoutMessage)
			for _, path := range []string{"/api/webhooks/snipeit/wrong-secret-xxxxxxxxxxx", "/api/webhooks/snipeit/" + secretA[:20],
				"/api/webhooks/snipeit/", "/api/webhooks/snipeit/" + secretA + "x"} {
				resp, body := e.post(t, path, checkoutMessage)
				if resp.StatusCode != http.StatusNotFound || body != unknownBody {
					t.Errorf("POST %s = %d %s, want the unknown path's 404 %s", path, resp.StatusCode, body, unknownBody)
				}
				if diff := cmp.Diff(comparableHeader(unknown.Header), comparableHeader(resp.Header)); diff != "" {
					t.Errorf("POST %s: headers differ from an unknown path's (-unknown +got):\n%s", path, diff)
				}
			}
			if n := e.queue.n.Load(); n != 0 {
				t.Errorf("%d events queued", n)
			}
		})
	}
}

func TestWebhookAnswers(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookConfig{}, "# two secrets while rotating\n"+secretA+"\n  "+secretB+"  \n")
	tests := []struct {
		name, secret, body string
		status             int
		contains           string
		queued             int64
	}{
		{"a checkout", secretA, checkoutMessage, http.StatusAccepted, `"status":"accepted"`, 1},
		{"the second secret", secretB, checkoutMessage, http.StatusAccepted, `"status":"accepted"`, 2},
		{"the test message", secretA, testMessage, http.StatusOK, `"status":"ignored"`, 2},
		{"not JSON", secretA, "text=hello", http.StatusBadRequest, `"status":400`, 2},
		{"an empty body", secretA, "", http.StatusBadRequest, `"status":400`, 2},
		{"a JSON array", secretA, "[1,2]", http.StatusBadRequest, `"status":400`, 2},
		{"an attachment about no record", secretA, `{"text":"x","attachments":[{"title":"x","title_link":"https://x.test/"}]}`,
			http.StatusBadRequest, "does not link to a record", 2},
		{"a body over 64 KiB", secretA, `{"text":"` + strings.Repeat("x", api.MaxWebhookBody) + `"}`,
			http.StatusRequestEntityTooLarge, `"status":413`, 2},
	}
	for _, tt := range tests {
		resp, body := e.post(t, "/api/webhooks/snipeit/"+tt.secret, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, resp.StatusCode, body, tt.status, tt.contains)
		}
		if tt.status >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", tt.name, resp.Header.Get("Content-Type"))
		}
		if n := e.queue.n.Load(); n != tt.queued {
			t.Errorf("%s: %d events queued, want %d", tt.name, n, tt.queued)
		}
	}
	if strings.Contains(e.logs.String(), secretA) || strings.Contains(e.logs.String(), secretB) {
		t.Errorf("a secret is in the log:\n%s", e.logs)
	}
	if !strings.Contains(e.logs.String(), `"path":"/api/webhooks/snipeit/{secret}"`) {
		t.Errorf("the access log does not name the route:\n%s", e.logs)
	}
	want := `# HELP usersapi_webhook_events_total Messages to POST /webhooks/snipeit/{secret} by result: accepted (a change, queued for an incremental sync), ignored (a message about no change, e.g. Snipe-IT's test), not_found (wrong or no secret), bad_request, too_large, rate_limited.
# TYPE usersapi_webhook_events_total counter
usersapi_webhook_events_total{result="accepted"} 2
usersapi_webhook_events_total{result="bad_request"} 4
usersapi_webhook_events_total{result="ignored"} 1
usersapi_webhook_events_total{result="not_found"} 0
usersapi_webhook_events_total{result="rate_limited"} 0
usersapi_webhook_events_total{result="too_large"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "usersapi_webhook_events_total"); err != nil {
		t.Error(err)
	}
}

func TestWebhookRateLimit(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookConfig{Rate: 0.5, Burst: 3}, secretA+"\n")
	codes := map[int]int{}
	var retryAfter string
	for range 5 {
		resp, _ := e.post(t, "/api/webhooks/snipeit/"+secretA, checkoutMessage)
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[http.StatusAccepted] != 3 || codes[http.StatusTooManyRequests] != 2 {
		t.Errorf("5 messages at once with a burst of 3: %v, want three 202 and two 429", codes)
	}
	if retryAfter != "2" {
		t.Errorf("Retry-After = %q, want 2 (one message per 2 s)", retryAfter)
	}
	// A wrong secret is not rate limited: it cannot use up the budget of
	// the real sender.
	if resp, _ := e.post(t, "/api/webhooks/snipeit/wrong-secret-xxxxxxxxxxx", checkoutMessage); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a wrong secret while limited = %d, want 404", resp.StatusCode)
	}
}

// TestWebhookSecretRotation changes the secrets file while serving: the new
// secret is accepted and the removed one is refused, without a restart.
func TestWebhookSecretRotation(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookConfig{}, secretA+"\n")
	write := func(content string) {
		t.Helper()
		// Kubernetes swaps the file; a later mtime and another size make
		// the change visible to a stat.
		if err := os.WriteFile(e.secret, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Duration(len(content)) * time.Second)
		if err := os.Chtimes(e.secret, future, future); err != nil {
			t.Fatal(err)
		}
	}
	status := func(secret string) int {
		resp, _ := e.post(t, "/api/webhooks/snipeit/"+secret, checkoutMessage)
		return resp.StatusCode
	}
	write(secretA + "\n" + secretB + "\n")
	if a, b := status(secretA), status(secretB); a != 202 || b != 202 {
		t.Errorf("while both are listed: %d, %d; want both accepted", a, b)
	}
	write(secretB + "\n")
	if a, b := status(secretA), status(secretB); a != 404 || b != 202 {
		t.Errorf("after the old one was removed: %d, %d; want 404 and 202", a, b)
	}
	write("short\n")
	if b := status(secretB); b != 202 {
		t.Errorf("after a broken file: %d; want the secrets before kept", b)
	}
	if !strings.Contains(e.logs.String(), "webhook secret file changed but cannot be used") {
		t.Errorf("the broken file is not logged:\n%s", e.logs)
	}
}

func TestParseWebhookSecrets(t *testing.T) {
	got, err := api.ParseWebhookSecrets([]byte("# comment\n\n " + secretA + " \n" + secretB + "\n"))
	if err != nil || !cmp.Equal(got, []string{secretA, secretB}) {
		t.Errorf("ParseWebhookSecrets = %q, %v", got, err)
	}
	for _, bad := range []string{"too-short\n", secretA + "/x\n", secretA + " x\n", "ünïcödé-ünïcödé-ünïcödé\n"} {
		_, err := api.ParseWebhookSecrets([]byte(bad))
		if err == nil || strings.Contains(err.Error(), strings.TrimSpace(bad)) {
			t.Errorf("ParseWebhookSecrets(%q) = %v, want an error that does not quote the line", bad, err)
		}
	}
	if _, err := api.LoadWebhookSecrets(api.WebhookSecretsConfig{Path: filepath.Join(t.TempDir(), "absent")}); err == nil {
		t.Error("a missing file loads")
	}
}
