package api

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/conditional"
	segjson "github.com/segmentio/encoding/json"

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

// resourceOutput is a single resource, written by Body: its JSON with
// its ETag, the headers set directly. A single GET is what clients call
// most; huma's reflection over output headers cost a tenth of its CPU
// outside the database.
type resourceOutput struct {
	Body func(huma.Context)
}

// resource answers a single GET with the converted row: see jsonResource.
// Document the operation withResourceDocs[J].
func resource[M, J any](ifNoneMatch []string, m *M, err error, convert func(*M) J) (*resourceOutput, error) {
	if err != nil {
		return nil, err
	}
	j := convert(m)
	body, err := appendJSON(nil, &j)
	if err != nil {
		return nil, fmt.Errorf("encode resource: %w", err)
	}
	return jsonResource(ifNoneMatch, body)
}

// jsonResource answers a single GET with body, a resource's JSON ending in
// a newline, and its ETag, or 304 when the client's If-None-Match still
// matches.
func jsonResource(ifNoneMatch []string, body []byte) (*resourceOutput, error) {
	etag, err := conditionalGet(ifNoneMatch, body)
	if err != nil {
		return nil, err
	}
	return &resourceOutput{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/json")
		hctx.SetHeader("ETag", etag)
		hctx.SetStatus(http.StatusOK)
		_, _ = hctx.BodyWriter().Write(body) // a client gone is nothing to report
	}}, nil
}

// appendJSON appends v's JSON and a newline to b, exactly as
// encoding/json's Encoder with SetEscapeHTML(false) writes it (a test holds
// the two equal), in a third of the time: encoding is most of what a
// single GET and a stream spend outside the database.
func appendJSON(b []byte, v any) ([]byte, error) {
	b, err := segjson.Append(b, v, segjson.SortMapKeys)
	return append(b, '\n'), err
}

// newJSONEncoder returns the streaming counterpart of appendJSON.
func newJSONEncoder(w io.Writer) *segjson.Encoder {
	enc := segjson.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// withResourceDocs documents a single GET's 200 response as a T with its
// ETag: the body is written by a function huma cannot see through.
func withResourceDocs[T any](s *service) func(*huma.Operation) {
	return func(op *huma.Operation) {
		schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[T](), true, "")
		op.Responses = map[string]*huma.Response{"200": {
			Description: "OK",
			Headers: map[string]*huma.Param{"ETag": {
				Description: "The representation's strong validator, for If-None-Match.",
				Schema:      &huma.Schema{Type: "string"},
			}},
			Content: map[string]*huma.MediaType{"application/json": {Schema: schema}},
		}}
	}
}

// withListDocs documents a listing's 200 response as a JSON array of T,
// or CSV with T's fields as columns: huma cannot see through the streaming
// body function.
func withListDocs[T any](s *service, what string) func(*huma.Operation) {
	return func(op *huma.Operation) {
		schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[[]T](), true, "")
		columns := strings.Join(newCSVTable[T]().header, ",")
		op.Responses = map[string]*huma.Response{"200": {
			Description: "The " + what + ", in id order.",
			Content: map[string]*huma.MediaType{
				"application/json": {Schema: schema},
				"text/csv": {Schema: &huma.Schema{Type: "string",
					Description: "RFC 4180 CSV, UTF-8, CRLF line ends, a header row, then one row per element: " + columns +
						". Null is an empty cell; lists and objects are JSON text; text starting with = + - @, a tab or CR " +
						"(other than a plain number) starts with an apostrophe so spreadsheets do not run it."}},
			},
		}}
	}
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
// The tag is a 64-bit xxhash of the body: an ETag only has to change when
// the representation does (a collision between two versions of one user
// is a 2^-64 chance), not resist forgery, and SHA-256 cost ten times more.
// A single GET declares only If-None-Match, not all of conditional.Params:
// the API sends no Last-Modified (no time covers every field), so date
// conditions do not apply, and parsing four headers by reflection on every
// request cost a tenth of a GET's CPU.
func conditionalGet(ifNoneMatch []string, body []byte) (string, error) {
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], xxhash.Sum64(body))
	var quoted [2 + 11]byte // "…" around 11 characters of unpadded base64
	quoted[0], quoted[len(quoted)-1] = '"', '"'
	base64.RawURLEncoding.Encode(quoted[1:len(quoted)-1], sum[:])
	etag := string(quoted[:])
	if len(ifNoneMatch) > 0 {
		cp := conditional.Params{IfNoneMatch: ifNoneMatch}
		if err := cp.PreconditionFailed(etag[1:len(etag)-1], time.Time{}); err != nil {
			return "", huma.ErrorWithHeaders(err, http.Header{"ETag": {etag}})
		}
	}
	return etag, nil
}
