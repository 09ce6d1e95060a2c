package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit"
)

// WebhookPath is the route of Snipe-IT's general webhook, under BASE_PATH.
// The secret in the path is its only credential: Snipe-IT sends no
// signature and no header of its own.
const WebhookPath = "/webhooks/snipeit/{secret}"

// Bounds of the webhook route.
const (
	// MaxWebhookBody bounds a webhook message: Snipe-IT's are well under
	// 2 KiB; a larger body is refused with 413.
	MaxWebhookBody = 64 << 10
	// DefaultWebhookRate is how many messages a second the route accepts
	// on average (all senders together), and DefaultWebhookBurst how many
	// at once: a bulk checkout in Snipe-IT sends one message per item,
	// one after another.
	DefaultWebhookRate  = 10
	DefaultWebhookBurst = 100
	// minWebhookSecret is the shortest secret WEBHOOK_SECRET_FILE may hold:
	// nothing but the secret guards the route.
	minWebhookSecret = 16
)

// EventQueue takes the webhook's events. *webhookqueue.Queue satisfies it.
type EventQueue interface {
	// Add counts one event. It must not block: the webhook answers at
	// once and the queue talks to Kubernetes in the background.
	Add()
}

// WebhookConfig configures POST /webhooks/snipeit/{secret}.
type WebhookConfig struct {
	// Secrets are the secrets the path may carry; nil answers every
	// request 404, as for a path that does not exist.
	Secrets *WebhookSecrets
	// Queue receives the accepted events; required with Secrets.
	Queue EventQueue
	// Rate and Burst bound the messages accepted (a token bucket, all
	// senders together); 0 means DefaultWebhookRate and
	// DefaultWebhookBurst.
	Rate  float64
	Burst int
}

// Results of a webhook message, as usersapi_webhook_events_total counts
// them.
const (
	webhookAccepted    = "accepted"
	webhookIgnored     = "ignored"
	webhookNotFound    = "not_found"
	webhookBadRequest  = "bad_request"
	webhookTooLarge    = "too_large"
	webhookRateLimited = "rate_limited"
)

// newWebhookHandler answers Snipe-IT's webhook: 404 exactly like an
// unknown path unless the path's secret is one of cfg.Secrets; then 429
// beyond the rate, 413 beyond MaxWebhookBody, 400 for a body that is not a
// Snipe-IT message, 200 "ignored" for a message about no change (the
// "Test integration" button's), and 202 "accepted" for a change, which
// goes to cfg.Queue. Nothing here waits for Kubernetes.
func newWebhookHandler(cfg WebhookConfig, reg prometheus.Registerer, log *slog.Logger) http.HandlerFunc {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersapi_webhook_events_total",
		Help: "Messages to POST /webhooks/snipeit/{secret} by result: accepted (a change, queued for an incremental sync), " +
			"ignored (a message about no change, e.g. Snipe-IT's test), not_found (wrong or no secret), bad_request, " +
			"too_large, rate_limited.",
	}, []string{"result"})
	for _, r := range []string{webhookAccepted, webhookIgnored, webhookNotFound, webhookBadRequest, webhookTooLarge, webhookRateLimited} {
		events.WithLabelValues(r)
	}
	reg.MustRegister(events)
	limit, burst := rate.Limit(cfg.Rate), cfg.Burst
	if limit == 0 {
		limit = DefaultWebhookRate
	}
	if burst == 0 {
		burst = DefaultWebhookBurst
	}
	limiter := rate.NewLimiter(limit, burst)

	return func(w http.ResponseWriter, r *http.Request) {
		if cfg.Secrets == nil || cfg.Queue == nil || !cfg.Secrets.Match(chi.URLParam(r, "secret")) {
			events.WithLabelValues(webhookNotFound).Inc()
			writeNotFound(w)
			return
		}
		if res := limiter.Reserve(); res.Delay() > 0 {
			wait := res.Delay()
			res.Cancel()
			events.WithLabelValues(webhookRateLimited).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeProblem(w, http.StatusTooManyRequests, "too many webhook messages; try again later")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			events.WithLabelValues(webhookTooLarge).Inc()
			writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a webhook message is at most %d bytes", MaxWebhookBody))
			return
		case err != nil:
			events.WithLabelValues(webhookBadRequest).Inc()
			writeProblem(w, http.StatusBadRequest, "the body could not be read")
			return
		}
		ev, err := snipeit.ParseWebhook(body)
		if err != nil {
			if isNoChangeMessage(body) {
				events.WithLabelValues(webhookIgnored).Inc()
				log.InfoContext(r.Context(), "webhook message about no change ignored", "request_id", RequestID(r.Context()))
				writeStatus(w, http.StatusOK, "ignored")
				return
			}
			events.WithLabelValues(webhookBadRequest).Inc()
			writeProblem(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), model.ErrInvalid.Error()+": "))
			return
		}
		cfg.Queue.Add()
		events.WithLabelValues(webhookAccepted).Inc()
		log.InfoContext(r.Context(), "webhook event queued", "action", ev.Action, "item_type", ev.Item.Type,
			"item_id", ev.Item.ID, "request_id", RequestID(r.Context()))
		writeStatus(w, http.StatusAccepted, "accepted")
	}
}

