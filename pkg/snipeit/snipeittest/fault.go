package snipeittest

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// FaultKind is a failure the simulator can serve instead of (or on top of)
// Snipe-IT's answer. Each is a real wire behaviour of Snipe-IT or of what
// sits in front of it.
type FaultKind string

// The fault kinds.
const (
	// FaultStatus answers Fault.Status (default 500) with a JSON error
	// envelope whose messages is Fault.Message (default the status text).
	FaultStatus FaultKind = "status"
	// FaultProxyError answers Fault.Status (default 502) with nginx's HTML
	// error page, as a reverse proxy does when PHP fails or times out.
	FaultProxyError FaultKind = "proxy-error"
	// FaultErrorEnvelope answers HTTP 200 with
	// {"status":"error","messages":Fault.Message,"payload":null}.
	FaultErrorEnvelope FaultKind = "error-envelope"
	// FaultLoginPage answers HTTP 200 with the HTML login page, what a
	// client that follows redirects gets for a session that expired.
	FaultLoginPage FaultKind = "login-page"
	// FaultRedirectLogin answers 302 to /login with an HTML body.
	FaultRedirectLogin FaultKind = "redirect-login"
	// FaultTruncated sends the real status, headers and Content-Length,
	// then half the body, then closes the connection: reading the body
	// fails with an unexpected EOF.
	FaultTruncated FaultKind = "truncated"
	// FaultCutBody sends the first half of the real body with a
	// Content-Length that matches it: the HTTP exchange succeeds, the JSON
	// (cut mid-row) does not parse.
	FaultCutBody FaultKind = "cut-body"
	// FaultReset closes the connection (TCP RST) without a response. Note
	// that Go's transport silently retries an idempotent request once when
	// a reused connection fails this way.
	FaultReset FaultKind = "reset"
	// FaultHang never answers: the request is held until the client gives
	// up (its context ends) or the server closes, then the connection is
	// dropped.
	FaultHang FaultKind = "hang"
	// FaultDelay waits Fault.Delay, then serves the request normally.
	FaultDelay FaultKind = "delay"
	// FaultRateLimit answers 8.1+'s 429: Retry-After and the throttle
	// headers, body {"status":"error",…,"retryAfter":Fault.RetryAfter}.
	FaultRateLimit FaultKind = "rate-limit"
	// FaultRateLimitLegacy answers 5.x–8.0's 429: the envelope "Too many
	// requests" and no Retry-After at all.
	FaultRateLimitLegacy FaultKind = "rate-limit-legacy"
	// FaultUnauthorized answers 401 {"error":"Unauthorized or unauthenticated."}.
	FaultUnauthorized FaultKind = "unauthorized"
	// FaultForbidden answers 403 {"message":"This action is unauthorized."}.
	FaultForbidden FaultKind = "forbidden"
	// FaultNoRows answers a list request with its envelope minus the rows
	// key (other routes are served normally).
	FaultNoRows FaultKind = "no-rows"
	// FaultEmpty answers a list request with total 0 and no rows, as if
	// Snipe-IT had lost its data (other routes are served normally).
	FaultEmpty FaultKind = "empty"
	// FaultShortPage answers a list request with only the first Fault.Rows
	// rows of its page (default half of them) and the real total, as a
	// Snipe-IT whose MAX_RESULTS was lowered while a client pages; Rows 1
	// gives one-row pages.
	FaultShortPage FaultKind = "short-page"
	// FaultUnsorted answers a list request with its page in descending id
	// order, as a Snipe-IT (or a proxy rewriting queries) that ignores
	// sort=id&order=asc.
	FaultUnsorted FaultKind = "unsorted"
	// FaultBlankPage answers a list request with the real total and
	// rows: [], which Snipe-IT sends for an offset past the end: to a client
	// it looks as if rows before the offset had vanished.
	FaultBlankPage FaultKind = "blank-page"
	// FaultChurn changes the data, then serves the request normally: the
	// live record (user or asset, by the path) with the lowest id is
	// soft-deleted, Fault.Rows new ones (default 1) are added after the
	// highest id, and the live record with the highest id is updated — a
	// busy Snipe-IT while a sync pages through it.
	FaultChurn FaultKind = "churn"
	// FaultMutate runs Fault.Mutate, then serves the request normally: a
	// change made through the mutation API (a checkout, a rename, a
	// delete…) between two pages of a client's walk, with all of its
	// effects on updated_at, the log and webhooks. An error it returns is
	// logged.
	FaultMutate FaultKind = "mutate"
)

