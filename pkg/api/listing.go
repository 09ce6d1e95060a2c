package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/conditional"

	"github.com/usersync/usersync/pkg/model"
)

// defaultPageLimit is the page size when a request carries a cursor but no
// limit (a hand-made URL; Link headers always carry the limit).
const defaultPageLimit = 100

// Paging is the limit and cursor of a listing. It also remembers the
// request URL, from which the next page's Link is built: same path (so
// BASE_PATH is kept), same filters, the new cursor.
type Paging struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" doc:"Page size (1-1000). Without limit and cursor the whole listing is streamed."`
	Cursor string `query:"cursor" maxLength:"100" doc:"Where the page starts: the cursor from the previous page's Link header."`
	url    url.URL
}

// Resolve implements huma.Resolver to capture the request URL.
func (p *Paging) Resolve(ctx huma.Context) []error {
	p.url = ctx.URL()
	return nil
}

func (p *Paging) paged() bool { return p.Limit != 0 || p.Cursor != "" }

func (p *Paging) page() model.Page {
	limit := p.Limit
	if limit == 0 {
		limit = defaultPageLimit
	}
	return model.Page{Limit: limit, Cursor: p.Cursor}
}

// nextLink is the Link header value of the page after this one.
func (p *Paging) nextLink(cursor string) string {
	q := p.url.Query()
	q.Set("cursor", cursor)
	q.Set("limit", strconv.Itoa(p.page().Limit))
	next := url.URL{Path: p.url.Path, RawQuery: q.Encode()}
	return "<" + next.String() + `>; rel="next"`
}

// listOutput is the response of a listing: a JSON array written by Body,
// either one page or a stream of the whole listing.
type listOutput struct {
	Link string `header:"Link" doc:"<URL>; rel=\"next\" when a page is returned and another one follows."`
	Body func(huma.Context)
}

// elements produces the elements of a JSON array, calling emit for each.
type elements func(emit func(any) error) error

// pageOutput answers with one page already read.
func (s *service) pageOutput(p Paging, next string, produce elements) *listOutput {
	out := s.streamOutput(produce)
	if next != "" {
		out.Link = p.nextLink(next)
	}
	return out
}

// streamOutput answers with elements written as they are produced.
func (s *service) streamOutput(produce elements) *listOutput {
	return &listOutput{Body: func(hctx huma.Context) { s.writeArray(hctx, produce) }}
}

// list answers a listing: one page when the request pages, else a stream
// of every element. page and stream read model rows M; convert makes the
// JSON element J.
func list[M, J any](s *service, p *Paging, page func(model.Page) ([]M, string, error),
	stream func(func(*M) error) error, convert func(*M) J) (*listOutput, error) {
	if !p.paged() {
		return s.streamOutput(func(emit func(any) error) error {
			return stream(func(m *M) error { return emit(convert(m)) })
		}), nil
	}
	rows, next, err := page(p.page())
	if err != nil {
		return nil, err
	}
	return s.pageOutput(*p, next, func(emit func(any) error) error {
		for i := range rows {
			if err := emit(convert(&rows[i])); err != nil {
				return err
			}
		}
		return nil
	}), nil
}

// resourceOutput is a single resource: its JSON, encoded once for both the
// ETag and the body (huma would encode it a second time), and the ETag.
type resourceOutput struct {
	ContentType string `header:"Content-Type" hidden:"true"`
	ETag        string `header:"ETag" doc:"The representation's strong validator, for If-None-Match."`
	Body        []byte
}

// resource answers a single GET: the converted row with its ETag, or 304
// when the client's If-None-Match still matches. Document the operation
// withResourceDocs[J].
func resource[M, J any](ifNoneMatch []string, m *M, err error, convert func(*M) J) (*resourceOutput, error) {
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(convert(m)); err != nil {
		return nil, fmt.Errorf("encode resource: %w", err)
	}
	etag, err := conditionalGet(ifNoneMatch, buf.Bytes())
	if err != nil {
		return nil, err
	}
	return &resourceOutput{ContentType: "application/json", ETag: etag, Body: buf.Bytes()}, nil
}

// withResourceDocs documents a single GET's 200 response as a T: the
// body is raw bytes to huma.
func withResourceDocs[T any](s *service) func(*huma.Operation) {
	return func(op *huma.Operation) {
		schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[T](), true, "")
		op.Responses = map[string]*huma.Response{"200": {
			Description: "OK",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: schema}},
		}}
	}
}

// withListDocs documents a listing's 200 response as a JSON array of T:
// huma cannot see through the streaming body function.
func withListDocs[T any](s *service, what string) func(*huma.Operation) {
	return func(op *huma.Operation) {
		schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[[]T](), true, "")
		op.Responses = map[string]*huma.Response{"200": {
			Description: "The " + what + ", in id order.",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: schema}},
		}}
	}
}

// errClientGone marks a failed write to the client: nothing more can be
// said to it, so it is not a server error.
type errClientGone struct{ err error }

