// Package api serves the usersync mirror over HTTP: huma v2 operations for
// users, assets and sync runs, bearer-token auth with scopes, the one
// translation of errors into RFC 9457 problem responses, and (server.go)
// the chi router around them with request ids, access logs, Prometheus
// metrics, health and readiness probes and the OpenAPI document.
//
// Register is the single place operations are declared; main mounts it
// under BASE_PATH through NewHandler, and tests mount it on humatest.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/model"
)

// UserReader reads mirrored users. *postgres.DB satisfies it.
type UserReader interface {
	// GetUserJSON returns one user, soft-deleted or not, as the JSON of
	// User and a newline (what Go's Encoder writes for it), or an error
	// wrapping model.ErrNotFound.
	GetUserJSON(ctx context.Context, id int64) ([]byte, error)
	// ListUsers returns one keyset page and the next page's cursor.
	ListUsers(ctx context.Context, f model.UserFilter, p model.Page) ([]model.User, string, error)
	// StreamUsers calls fn for every selected user in id order, reusing
	// the *model.User between calls.
	StreamUsers(ctx context.Context, f model.UserFilter, fn func(*model.User) error) error
}

// AssetReader reads mirrored assets. *postgres.DB satisfies it.
type AssetReader interface {
	GetAsset(ctx context.Context, id int64) (*model.Asset, error)
	ListAssets(ctx context.Context, f model.AssetFilter, p model.Page) ([]model.Asset, string, error)
	StreamAssets(ctx context.Context, f model.AssetFilter, fn func(*model.Asset) error) error
	// ListUserAssets returns one page of the assets checked out to a user,
	// or an error wrapping model.ErrNotFound when the user is unknown.
	ListUserAssets(ctx context.Context, userID int64, f model.AssetFilter, p model.Page) ([]model.Asset, string, error)
	// StreamUserAssets calls fn for every asset checked out to a user, or
	// returns an error wrapping model.ErrNotFound (before any call) when
	// the user is unknown.
	StreamUserAssets(ctx context.Context, userID int64, f model.AssetFilter, fn func(*model.Asset) error) error
}

// RunReader reads the recorded sync runs. *postgres.DB satisfies it.
type RunReader interface {
	ListRuns(ctx context.Context, f model.RunFilter, p model.Page) ([]model.SyncRun, string, error)
	ScopeStatuses(ctx context.Context) ([]model.ScopeStatus, error)
	// RunsOfJobs returns the runs recorded by the named Kubernetes Jobs,
	// oldest first.
	RunsOfJobs(ctx context.Context, jobs []string) ([]model.SyncRun, error)
}

// ExportRecorder writes the export history. *postgres.DB satisfies it.
type ExportRecorder interface {
	// RecordExport records an export, or a page of a paged one (see
	// model.Export.PageCursor).
	RecordExport(ctx context.Context, e model.Export) error
}

// ExportReader reads the export history. *postgres.DB satisfies it.
type ExportReader interface {
	// ListExports returns one page of the history, newest first.
	ListExports(ctx context.Context, p model.Page) ([]model.Export, string, error)
}

// Deps are what the operations need. Users, Assets and Runs are required.
type Deps struct {
	Users  UserReader
	Assets AssetReader
	Runs   RunReader
	// Exports lists the export history (GET /exports); nil lists an
	// empty one. Like the readers above it may be a read replica.
	Exports ExportReader
	// ExportLog records the exports; nil records none. It writes, so it is
	// the primary database.
	ExportLog ExportRecorder
	// Tokens holds the accepted bearer tokens; nil accepts none.
	Tokens *Tokens
	// PublicReads lets requests without a token use the read operations.
	PublicReads bool
	// Logger receives unexpected errors (with the request id); nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock for ages in /sync/status and of the cached list of
	// sync Jobs; nil means time.Now.
	Now func() time.Time
	// Limits bound streams and requests; the zero value bounds nothing.
	Limits Limits
	// Registry receives the operations' metrics (streams, exports); nil
	// keeps them unexported. NewHandler passes its own.
	Registry prometheus.Registerer
	// Launcher starts sync Jobs and lists them (POST /sync/*, GET
	// /sync/jobs); nil answers those with 503 "not configured".
	Launcher SyncLauncher
	// JobsCacheTTL is how old the list of sync Jobs that GET /sync/jobs
	// answers from may be; 0 means DefaultJobsCacheTTL.
	JobsCacheTTL time.Duration
}

// Tags group the operations in the OpenAPI document.
const (
	tagUsers  = "users"
	tagAssets = "assets"
	tagSync   = "sync"
	tagExport = "exports"
)

// service carries the dependencies into the handlers.
type service struct {
	api     huma.API
	deps    Deps
	limits  Limits
	log     *slog.Logger
	now     func() time.Time
	metrics *serviceMetrics
	slots   *streamSlots
	// jobs caches the launcher's list of sync Jobs; nil without one.
	jobs *jobCache
	// CSV columns of the exportable element types, derived once.
	usersCSV  *csvTable[User]
	assetsCSV *csvTable[Asset]
}

// Register declares every operation of the API on api, with auth. Mount it
// on a huma.NewGroup to put the operations under a base path.
func Register(api huma.API, deps Deps) {
	s := &service{api: api, deps: deps, limits: deps.Limits, log: deps.Logger, now: deps.Now,
		metrics: newServiceMetrics(deps.Registry), usersCSV: newCSVTable[User](), assetsCSV: newCSVTable[Asset]()}
	s.slots = newStreamSlots(deps.Limits.MaxStreams, s.metrics)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if deps.Launcher != nil {
		s.jobs = newJobCache(deps.Launcher, deps.JobsCacheTTL, s.now)
	}
	declareSecurity(api.OpenAPI())
	// Middlewares are captured when an operation is registered, so auth
	// must be in place before the first one.
	api.UseMiddleware(s.authenticate)
	s.registerUsers()
	s.registerAssets()
	s.registerSync()
	s.registerSyncJobs()
	s.registerExports()
}

// get declares a GET operation that needs scope, routing every error its
// handler returns through httpError: no handler error reaches huma
// untranslated, so none can leak its text into a 500. The handler runs
// within Limits.RequestTimeout; a listing streamed whole runs after it
// returns, under the stream limits instead (see list).
func get[I, O any](s *service, scope, id, tag, path, summary string, handler func(context.Context, *I) (*O, error), opts ...func(*huma.Operation)) {
	operation(s, http.MethodGet, scope, id, tag, path, summary, handler, opts...)
}

// operation declares an operation of any method as get does.
func operation[I, O any](s *service, method, scope, id, tag, path, summary string, handler func(context.Context, *I) (*O, error), opts ...func(*huma.Operation)) {
	op := huma.Operation{
		OperationID: id,
		Method:      method,
		Path:        path,
		Summary:     summary,
		Tags:        []string{tag},
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable},
	}
	for _, o := range opts {
		o(&op)
	}
	op.Security = s.security(&op, scope)
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		hctx, cancel := s.withRequestTimeout(ctx)
		defer cancel()
		out, err := handler(hctx, in)
		if err != nil {
			if ctx.Err() == nil && context.Cause(hctx) == errTooSlow {
				err = errTooSlow
			}
			return nil, s.httpError(ctx, err)
		}
		return out, nil
	})
}

// withErrors adds documented error statuses to an operation.
func withErrors(statuses ...int) func(*huma.Operation) {
	return func(op *huma.Operation) { op.Errors = append(op.Errors, statuses...) }
}

// withDescription sets an operation's long description.
func withDescription(d string) func(*huma.Operation) {
	return func(op *huma.Operation) { op.Description = d }
}