// known reports whether k is one of the fault kinds above.
func (k FaultKind) known() bool {
	switch k {
	case FaultStatus, FaultProxyError, FaultErrorEnvelope, FaultLoginPage, FaultRedirectLogin, FaultTruncated,
		FaultCutBody, FaultReset, FaultHang, FaultDelay, FaultRateLimit, FaultRateLimitLegacy, FaultUnauthorized,
		FaultForbidden, FaultNoRows, FaultEmpty, FaultShortPage, FaultUnsorted, FaultBlankPage, FaultChurn, FaultMutate:
		return true
	}
	return false
}

// Fault describes a failure to inject and which requests get it. Faults
// fire before authentication and rate limiting, like a proxy's would.
type Fault struct {
	// Kind is the failure served.
	Kind FaultKind
	// Path is the path to fail: exact ("/api/v1/users/42") or the route
	// with {id} ("/api/v1/users/{id}"); "" matches every path.
	Path string
	// Query, when set, restricts the fault to requests whose query has
	// these values, e.g. {"offset": "500"} or {"status": "Archived"}.
	Query map[string]string
	// MinOffset, when positive, restricts the fault to requests whose
	// offset is at least MinOffset (every page but the first, say).
	MinOffset int
	// After lets the first After matching requests through.
	After int
	// Times is how many matching requests fail (0 means 1); Persistent
	// makes every one fail.
	Times      int
	Persistent bool

	// Status is the HTTP status of FaultStatus and FaultProxyError.
	Status int
	// Message is the messages text of FaultStatus and FaultErrorEnvelope.
	Message string
	// RetryAfter is the seconds a FaultRateLimit asks to wait (0 is sent
	// as 0).
	RetryAfter int
	// Delay is how long FaultDelay waits.
	Delay time.Duration
	// Rows is how many rows FaultShortPage keeps, or how many records
	// FaultChurn adds.
	Rows int
	// Mutate is FaultMutate's change.
	Mutate func(*Server) error
}

// Injection is an injected fault; it reports how often it fired.
type Injection struct {
	owner *faults
	fault Fault
	seen  int
	fired int
	gone  bool
}

// Fired is how many requests the fault has failed.
func (in *Injection) Fired() int {
	in.owner.mu.Lock()
	defer in.owner.mu.Unlock()
	return in.fired
}

// Remove disarms the fault.
func (in *Injection) Remove() {
	in.owner.mu.Lock()
	defer in.owner.mu.Unlock()
	in.gone = true
}

// faults are the injected faults, tried in injection order.
type faults struct {
	mu   sync.Mutex
	list []*Injection
}

// Inject arms f. It panics on an unknown kind or a FaultMutate without
// Mutate, mistakes in the test.
func (s *Server) Inject(f Fault) *Injection {
	if !f.Kind.known() {
		panic(fmt.Sprintf("snipeittest: unknown fault kind %q", f.Kind))
	}
	if f.Kind == FaultMutate && f.Mutate == nil {
		panic("snipeittest: FaultMutate without Mutate")
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	in := &Injection{owner: &s.faults, fault: f}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = append(s.faults.list, in)
	return in
}

// ClearFaults disarms every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, in := range s.faults.list {
		in.gone = true
	}
	s.faults.list = nil
}

