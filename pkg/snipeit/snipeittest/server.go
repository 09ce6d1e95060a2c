package snipeittest

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultToken is the API token a Config without Token accepts.
const DefaultToken = "snipeit-test-token"

// Config configures a Server. The zero value is a Snipe-IT 8.6 with no
// data, token DefaultToken, MAX_RESULTS 500, no rate limit, UTC.
type Config struct {
	// Data is the initial data set (nil: empty). The server keeps it.
	Data *Dataset
	// Version is the Snipe-IT release to emulate; default Version86.
	Version Version
	// Token is the Bearer token that may read everything; default
	// DefaultToken.
	Token string
	// RestrictedToken, when set, authenticates but lacks users.view and
	// assets.view: lists and records answer 403.
	RestrictedToken string
	// ActivityDeniedToken, when set, may read users and hardware but lacks
	// activity.view: GET /api/v1/reports/activity answers 403.
	ActivityDeniedToken string
	// TokenUserID is the user GET /api/v1/users/me returns; default 1.
	TokenUserID int64
	// MaxResults is MAX_RESULTS, the page size cap; default 500.
	MaxResults int
	// RateLimitPerMinute is API_THROTTLE_PER_MINUTE per token; 0 turns the
	// limiter off.
	RateLimitPerMinute int
	// Latency delays every response, like a slow PHP server.
	Latency time.Duration
	// Timezone is APP_TIMEZONE, the zone datetimes are shown in; default UTC.
	Timezone *time.Location
	// DigitSeparator is the money format: SeparatorComma (default) or
	// SeparatorDot.
	DigitSeparator string
	// AppURL is APP_URL, the base of qr_code_url; default
	// https://snipeit.example.test. Page URLs use the request's host.
	AppURL string
	// BlockGenericUserAgents rejects blank and generic User-Agents
	// (Go-http-client/, curl/, python-requests/, …) with 403, the opt-in
	// setting of 8.6.
	BlockGenericUserAgents bool
	// ShowArchivedInList is the show_archived_in_list setting: archived
	// assets appear in the default /hardware list.
	ShowArchivedInList bool
	// Webhook is Admin > Integrations' general webhook (6.1.0 and later;
	// 5.0 has none): where checkouts, checkins, audits and requests are
	// POSTed as Slack-format JSON. SetWebhook changes it later.
	Webhook WebhookSettings
	// WebhookClient sends the webhooks; default a client that gives up
	// after WebhookTimeout (default 10s).
	WebhookClient  *http.Client
	WebhookTimeout time.Duration
	// LegacyOffsetReset makes an offset past the end start over at 0, as
	// Snipe-IT did before 2020, instead of returning no rows.
	LegacyOffsetReset bool
	// RowCacheBytes bounds the rendered rows kept for reuse (each row is
	// rendered once, until it changes, while they fit): 0 means 1 GiB, a
	// negative value keeps none. Rows take about 1.5 KB each.
	RowCacheBytes int64
	// Now is the clock for derived values (age, book_value), mutation
	// timestamps and the rate-limit window; default time.Now.
	Now func() time.Time
	// Logger receives a debug line per request and an info line per fault;
	// default: discard.
	Logger *slog.Logger
}

// Server is a simulated Snipe-IT. It is an http.Handler; Start runs it on
// an httptest server. All methods are safe to call concurrently with
// requests.
type Server struct {
	cfg     Config
	render  renderer
	store   *store
	faults  faults
	limiter limiter
	stats   stats
	seq     atomic.Int64
	hook    atomic.Pointer[func(RequestInfo)]
	webhook webhook
	bufs    sync.Pool
	log     *slog.Logger

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: releases hanging requests
	ts        *httptest.Server
}

