package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/usersync/usersync/pkg/model"
)

// Pinger checks that the database answers. *postgres.DB satisfies it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config configures NewHandler.
type Config struct {
	// Deps are the operations' dependencies.
	Deps Deps
	// BasePath prefixes every API operation (e.g. "/api"; see
	// CleanBasePath). Probes, metrics and docs stay at the root.
	BasePath string
	// DB is pinged by /readyz.
	DB Pinger
	// Registry receives the metrics /metrics serves; nil makes a private one.
	Registry *prometheus.Registry
	// Logger receives access logs and errors; nil discards them.
	Logger *slog.Logger
	// Version is the API version in the OpenAPI document.
	Version string
	// Webhook configures POST {BasePath}/webhooks/snipeit/{secret}; its
	// zero value answers that route 404 like any unknown path.
	Webhook WebhookConfig
}

// Handler is the whole HTTP surface of usersapi.
type Handler struct {
	http.Handler
	draining atomic.Bool
}

// readyTimeout bounds the database ping of one /readyz.
const readyTimeout = 2 * time.Second

// NewHandler builds the router: request ids and observation (metrics,
// access log, panics) around everything; /healthz, /readyz, /metrics,
// /docs and /openapi.json at the root; the operations of Register under
// cfg.BasePath.
func NewHandler(cfg Config) (*Handler, error) {
	base, err := CleanBasePath(cfg.BasePath)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	deps := cfg.Deps
	if deps.Logger == nil {
		deps.Logger = log
	}
	if deps.Registry == nil {
		deps.Registry = reg
	}
	h := &Handler{}

	r := chi.NewRouter()
	r.Use(withRequestID, observe(log, newMetrics(reg)), limitRequests, dropMalformedAccept)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) { writeNotFound(w) })
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method not allowed on this path")
	})
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if h.draining.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
		defer cancel()
		if err := cfg.DB.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "err", err, "request_id", RequestID(ctx))
			writeStatus(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	docs, err := newDocs()
	if err != nil {
		return nil, err
	}
	docs.mount(r)
	// Outside huma: no bearer token (the secret in the path is the
	// credential) and answers a wrong secret exactly as an unknown path.
	r.Post(base+WebhookPath, newWebhookHandler(cfg.Webhook, reg, log))

	api := humachi.New(r, huma.Config{
		OpenAPI: &huma.OpenAPI{Info: &huma.Info{
			Title:   "usersapi",
			Version: cfg.Version,
			Description: "Snipe-IT users and assets as mirrored into PostgreSQL by usersync, and the state of the syncs. " +
				"Errors are RFC 9457 problem details.",
		}},
		OpenAPIPath: "/openapi",
		// /docs is ours (docs.go): huma's page loads its viewer from a CDN.
		DocsPath: "",
		// The keys are formatNames: dropMalformedAccept checks what huma's
		// negotiation picks among them.
		Formats:       map[string]huma.Format{formatNames[0]: huma.DefaultJSONFormat, formatNames[1]: huma.DefaultJSONFormat},
		DefaultFormat: "application/json",
	})
	var ops huma.API = api
	if base != "" {
		ops = huma.NewGroup(api, base)
	}
	Register(ops, deps)
	h.Handler = r
	return h, nil
}

// Drain makes /readyz fail from now on, so the load balancer stops sending
// traffic before the listener closes.
func (h *Handler) Drain() { h.draining.Store(true) }

// CleanBasePath validates BASE_PATH: empty, or a path starting with / and
// without a trailing one ("/" counts as empty).
func CleanBasePath(p string) (string, error) {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#{} ") {
		return "", fmt.Errorf("%w: base path %q: want a path such as /api", model.ErrInvalid, p)
	}
	return p, nil
}

// writeStatus answers a probe with {"status": …}.
func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// writeProblem answers outside huma (unknown paths, panics) in the same
// RFC 9457 shape huma uses.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
}
