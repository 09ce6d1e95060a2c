// Package snipeit is a read-only client for the Snipe-IT REST API that
// fetches every user and every asset (archived ones included) exactly once,
// as pkg/model values.
//
// It pages with sort=id&order=asc and overlaps each page by one row, so a
// row deleted or added upstream while it pages can neither hide another row
// nor repeat one. It never mistakes an error for data: non-2xx answers,
// {"status":"error"} bodies sent with HTTP 200, HTML and truncated JSON are
// retried with exponential backoff and jitter (honouring Retry-After and the
// body's retryAfter), then fail. A client-side rate limit keeps a run under
// Snipe-IT's per-user throttle, adjusted from X-RateLimit-* headers.
//
// For incremental runs it also lists what changed since a time (sorted by
// updated_at, verified page by page, ErrNotIncremental when that cannot be
// trusted), reads the activity log since an entry, looks records up by id
// and parses the messages of Snipe-IT's webhook.
package snipeit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/usersync/usersync/pkg/model"
)

// Config configures a Client. Zero values take the defaults below.
type Config struct {
	// BaseURL is the Snipe-IT site, e.g. https://snipe.example.com; a
	// trailing /api/v1 is accepted too.
	BaseURL string
	// Token is a personal access token. Use a superuser's: Snipe-IT scopes
	// rows by permission and company.
	Token string
	// UserAgent identifies the client; Snipe-IT can reject generic agents.
	UserAgent string
	// HTTPClient is used for every request; nil builds one with sane
	// timeouts that does not follow redirects.
	HTTPClient *http.Client
	// RequestTimeout bounds one request, body included
	// (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// RatePerMinute caps requests per minute (DefaultRatePerMinute);
	// UnlimitedRate lifts the cap. The server's own throttle is honoured
	// either way.
	RatePerMinute float64
	// PageSize is the limit asked for (DefaultPageSize); the server's cap
	// wins when lower.
	PageSize int
	// Parallelism is how many pages may be in flight at once
	// (DefaultParallelism).
	Parallelism int
	// MaxAttempts bounds the tries of one request (DefaultMaxAttempts).
	MaxAttempts int
	// RetryInitial and RetryMax shape the exponential backoff between
	// tries (DefaultRetryInitial, DefaultRetryMax; jitter ±50%).
	RetryInitial, RetryMax time.Duration
	// MaxRetryAfter caps a wait the server asks for
	// (DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// MaxBodyBytes bounds a response body (DefaultMaxBodyBytes; a page of
	// 500 rows is about 1 MB). A larger one fails the request at once,
	// with an error that asks for a smaller page size.
	MaxBodyBytes int64
	// Location is the server's APP_TIMEZONE, in which Snipe-IT writes
	// datetimes without an offset (default UTC).
	Location *time.Location
	// Logger receives retries and rate-limit pauses; nil discards.
	Logger *slog.Logger
	// Observer receives request, retry, wait and progress events; nil
	// discards them.
	Observer Observer
}

// The defaults of Config, written once: usersync's flags show and pass
// the same values.
const (
	DefaultRequestTimeout = 60 * time.Second
	// DefaultRatePerMinute is Snipe-IT's default API_THROTTLE_PER_MINUTE.
	DefaultRatePerMinute = 120
	// DefaultPageSize is Snipe-IT's default MAX_RESULTS.
	DefaultPageSize      = 500
	DefaultParallelism   = 4
	DefaultMaxAttempts   = 8
	DefaultRetryInitial  = time.Second
	DefaultRetryMax      = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultMaxBodyBytes  = 64 << 20
)

// UnlimitedRate as Config.RatePerMinute sends requests as fast as
// Parallelism allows. It is a value of its own because 0 means "the
// default".
const UnlimitedRate float64 = -1

// Observer is told what the client does, for metrics and progress.
type Observer interface {
	// Request reports one HTTP exchange; code is 0 when no response came.
	Request(endpoint string, code int, d time.Duration)
	// Retry reports that a request will be tried again and why.
	Retry(endpoint, reason string)
	// RateLimitWait reports time a request to endpoint spent waiting for
	// the rate limit (or a pause the server asked for).
	RateLimitWait(endpoint string, d time.Duration)
	// Page reports progress of a listing: rows received so far out of the
	// total the server last reported.
	Page(endpoint string, received, total int64)
}

// NoopObserver ignores every event. Embed it to implement only some.
type NoopObserver struct{}

// Request implements Observer.
func (NoopObserver) Request(string, int, time.Duration) {}

// Retry implements Observer.
func (NoopObserver) Retry(string, string) {}

// RateLimitWait implements Observer.
func (NoopObserver) RateLimitWait(string, time.Duration) {}

// Page implements Observer.
func (NoopObserver) Page(string, int64, int64) {}