// New returns a Server for cfg, ready to serve.
func New(cfg Config) (*Server, error) {
	if cfg.Version == "" {
		cfg.Version = Version86
	}
	if _, err := ParseVersion(string(cfg.Version)); err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		cfg.Token = DefaultToken
	}
	if cfg.TokenUserID == 0 {
		cfg.TokenUserID = 1
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = 500
	}
	if cfg.RateLimitPerMinute < 0 {
		return nil, fmt.Errorf("rate limit %d per minute: want 0 (off) or more", cfg.RateLimitPerMinute)
	}
	if cfg.Timezone == nil {
		cfg.Timezone = time.UTC
	}
	if cfg.AppURL == "" {
		cfg.AppURL = "https://snipeit.example.test"
	}
	cfg.AppURL = strings.TrimRight(cfg.AppURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RowCacheBytes == 0 {
		cfg.RowCacheBytes = 1 << 30
	}
	money, err := parseDigitSeparator(cfg.DigitSeparator)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		render:  renderer{version: cfg.Version, tz: cfg.Timezone, sep: money, appURL: cfg.AppURL, now: cfg.Now},
		store:   newStore(cfg.RowCacheBytes),
		limiter: limiter{perMinute: cfg.RateLimitPerMinute, windows: map[string]*window{}},
		log:     cfg.Logger,
		closed:  make(chan struct{}),
	}
	s.stats.reset()
	if err := s.store.load(cfg.Data); err != nil {
		return nil, fmt.Errorf("snipeittest: %w", err)
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = 10 * time.Second
	}
	s.webhook = webhook{client: cfg.WebhookClient, timeout: cfg.WebhookTimeout}
	if s.webhook.client == nil {
		s.webhook.client = &http.Client{}
	}
	if err := s.SetWebhook(cfg.Webhook); err != nil {
		return nil, fmt.Errorf("snipeittest: %w", err)
	}
	return s, nil
}

// Start runs a new Server for cfg on an httptest server that tb's cleanup
// closes. It fails tb when cfg is invalid.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("start snipe-it simulator: %v", err)
	}
	s.ts = httptest.NewServer(s)
	tb.Cleanup(s.Close)
	return s
}

// URL is the base URL of a Server run by Start (e.g. http://127.0.0.1:4711),
// "" otherwise.
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Token is the full-access API token.
func (s *Server) Token() string { return s.cfg.Token }

// Version is the emulated Snipe-IT version.
func (s *Server) Version() Version { return s.cfg.Version }

// Timezone is the zone the server shows datetimes in.
func (s *Server) Timezone() *time.Location { return s.cfg.Timezone }

// Close releases requests held by hang faults and, for a Server run by
// Start, shuts the httptest server down. It is safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// RequestInfo describes a request to an OnRequest hook.
type RequestInfo struct {
	Seq    int64 // 1 for the server's first request
	Method string
	Path   string
	Query  url.Values
}

// OnRequest sets fn (nil: none) to run on every request before its
// response is built, without locks held: it may mutate the data, e.g.
// between two pages.
func (s *Server) OnRequest(fn func(RequestInfo)) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

// response is a complete answer, built before anything is written so that
// faults can cut or replace it.
type response struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
	buf         *[]byte // the pooled buffer body lives in, if any
}

const (
	contentJSON = "application/json"
	contentHTML = "text/html; charset=UTF-8"
)