func (e errClientGone) Error() string { return "write response: " + e.err.Error() }
func (e errClientGone) Unwrap() error { return e.err }

// writeArray writes the elements as a JSON array. The status line waits for
// the first element, so a query that fails at once is still answered with
// a proper problem response. A failure after that cannot change the status:
// the connection is cut (http.ErrAbortHandler) so the client sees a
// truncated response, never a short array that looks complete.
func (s *service) writeArray(hctx huma.Context, produce elements) {
	w := &arrayWriter{hctx: hctx, timeout: s.deps.StreamWriteTimeout}
	err := produce(w.emit)
	if err == nil {
		err = w.close()
	}
	ctx := hctx.Context()
	var gone errClientGone
	switch {
	case err == nil:
	case errors.As(err, &gone) || ctx.Err() != nil:
		s.log.DebugContext(ctx, "client went away during a listing", "err", err, "request_id", RequestID(ctx))
	case !w.started:
		s.writeError(hctx, err)
	default:
		s.log.ErrorContext(ctx, "listing failed after it started; cutting the response", "err", err,
			"request_id", RequestID(ctx), "elements", w.n)
		panic(http.ErrAbortHandler)
	}
}

// arrayWriter writes a JSON array element by element through a buffer.
type arrayWriter struct {
	hctx    huma.Context
	timeout time.Duration
	rc      *http.ResponseController
	bw      *bufio.Writer
	enc     *json.Encoder
	started bool
	n       int
}

// extendEvery is how many elements may go by between two pushes of the
// write deadline.
const extendEvery = 1000

func (a *arrayWriter) start() error {
	a.started = true
	a.hctx.SetHeader("Content-Type", "application/json")
	a.hctx.SetStatus(http.StatusOK)
	body := a.hctx.BodyWriter()
	if rw, ok := body.(http.ResponseWriter); ok && a.timeout > 0 {
		a.rc = http.NewResponseController(rw)
		a.extendDeadline()
	}
	a.bw = bufio.NewWriterSize(body, 32<<10)
	a.enc = json.NewEncoder(a.bw)
	a.enc.SetEscapeHTML(false)
	return a.write("[")
}

func (a *arrayWriter) extendDeadline() {
	if a.rc != nil {
		// Not every writer supports deadlines (httptest); then there is none to push.
		_ = a.rc.SetWriteDeadline(time.Now().Add(a.timeout))
	}
}

func (a *arrayWriter) write(s string) error {
	if _, err := a.bw.WriteString(s); err != nil {
		return errClientGone{err}
	}
	return nil
}

func (a *arrayWriter) emit(v any) error {
	if !a.started {
		if err := a.start(); err != nil {
			return err
		}
	} else if err := a.write(","); err != nil {
		return err
	}
	if err := a.enc.Encode(v); err != nil {
		var je *json.UnsupportedValueError
		if errors.As(err, &je) {
			return fmt.Errorf("encode element %d: %w", a.n, err)
		}
		return errClientGone{err}
	}
	a.n++
	if a.n%extendEvery == 0 {
		a.extendDeadline()
	}
	return nil
}

func (a *arrayWriter) close() error {
	if !a.started {
		if err := a.start(); err != nil {
			return err
		}
	}
	if err := a.write("]\n"); err != nil {
		return err
	}
	if err := a.bw.Flush(); err != nil {
		return errClientGone{err}
	}
	return nil
}

// optional is a query parameter that may be absent: huma leaves pointer
// parameters nil even when given, so this wrapper records whether it was set.
type optional[T any] struct {
	Value T
	IsSet bool
}

// Schema documents the parameter as its value type.
func (o optional[T]) Schema(r huma.Registry) *huma.Schema {
	return huma.SchemaFromType(r, reflect.TypeFor[T]())
}

// Receiver implements huma.ParamWrapper.
func (o *optional[T]) Receiver() reflect.Value { return reflect.ValueOf(o).Elem().Field(0) }

// OnParamSet implements huma.ParamReactor.
func (o *optional[T]) OnParamSet(isSet bool, _ any) { o.IsSet = isSet }

func (o *optional[T]) ptr() *T {
	if !o.IsSet {
		return nil
	}
	v := o.Value
	return &v
}

// conditionalGet computes the strong ETag of a single resource's JSON body
// and answers If-None-Match with 304 Not Modified when it matches.
//
// A single GET declares only If-None-Match, not all of conditional.Params:
// the API sends no Last-Modified (no time covers every field), so date
// conditions do not apply, and parsing four headers by reflection on every
// request cost a tenth of a GET's CPU.
func conditionalGet(ifNoneMatch []string, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:12])
	etag := `"` + tag + `"`
	if len(ifNoneMatch) > 0 {
		cp := conditional.Params{IfNoneMatch: ifNoneMatch}
		if err := cp.PreconditionFailed(tag, time.Time{}); err != nil {
			return "", huma.ErrorWithHeaders(err, http.Header{"ETag": {etag}})
		}
	}
	return etag, nil
}
