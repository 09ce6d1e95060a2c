package api

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/conditional"
)

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