// Client reads users and assets from one Snipe-IT site. It is safe for
// concurrent use.
type Client struct {
	cfg     Config
	api     *url.URL
	http    *http.Client
	limiter *rate.Limiter
	obs     Observer
	log     *slog.Logger

	mu         sync.Mutex
	pauseUntil time.Time // set from 429s and exhausted X-RateLimit-Remaining
	serverRate float64   // requests/minute the server announced, 0 unknown
	served     time.Time // the Date header of the latest 2xx answer
}

// New checks cfg and returns a ready client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("%w: Snipe-IT URL is empty", model.ErrInvalid)
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not quoted: a URL may carry a password.
		return nil, fmt.Errorf("%w: Snipe-IT URL: want http(s)://host[/path]", model.ErrInvalid)
	}
	if !strings.HasSuffix(u.Path, "/api/v1") {
		u.Path += "/api/v1"
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("%w: Snipe-IT API token is empty", model.ErrInvalid)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "usersync (+https://github.com/usersync/usersync)"
	}
	setDefault(&cfg.RequestTimeout, DefaultRequestTimeout)
	setDefault(&cfg.RatePerMinute, DefaultRatePerMinute)
	setDefault(&cfg.PageSize, DefaultPageSize)
	setDefault(&cfg.Parallelism, DefaultParallelism)
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.RetryInitial, DefaultRetryInitial)
	setDefault(&cfg.RetryMax, DefaultRetryMax)
	setDefault(&cfg.MaxRetryAfter, DefaultMaxRetryAfter)
	setDefault(&cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if cfg.RatePerMinute < 0 && cfg.RatePerMinute != UnlimitedRate {
		return nil, fmt.Errorf("%w: rate %v per minute: want more than 0, or UnlimitedRate", model.ErrInvalid, cfg.RatePerMinute)
	}
	if cfg.PageSize < 2 {
		return nil, fmt.Errorf("%w: page size %d: want at least 2", model.ErrInvalid, cfg.PageSize)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	c := &Client{cfg: cfg, api: u, http: cfg.HTTPClient, obs: cfg.Observer, log: cfg.Logger}
	if c.http == nil {
		c.http = newHTTPClient(cfg)
	}
	if c.obs == nil {
		c.obs = NoopObserver{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.limiter = rate.NewLimiter(rate.Inf, 1)
	if cfg.RatePerMinute > 0 {
		c.limiter.SetLimit(paced(cfg.RatePerMinute))
	}
	return c, nil
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// paced converts requests/minute to the limiter's rate, 1% under the limit:
// Laravel counts in fixed 60-second windows that open at the first hit, and
// pacing exactly at the limit lets network jitter push the window's last
// request into a 429.
func paced(perMinute float64) rate.Limit {
	return rate.Limit(perMinute / 60 * 0.99)
}

func newHTTPClient(cfg Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = cfg.Parallelism + 2
	t.ResponseHeaderTimeout = cfg.RequestTimeout
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{
		Transport: t,
		// A redirect from the API means the token was rejected (Laravel
		// sends unauthenticated non-JSON requests to /login); following it
		// would turn an auth failure into an HTML page with status 200.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// retryable marks an error worth another try.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// decoder reads a 2xx body. served is when the server says it answered
// (its Date header, to the second), zero when it did not say.
type decoder func(body []byte, served time.Time) error

// get fetches path with query and hands the body to decode, retrying what
// may be transient — including a decode failure, since a truncated or
// garbled body is usually gone on the next try.
func (c *Client) get(ctx context.Context, endpoint, path string, query url.Values, decode decoder) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.RetryInitial
	b.MaxInterval = c.cfg.RetryMax
	b.RandomizationFactor = 0.5
	op := func() (struct{}, error) {
		err := c.do(ctx, endpoint, path, query, decode)
		var r *retryable
		switch {
		case err == nil:
			return struct{}{}, nil
		case ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(ctx.Err())
		case errors.As(err, &r):
			// A 429's RetryAfterError stays in r.err's chain, where
			// backoff.Retry finds it.
			return struct{}{}, r.err
		default:
			return struct{}{}, backoff.Permanent(err)
		}
	}
	_, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(b),
		backoff.WithMaxTries(uint(c.cfg.MaxAttempts)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			c.obs.Retry(endpoint, reason(err))
			c.log.Warn("snipe-it request failed; retrying", "endpoint", endpoint, "offset", query.Get("offset"),
				"err", err, "retry_in", next.Round(time.Millisecond))
		}))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", endpoint, ctx.Err())
		}
		if !carriesSentinel(err) {
			// Retries ran out on transport errors, 5xx or bodies that were
			// not data.
			err = fmt.Errorf("%w: %w", model.ErrUpstream, err)
		}
		return fmt.Errorf("GET %s %s: %w", endpoint, query.Encode(), err)
	}
	return nil
}

// carriesSentinel reports whether err already says what kind of failure it
// is (not found, auth, permission, bad input, upstream).
func carriesSentinel(err error) bool {
	for _, s := range []error{model.ErrUpstream, model.ErrNotFound, model.ErrUnauthorized, model.ErrForbidden, model.ErrInvalid} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// reason is a short label for why a try failed, for metrics.
func reason(err error) string {
	var se *statusError
	var ra *backoff.RetryAfterError
	var ne net.Error
	switch {
	case errors.As(err, &ra):
		return "rate_limited"
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.code)
	case errors.Is(err, errNotData):
		return "not_data"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "transport"
	}
}

// statusError is a non-2xx answer.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("HTTP %d", e.code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.msg)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do sends one request after waiting for the rate limit and classifies the
// answer; a 2xx body goes to decode while it is still in a pooled buffer
// (decode must copy what it keeps). A decode error that says the body is
// not data is retryable.
func (c *Client) do(ctx context.Context, endpoint, path string, query url.Values, decode decoder) error {
	if err := c.wait(ctx, endpoint); err != nil {
		return err
	}
	u := *c.api
	u.Path += path
	u.RawQuery = query.Encode()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: build request: %w", model.ErrInvalid, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.obs.Request(endpoint, 0, time.Since(start))
		return &retryable{fmt.Errorf("request: %w", redactURL(err))}
	}
	defer resp.Body.Close()
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	limit := c.cfg.MaxBodyBytes
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf.Grow(int(resp.ContentLength))
	}
	// One byte past the limit tells a body that is too large from one
	// that fits exactly; the rest is never read.
	if resp.ContentLength <= limit {
		_, err = buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	}
	c.obs.Request(endpoint, resp.StatusCode, time.Since(start))
	c.noteRateHeaders(resp)
	if resp.ContentLength > limit || int64(buf.Len()) > limit {
		return c.tooLarge(endpoint, query)
	}
	if err != nil {
		return &retryable{fmt.Errorf("read body (HTTP %d): %w", resp.StatusCode, redactURL(err))}
	}
	body := buf.Bytes()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		served, _ := http.ParseTime(resp.Header.Get("Date"))
		c.noteServed(served)
		if err := decode(body, served); err != nil {
			if errors.Is(err, errNotData) {
				return &retryable{err}
			}
			return err
		}
		return nil
	case code == http.StatusTooManyRequests:
		wait := c.retryAfter(resp, body)
		c.pause(wait)
		c.log.Warn("snipe-it rate limit hit; pausing", "endpoint", endpoint, "duration", wait)
		return &retryable{fmt.Errorf("%w: %w", &backoff.RetryAfterError{Duration: wait}, &statusError{code, errorText(body)})}
	case code >= 500 || code == http.StatusRequestTimeout:
		return &retryable{&statusError{code, errorText(body)}}
	case code >= 300 && code < 400:
		return fmt.Errorf("%w: Snipe-IT redirected to %q: the token was rejected, or a proxy dropped the Accept: application/json header",
			model.ErrUnauthorized, redactedLocation(resp))
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: Snipe-IT rejected the API token: %w", model.ErrUnauthorized, &statusError{code, errorText(body)})
	case code == http.StatusForbidden:
		return fmt.Errorf("%w: the token may not read %s (or the User-Agent is blocked): %w", model.ErrForbidden, endpoint, &statusError{code, errorText(body)})
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s is not a Snipe-IT API endpoint (check the Snipe-IT URL): %w", model.ErrUpstream, u.Path, &statusError{code, errorText(body)})
	default:
		return fmt.Errorf("%w: %w", model.ErrUpstream, &statusError{code, errorText(body)})
	}
}