// ServeHTTP serves one request: hook, latency, an injected fault if one
// matches, else Snipe-IT's answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	seq := s.seq.Add(1)
	rt := matchRoute(r.URL.Path)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.stats.record(rt.key, rec.status)
		s.log.Debug("request", "seq", seq, "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"status", rec.status, "duration", time.Since(start))
	}()
	if hook := s.hook.Load(); hook != nil {
		(*hook)(RequestInfo{Seq: seq, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	}
	if !s.sleep(r.Context(), s.cfg.Latency) {
		return
	}
	if f := s.faults.match(r, rt.key); f != nil {
		s.stats.fault(f.Kind)
		s.log.Info("fault injected", "kind", f.Kind, "path", r.URL.Path, "query", r.URL.RawQuery)
		s.serveFault(rec, r, rt, f)
		return
	}
	s.write(rec, s.respond(r, rt))
}

// sleep waits d unless the request ends or the server closes first; it
// reports whether the wait completed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

// write sends resp and recycles its buffer.
func (s *Server) write(w http.ResponseWriter, resp response) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Content-Type", resp.contentType)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	// The server's own clock, as a real server's Date header is.
	h.Set("Date", s.cfg.Now().UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache, private")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body) // a client that went away is not the server's problem
	s.release(resp)
}

// respond is Snipe-IT's middleware and controllers: routing (404/405),
// the User-Agent check, authentication, rate limiting, authorisation, then
// the route.
func (s *Server) respond(r *http.Request, rt route) response {
	if rt.kind == routeNone {
		return s.routingError(r, http.StatusNotFound)
	}
	if !rt.allows(r.Method) {
		return s.routingError(r, http.StatusMethodNotAllowed)
	}
	if rt.kind == routeLogin {
		return htmlResponse(http.StatusOK, loginPage(s.cfg.AppURL))
	}
	if s.cfg.BlockGenericUserAgents && genericUserAgent(r.Header.Values("User-Agent")) {
		return s.userAgentRejected(r)
	}
	token, ok := bearerToken(r)
	role := s.role(token)
	if !ok || role == roleNone {
		return unauthenticated(r)
	}
	quota := s.limiter.take(token, s.cfg.Now())
	if !quota.allowed {
		s.stats.rateLimited()
		return tooManyRequests(s.cfg.Version.throttle81(), quota)
	}
	var resp response
	if !role.may(rt.kind) {
		resp = jsonResponse(http.StatusForbidden, []byte(`{"message":"This action is unauthorized."}`))
	} else {
		resp = s.serveRoute(r, rt, shapeNormal)
	}
	if s.limiter.perMinute > 0 {
		quota.setHeaders(&resp, s.cfg.Version.throttle81())
	}
	return resp
}

// serveRoute answers an authorised request for a data route.
func (s *Server) serveRoute(r *http.Request, rt route, shape listShape) response {
	switch rt.kind {
	case routeBase:
		return jsonResponse(http.StatusNotFound, []byte(`{"status":"error","message":"404 endpoint not found. This is the base URL for the API and does not return anything itself. Please check the API reference at https:\/\/snipe-it.readme.io\/reference to find a valid API endpoint.","payload":null}`))
	case routeUsers:
		return s.listUsers(r, shape)
	case routeHardware:
		return s.listAssets(r, shape)
	case routeUser:
		return s.showUser(rt.id)
	case routeMe:
		return s.showUser(strconv.FormatInt(s.cfg.TokenUserID, 10))
	case routeAsset:
		return s.showAsset(rt.id)
	case routeActivity:
		return s.listActivity(r, shape)
	case routeCheckout:
		return s.apiCheckout(r, rt.id)
	case routeCheckin:
		return s.apiCheckin(r, rt.id)
	case routeReferences:
		return s.listReferences(r, rt.ref, shape)
	}
	return s.routingError(r, http.StatusNotFound)
}

// tokenRole is what a token may do.
type tokenRole int

const (
	roleNone           tokenRole = iota // not a token the server knows
	roleFull                            // a superuser's
	roleRestricted                      // no users.view or assets.view
	roleActivityDenied                  // no activity.view
)

// role looks a token up in constant time.
func (s *Server) role(token string) tokenRole {
	for _, t := range []struct {
		token string
		role  tokenRole
	}{{s.cfg.Token, roleFull}, {s.cfg.RestrictedToken, roleRestricted}, {s.cfg.ActivityDeniedToken, roleActivityDenied}} {
		if t.token != "" && constantTimeEqual(token, t.token) {
			return t.role
		}
	}
	return roleNone
}

// may reports whether the role passes the route's authorize() call.
func (r tokenRole) may(k routeKind) bool {
	switch r {
	case roleRestricted:
		return k == routeMe
	case roleActivityDenied:
		return k != routeActivity
	}
	return true
}

// routeKind names the routes the simulator knows.
type routeKind int

const (
	routeNone routeKind = iota
	routeBase
	routeUsers
	routeUser
	routeMe
	routeHardware
	routeAsset
	routeActivity
	routeCheckout
	routeCheckin
	routeReferences
	routeLogin
)

// route is a matched request path. key names it in statistics and fault
// matching: the path with ids replaced by {id}.
type route struct {
	kind routeKind
	key  string
	id   string
	ref  refKind // which reference listing
}

// allows reports whether the route answers method; others get 405.
func (rt route) allows(method string) bool {
	switch rt.kind {
	case routeCheckout, routeCheckin:
		return method == http.MethodPost
	}
	return method == http.MethodGet || method == http.MethodHead
}

// matchRoute routes a path the way Snipe-IT's routes/api.php does for the
// endpoints a mirror uses.
func matchRoute(path string) route {
	if path == "/login" {
		return route{kind: routeLogin, key: path}
	}
	rest, ok := strings.CutPrefix(path, "/api/v1")
	if !ok {
		return route{key: path}
	}
	if rest == "" || rest == "/" {
		return route{kind: routeBase, key: "/api/v1/"}
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "users":
		return route{kind: routeUsers, key: path}
	case len(parts) == 1 && parts[0] == "hardware":
		return route{kind: routeHardware, key: path}
	case len(parts) == 1 && parts[0] == "departments":
		return route{kind: routeReferences, key: path, ref: refDepartments}
	case len(parts) == 1 && parts[0] == "locations":
		return route{kind: routeReferences, key: path, ref: refLocations}
	case len(parts) == 1 && parts[0] == "companies":
		return route{kind: routeReferences, key: path, ref: refCompanies}
	case len(parts) == 1 && parts[0] == "models":
		return route{kind: routeReferences, key: path, ref: refModels}
	case len(parts) == 1 && parts[0] == "statuslabels":
		return route{kind: routeReferences, key: path, ref: refStatusLabels}
	case len(parts) == 1 && parts[0] == "suppliers":
		return route{kind: routeReferences, key: path, ref: refSuppliers}
	case len(parts) == 2 && parts[0] == "users" && parts[1] == "me":
		return route{kind: routeMe, key: path}
	case len(parts) == 2 && parts[0] == "users" && parts[1] != "":
		return route{kind: routeUser, key: "/api/v1/users/{id}", id: parts[1]}
	case len(parts) == 2 && parts[0] == "hardware" && parts[1] != "":
		return route{kind: routeAsset, key: "/api/v1/hardware/{id}", id: parts[1]}
	case len(parts) == 2 && parts[0] == "reports" && parts[1] == "activity":
		return route{kind: routeActivity, key: path}
	case len(parts) == 3 && parts[0] == "hardware" && parts[1] != "" && parts[2] == "checkout":
		return route{kind: routeCheckout, key: "/api/v1/hardware/{id}/checkout", id: parts[1]}
	case len(parts) == 3 && parts[0] == "hardware" && parts[1] != "" && parts[2] == "checkin":
		return route{kind: routeCheckin, key: "/api/v1/hardware/{id}/checkin", id: parts[1]}
	}
	return route{key: path}
}

// wantsJSON is Laravel's expectsJson(): an Accept header whose first type
// is JSON, or an XMLHttpRequest that accepts anything.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	first, _, _ := strings.Cut(accept, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.TrimSpace(first)
	if strings.Contains(first, "/json") || strings.Contains(first, "+json") {
		return true
	}
	ajax := r.Header.Get("X-Requested-With") == "XMLHttpRequest"
	return ajax && (first == "" || first == "*/*")
}