// match returns the fault the request gets, if any, and counts it.
func (fs *faults) match(r *http.Request, routeKey string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.list) == 0 {
		return nil
	}
	q := r.URL.Query()
	for _, in := range fs.list {
		f := &in.fault
		if in.gone || (f.Path != "" && f.Path != r.URL.Path && f.Path != routeKey) || !queryHas(q, f.Query) ||
			(f.MinOffset > 0 && phpIntval(q.Get("offset")) < f.MinOffset) {
			continue
		}
		in.seen++
		if in.seen <= f.After || (!f.Persistent && in.fired >= f.Times) {
			continue
		}
		in.fired++
		c := *f
		return &c
	}
	return nil
}

func queryHas(q url.Values, want map[string]string) bool {
	for k, v := range want {
		if q.Get(k) != v {
			return false
		}
	}
	return true
}

// serveFault answers a request with fault f.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, rt route, f *Fault) {
	switch f.Kind {
	case FaultStatus:
		status := cmp.Or(f.Status, http.StatusInternalServerError)
		s.write(w, envelope(status, cmp.Or(f.Message, http.StatusText(status))))
	case FaultProxyError:
		status := cmp.Or(f.Status, http.StatusBadGateway)
		resp := htmlResponse(status, proxyErrorPage(status))
		resp.contentType = "text/html"
		resp.header = http.Header{"Server": {"nginx/1.24.0"}}
		s.write(w, resp)
	case FaultErrorEnvelope:
		s.write(w, envelope(http.StatusOK, cmp.Or(f.Message, "An error occurred")))
	case FaultLoginPage:
		s.write(w, htmlResponse(http.StatusOK, loginPage(s.cfg.AppURL)))
	case FaultRedirectLogin:
		s.write(w, redirectToLogin(r))
	case FaultUnauthorized:
		s.write(w, jsonResponse(http.StatusUnauthorized, []byte(`{"error":"Unauthorized or unauthenticated."}`)))
	case FaultForbidden:
		s.write(w, jsonResponse(http.StatusForbidden, []byte(`{"message":"This action is unauthorized."}`)))
	case FaultRateLimit, FaultRateLimitLegacy:
		q := quota{limit: cmp.Or(s.cfg.RateLimitPerMinute, 120), retryAfter: f.RetryAfter,
			resetAt: s.cfg.Now().Unix() + int64(f.RetryAfter)}
		s.write(w, tooManyRequests(f.Kind == FaultRateLimit, q))
	case FaultNoRows:
		s.write(w, s.serveRoute(r, rt, shapeNoRows))
	case FaultEmpty:
		s.write(w, s.serveRoute(r, rt, shapeEmpty))
	case FaultShortPage:
		s.write(w, s.serveRoute(r, rt, listShape{maxRows: f.Rows, halve: f.Rows <= 0}))
	case FaultUnsorted:
		s.write(w, s.serveRoute(r, rt, shapeUnsort))
	case FaultBlankPage:
		s.write(w, s.serveRoute(r, rt, shapeBlank))
	case FaultChurn:
		s.churn(rt, max(f.Rows, 1))
		s.write(w, s.respond(r, rt))
	case FaultMutate:
		if err := f.Mutate(s); err != nil {
			s.log.Warn("FaultMutate's change failed", "err", err)
		}
		s.write(w, s.respond(r, rt))
	case FaultDelay:
		if s.sleep(r.Context(), f.Delay) {
			s.write(w, s.respond(r, rt))
		}
	case FaultCutBody:
		resp := s.serveRoute(r, rt, shapeNormal)
		resp.body = resp.body[:len(resp.body)/2]
		s.write(w, resp)
	case FaultTruncated:
		resp := s.serveRoute(r, rt, shapeNormal)
		h := w.Header()
		h.Set("Content-Type", resp.contentType)
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body[:len(resp.body)/2])
		_ = http.NewResponseController(w).Flush()
		s.release(resp)
		// net/http closes the connection of a handler that panics with
		// ErrAbortHandler, mid-body, without logging a stack.
		panic(http.ErrAbortHandler)
	case FaultReset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// HTTP/2 cannot hijack; aborting resets the stream instead.
			panic(http.ErrAbortHandler)
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close with RST, not FIN
		}
		_ = conn.Close()
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	}
}