// tooLarge is the error for a body over Config.MaxBodyBytes. It is not
// retried: the same page is as large the next time.
func (c *Client) tooLarge(endpoint string, query url.Values) error {
	err := fmt.Errorf("%w: the %s response is larger than %s", model.ErrUpstream, endpoint, byteSize(c.cfg.MaxBodyBytes))
	if limit := query.Get("limit"); limit != "" {
		err = fmt.Errorf("%w: lower the page size (%s rows per page now)", err, limit)
	}
	return err
}

// byteSize writes n bytes in the largest whole binary unit.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// redactURL drops the URL from *url.Error: it holds no secret, but the
// message is clearer with the endpoint label the caller adds.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactedLocation is a redirect's target with any password redacted.
func redactedLocation(resp *http.Response) string {
	u, err := resp.Location()
	if err != nil {
		return ""
	}
	return u.Redacted()
}

// errorText extracts a short message from an error body.
func errorText(body []byte) string {
	if eb, ok := parseErrorBody(body); ok {
		if t := eb.text(); t != "" {
			return t
		}
	}
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '<' {
		return "an HTML page"
	}
	return snippet(b)
}

// retryAfter reads how long a 429 asks to wait: the Retry-After header,
// else the body's retryAfter, else a whole window (60s).
func (c *Client) retryAfter(resp *http.Response, body []byte) time.Duration {
	wait := time.Minute
	if s, err := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("Retry-After")), 64); err == nil && s >= 0 {
		wait = time.Duration(s * float64(time.Second))
	} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		wait = time.Until(t)
	} else {
		if eb, ok := parseErrorBody(body); ok {
			if s, ok := eb.retryAfter(); ok {
				wait = time.Duration(s * float64(time.Second))
			}
		}
	}
	// A zero wait would retry into the same window; Laravel rounds down.
	wait = max(wait, 500*time.Millisecond)
	return min(wait, c.cfg.MaxRetryAfter)
}