// routingError is the exception handler's answer to an unknown endpoint
// (404) or a wrong method (405): the JSON envelope for API clients, an HTML
// error page for others.
func (s *Server) routingError(r *http.Request, status int) response {
	if !wantsJSON(r) {
		return htmlResponse(status, errorPage(status))
	}
	msg := "404 endpoint not found"
	if status == http.StatusMethodNotAllowed {
		msg = "Method not allowed"
	}
	return envelope(status, msg)
}

// unauthenticated is Handler::unauthenticated(): a JSON 401 for clients
// that ask for JSON, else a redirect to the login page.
func unauthenticated(r *http.Request) response {
	if wantsJSON(r) {
		return jsonResponse(http.StatusUnauthorized, []byte(`{"error":"Unauthorized or unauthenticated."}`))
	}
	return redirectToLogin(r)
}

func redirectToLogin(r *http.Request) response {
	login := requestOrigin(r) + "/login"
	resp := htmlResponse(http.StatusFound, redirectPage(login))
	resp.header = http.Header{"Location": {login}}
	return resp
}

// requestOrigin is the scheme and host the request was sent to, the base
// Laravel's url() builds on.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < len("Bearer ") || !strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[len("Bearer "):])
	return tok, tok != ""
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// genericUserAgent reports whether the request's User-Agent is missing,
// blank or a library default, as EnforceApiUserAgent judges it.
func genericUserAgent(values []string) bool {
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return true
	}
	generic := [...]string{"Go-http-client/", "curl/", "python-requests/", "python-urllib", "axios/", "node-fetch/", "okhttp/", "Wget/", "Java/", "libwww-perl/"}
	for _, p := range generic {
		if strings.HasPrefix(strings.ToLower(values[0]), strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// userAgentRejected is EnforceApiUserAgent's 403, which echoes the agent.
func (s *Server) userAgentRejected(r *http.Request) response {
	w := jsonWriter{}
	w.beginObject("")
	w.plain("status", "error")
	w.plain("messages", "This API requires a descriptive User-Agent header. Generic or empty User-Agents are not allowed.")
	w.beginObject("payload")
	if ua := r.Header.Values("User-Agent"); len(ua) > 0 {
		w.plain("user_agent", ua[0])
	} else {
		w.null("user_agent")
	}
	w.endObject()
	w.endObject()
	return jsonResponse(http.StatusForbidden, w.b)
}

// envelope is formatStandardApiResponse('error', null, msg).
func envelope(status int, msg string) response {
	w := jsonWriter{}
	w.beginObject("")
	w.plain("status", "error")
	w.plain("messages", msg)
	w.null("payload")
	w.endObject()
	return jsonResponse(status, w.b)
}

func jsonResponse(status int, body []byte) response {
	return response{status: status, contentType: contentJSON, body: body}
}

func htmlResponse(status int, body string) response {
	return response{status: status, contentType: contentHTML, body: []byte(body)}
}

// statusRecorder remembers the status a handler sent; 0 means no response
// (a reset, a hang, a request that ended while waiting).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