// isNoChangeMessage recognises a Slack-format message without an
// attachment: what Snipe-IT's "Test integration" button sends ({"text":
// "…integration with Snipe-IT is working!", "channel", "username",
// "icon_emoji"}). Every message about a change has one attachment.
func isNoChangeMessage(body []byte) bool {
	var m struct {
		Text        *string           `json:"text"`
		Attachments []json.RawMessage `json:"attachments"`
	}
	return json.Unmarshal(body, &m) == nil && m.Text != nil && len(m.Attachments) == 0
}

// writeNotFound is the answer to a path that does not exist; the webhook
// answers a wrong secret with it, byte for byte.
func writeNotFound(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "no such path")
}

// WebhookSecrets are the secrets of WEBHOOK_SECRET_FILE, as SHA-256
// digests: one a line, blank lines and # comments ignored, so a new secret
// can be added, Snipe-IT switched to it, and the old one removed without
// downtime. The file is reread when it changes, as the token file is.
type WebhookSecrets struct {
	file reloadingFile[[][sha256.Size]byte]
}

// WebhookSecretsConfig configures LoadWebhookSecrets.
type WebhookSecretsConfig struct {
	// Path is the file.
	Path string
	// CheckEvery is how often a request may trigger a check for a changed
	// file; 0 checks on every request.
	CheckEvery time.Duration
	// Logger receives reloads and reload failures (never a secret).
	Logger *slog.Logger
}

// LoadWebhookSecrets reads the secrets file. An unreadable or malformed
// file, or one without a secret, is an error wrapping model.ErrInvalid.
func LoadWebhookSecrets(cfg WebhookSecretsConfig) (*WebhookSecrets, error) {
	s := &WebhookSecrets{file: reloadingFile[[][sha256.Size]byte]{path: cfg.Path, what: "webhook secret file",
		checkEvery: cfg.CheckEvery, parse: readWebhookSecrets, reloaded: logSecretsReloaded, log: cfg.Logger}}
	if err := s.file.load(); err != nil {
		return nil, err
	}
	if len(s.file.value) == 0 {
		return nil, fmt.Errorf("%w: webhook secret file %s holds no secret", model.ErrInvalid, cfg.Path)
	}
	return s, nil
}

func logSecretsReloaded(log *slog.Logger, digests [][sha256.Size]byte) {
	if len(digests) == 0 {
		log.Warn("webhook secret file reloaded without a secret: every webhook message is refused")
		return
	}
	log.Info("reloaded webhook secret file", "secrets", len(digests))
}

// Match reports whether secret is one of the secrets. Every one is
// compared, by digest, in constant time.
func (s *WebhookSecrets) Match(secret string) bool {
	d := sha256.Sum256([]byte(secret))
	ok := 0
	for _, e := range s.file.get() {
		ok |= subtle.ConstantTimeCompare(d[:], e[:])
	}
	return ok == 1 && secret != ""
}

// Len reports how many secrets are loaded.
func (s *WebhookSecrets) Len() int { return len(s.file.get()) }

// readWebhookSecrets reads and checks the file (ParseWebhookSecrets).
func readWebhookSecrets(path string) ([][sha256.Size]byte, error) {
	secrets, err := readSecretFile(path, "webhook secret file", ParseWebhookSecrets)
	if err != nil {
		return nil, err
	}
	digests := make([][sha256.Size]byte, len(secrets))
	for i, s := range secrets {
		digests[i] = sha256.Sum256([]byte(s))
	}
	return digests, nil
}

// ParseWebhookSecrets parses the format of WEBHOOK_SECRET_FILE: one secret
// a line, spaces around it trimmed, blank lines and # comments ignored.
// A secret is at least 16 characters that can stand in a URL path as they
// are: ASCII letters, digits, '-', '.', '_' and '~'. Errors name the line,
// never its content.
func ParseWebhookSecrets(data []byte) ([]string, error) {
	var secrets []string
	err := eachSecretLine(data, func(n int, line string) error {
		if len(line) < minWebhookSecret || strings.IndexFunc(line, notURLSafe) >= 0 {
			return fmt.Errorf("line %d: a secret is at least %d characters of A-Z, a-z, 0-9, '-', '.', '_', '~'",
				n, minWebhookSecret)
		}
		secrets = append(secrets, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return secrets, nil
}

// notURLSafe reports whether r is not an unreserved character of RFC 3986.
func notURLSafe(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~", r))
}