// noteRateHeaders adopts the server's limit when it is lower than ours and
// pauses until the window resets when the server says none are left, so a
// run shares the per-user budget with other scripts without tripping 429s.
func (c *Client) noteRateHeaders(resp *http.Response) {
	if resp.StatusCode == http.StatusTooManyRequests {
		return
	}
	h := resp.Header
	if limit, err := strconv.ParseFloat(h.Get("X-RateLimit-Limit"), 64); err == nil && limit > 0 {
		c.mu.Lock()
		changed := c.serverRate != limit
		c.serverRate = limit
		c.mu.Unlock()
		if changed && (c.cfg.RatePerMinute < 0 || limit < c.cfg.RatePerMinute) {
			c.limiter.SetLimit(paced(limit))
			c.log.Info("pacing to the server's rate limit", "requests_per_minute", limit)
		}
	}
	remaining, err := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err != nil || remaining > 0 {
		return
	}
	if reset, ok := resetIn(h); ok {
		c.pause(min(reset, c.cfg.MaxRetryAfter))
	}
}

// resetIn reads when the current rate-limit window ends. X-RateLimit-Reset
// has been both seconds and a unix time across versions; values that look
// like a timestamp are read as one.
func resetIn(h http.Header) (time.Duration, bool) {
	if ts, err := strconv.ParseInt(h.Get("X-RateLimit-Reset-Timestamp"), 10, 64); err == nil {
		return time.Until(time.Unix(ts, 0)), true
	}
	if s, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil {
		return time.Duration(s * float64(time.Second)), true
	}
	if v, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		if v > 1_000_000_000 {
			return time.Until(time.Unix(v, 0)), true
		}
		return time.Duration(v) * time.Second, true
	}
	return 0, false
}

// noteServed keeps the Date the server sent last: a clock set back must
// show as such.
func (c *Client) noteServed(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.IsZero() {
		c.served = t
	}
}

// ServerTime is the server's clock as its latest answer gave it (the Date
// header, to the second); zero before any answer or when the server sends
// none. A sync takes it as the time it read the data at, in the clock its
// updated_at values come from.
func (c *Client) ServerTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

func (c *Client) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if until := time.Now().Add(d); until.After(c.pauseUntil) {
		c.pauseUntil = until
	}
}

// wait blocks until the client may send: after any pause the server asked
// for, then by the limiter.
func (c *Client) wait(ctx context.Context, endpoint string) error {
	start := time.Now()
	for {
		c.mu.Lock()
		d := time.Until(c.pauseUntil)
		c.mu.Unlock()
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rate limiter: %w", err)
	}
	if d := time.Since(start); d > time.Millisecond {
		c.obs.RateLimitWait(endpoint, d)
	}
	return nil
}

// User fetches one user by id, a soft-deleted one too (with DeletedAt set).
// A user Snipe-IT does not know yields model.ErrNotFound.
func (c *Client) User(ctx context.Context, id int64) (*model.User, error) {
	var u model.User
	var problems []fieldProblem
	err := c.get(ctx, "users/{id}", "/users/"+strconv.FormatInt(id, 10), url.Values{}, func(body []byte, _ time.Time) (err error) {
		u, problems, err = decodeOne(body, c.cfg.Location, readUser)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	c.reportProblems("users/{id}", problems)
	return &u, nil
}

// Asset fetches one asset by id, a soft-deleted one too. An asset Snipe-IT
// does not know yields model.ErrNotFound.
func (c *Client) Asset(ctx context.Context, id int64) (*model.Asset, error) {
	var a model.Asset
	var problems []fieldProblem
	err := c.get(ctx, "hardware/{id}", "/hardware/"+strconv.FormatInt(id, 10), url.Values{}, func(body []byte, _ time.Time) (err error) {
		a, problems, err = decodeOne(body, c.cfg.Location, readAsset)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get asset %d: %w", id, err)
	}
	c.reportProblems("hardware/{id}", problems)
	return &a, nil
}
