package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/usersync/usersync/pkg/model"
)

// ErrShuttingDown is the cause with which usersapi cancels the requests
// still running when its shutdown budget ends (http.Server.BaseContext):
// a stream cut by it is recorded as cut, and a request that has not
// answered yet gets 503.
var ErrShuttingDown = errors.New("the server is shutting down")

// errTooSlow ends a request that ran past Limits.RequestTimeout.
var errTooSlow = errors.New("the request took longer than the server allows; try again later, or narrow it")

// retryShortly is the Retry-After of refusals at capacity.
var retryShortly = http.Header{"Retry-After": {"1"}}

// statusTable is the one mapping of domain errors to HTTP statuses. The
// first sentinel the error wraps wins. hideDetail keeps the error's text out
// of the response where it may carry internals (a database address).
var statusTable = []struct {
	err        error
	status     int
	hideDetail string
	headers    http.Header
	// warn logs the error: the answer is clear to the client, but an
	// operator must act on it.
	warn bool
}{
	{err: model.ErrUnauthorized, status: http.StatusUnauthorized,
		headers: http.Header{"WWW-Authenticate": {`Bearer realm="usersapi"`}}},
	{err: model.ErrForbidden, status: http.StatusForbidden,
		headers: http.Header{"WWW-Authenticate": {`Bearer realm="usersapi", error="insufficient_scope"`}}},
	{err: model.ErrNotFound, status: http.StatusNotFound},
	// Huma answers malformed parameters with 422; a cursor or search text
	// the store refuses is the same kind of mistake and gets the same status.
	{err: model.ErrInvalid, status: http.StatusUnprocessableEntity},
	{err: model.ErrConflict, status: http.StatusConflict},
	// At capacity (every stream slot or database connection taken), too
	// slow, or going away: the server's condition, not the request's, so
	// 503 with a hint to come back.
	{err: model.ErrBusy, status: http.StatusServiceUnavailable, headers: retryShortly},
	{err: errTooSlow, status: http.StatusServiceUnavailable, headers: retryShortly},
	{err: ErrShuttingDown, status: http.StatusServiceUnavailable, headers: retryShortly},
	// Sync on demand: switched off or misconfigured, refused by Kubernetes
	// RBAC or admission (a quota, a policy), or Kubernetes does not answer.
	// 503 for all four: the request was fine, the service cannot do it now,
	// and the detail says why.
	{err: model.ErrNotConfigured, status: http.StatusServiceUnavailable, warn: true},
	{err: model.ErrDenied, status: http.StatusServiceUnavailable, warn: true},
	{err: model.ErrAdmissionDenied, status: http.StatusServiceUnavailable, warn: true},
	{err: model.ErrKubernetesUnavailable, status: http.StatusServiceUnavailable,
		hideDetail: "the Kubernetes API is unavailable; try again later",
		headers:    http.Header{"Retry-After": {"5"}}},
	{err: model.ErrUnavailable, status: http.StatusServiceUnavailable,
		hideDetail: "the database is unavailable; try again later",
		headers:    http.Header{"Retry-After": {"5"}}},
}

// statusClientClosed answers a request whose client went away.
const statusClientClosed = 499

// httpError translates err into the response the client gets: a status
// error huma writes as application/problem+json. Known sentinels map
// through statusTable; anything else is logged with the request id and
// answered with a bare 500 that carries no internal text.
func (s *service) httpError(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		// Already a deliberate response (304 Not Modified, a validation error).
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		if cause := context.Cause(ctx); cause != ctx.Err() {
			// The server ended the request on purpose (shutdown): say why.
			err = cause
		} else {
			// The client went away; nobody reads this answer. 499 (nginx's
			// "client closed request") keeps it apart from server failures
			// in the metrics and the access log.
			s.log.DebugContext(ctx, "client went away", "err", err, "request_id", RequestID(ctx))
			return huma.NewError(statusClientClosed, "client closed request")
		}
	}
	for _, m := range statusTable {
		if !errors.Is(err, m.err) {
			continue
		}
		detail := err.Error()
		if m.hideDetail != "" {
			detail = m.hideDetail
		}
		if m.hideDetail != "" || m.warn {
			s.log.WarnContext(ctx, "request failed", "err", err, "request_id", RequestID(ctx))
		}
		e := huma.NewError(m.status, detail)
		if m.headers != nil {
			return huma.ErrorWithHeaders(e, m.headers.Clone())
		}
		return e
	}
	s.log.ErrorContext(ctx, "request failed", "err", err, "request_id", RequestID(ctx))
	return huma.NewError(http.StatusInternalServerError, "")
}

// writeError writes err, translated by httpError, as the response. It is
// for code that runs where huma no longer takes a returned error: the auth
// middleware and a streaming body before its first byte.
func (s *service) writeError(hctx huma.Context, err error) {
	err = s.httpError(hctx.Context(), err)
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				hctx.AppendHeader(k, v)
			}
		}
	}
	status, detail := http.StatusInternalServerError, ""
	var em *huma.ErrorModel
	if errors.As(err, &em) {
		status, detail = em.Status, em.Detail
	}
	_ = huma.WriteErr(s.api, hctx, status, detail)
}
