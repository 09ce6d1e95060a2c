package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/negotiation"

	"github.com/usersync/usersync/pkg/model"
)

// The formats a listing answers in.
const (
	formatJSON = "json"
	formatCSV  = "csv"
)

// Listing is the paging and format of a listing that can be exported:
// JSON by default, CSV on format=csv or Accept: text/csv.
type Listing struct {
	Paging
	Format string `query:"format" enum:"json,csv" doc:"csv answers text/csv (as Accept: text/csv does), json a JSON array (the default)."`
	accept string
}

// Resolve implements huma.Resolver: it keeps the Accept header for
// content negotiation.
func (l *Listing) Resolve(ctx huma.Context) []error {
	l.accept = ctx.Header("Accept")
	return l.Paging.Resolve(ctx)
}

// format is the answer's format: format= wins, else Accept decides, else JSON.
func (l *Listing) format() string {
	if l.Format != "" {
		return l.Format
	}
	// SelectQValue, not the Fast one huma uses: it cannot panic on a
	// malformed header (see dropMalformedAccept).
	if l.accept != "" && negotiation.SelectQValue(l.accept, []string{"application/json", "text/csv"}) == "text/csv" {
		return formatCSV
	}
	return formatJSON
}

// listing describes one listing operation: how to read a page and stream
// the whole, how a row becomes its JSON element J, and what the export
// history records about it.
type listing[M, J any] struct {
	resource string            // users, assets or user_assets
	filters  map[string]string // the filters the request gave
	// wholeJSONIsExport says whether a JSON listing without limit is an
	// export: true for the mirror's tables, false for a view of one
	// record (a user's assets), which only CSV makes an export.
	wholeJSONIsExport bool
	page              func(context.Context, model.Page) ([]M, string, error)
	stream            func(context.Context, func(*M) error) error
	convert           func(*M) J
	csv               *csvTable[J]
}

// listOutput is the response of a listing: a JSON array or CSV written by
// Body, either one page or the whole listing streamed.
type listOutput struct {
	Link string `header:"Link" doc:"<URL>; rel=\"next\" when a page is returned and another one follows."`
	Body func(huma.Context)
}

// firstBatch is how many rows a listing without limit reads before it
// decides to stream: one that ends within them (a user's few assets, a
// narrow filter) is answered at once, holding no stream slot and no
// database connection while its client reads.
const firstBatch = 100

// list answers a listing. A page is read within the request's time bound
// and then written. Without limit and cursor, the first firstBatch rows are
// read the same way; when there are more, the whole listing is streamed
// instead, under the stream limits, from the moment Body runs.
func list[M, J any](s *service, ctx context.Context, in *Listing, l listing[M, J]) (*listOutput, error) {
	whole := !in.paged()
	p := in.page()
	if whole {
		p = model.Page{Limit: firstBatch}
	}
	rows, next, err := l.page(ctx, p)
	if err != nil {
		return nil, err
	}
	if whole && next != "" {
		return &listOutput{Body: func(hctx huma.Context) {
			writeListing(s, hctx, in, &l, true, true, "", func(ctx context.Context, emit func(*J) error) error {
				var j J
				return l.stream(ctx, func(m *M) error {
					j = l.convert(m)
					return emit(&j)
				})
			})
		}}, nil
	}
	out := &listOutput{Body: func(hctx huma.Context) {
		writeListing(s, hctx, in, &l, whole, false, next, func(_ context.Context, emit func(*J) error) error {
			var j J
			for i := range rows {
				j = l.convert(&rows[i])
				if err := emit(&j); err != nil {
					return err
				}
			}
			return nil
		})
	}}
	if !whole && next != "" {
		out.Link = in.nextLink(next)
	}
	return out, nil
}

// writeListing writes the rows produce yields. A streamed listing takes one
// of Limits.MaxStreams slots (503 when none is free), runs for at most
// Limits.StreamTimeout, and is cut when its client accepts nothing for
// Limits.StreamStallTimeout or the server shuts down. A CSV answer, or a
// whole JSON listing of a table, is an export: it is counted and recorded
// in the export history, completed or cut; the pages of a paged CSV export
// are recorded as one export (next is the cursor this page hands out, ""
// on the last page).
//
// The status line waits for the first row, so a query that fails at once is
// still answered with a proper problem response. A failure after that
// cannot change the status: the connection is cut (http.ErrAbortHandler)
// so the client sees a truncated response, never a short array or CSV that
// looks complete.
func writeListing[M, J any](s *service, hctx huma.Context, in *Listing, l *listing[M, J], whole, streamed bool, next string,
	produce func(context.Context, func(*J) error) error) {
	ctx := hctx.Context()
	if streamed {
		if !s.slots.take() {
			s.writeError(hctx, fmt.Errorf("%w: %d listings are being streamed whole already; page with limit, or try again shortly",
				model.ErrBusy, s.limits.MaxStreams))
			return
		}
		defer s.slots.release()
		if s.limits.StreamTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, s.limits.StreamTimeout, errTooSlow)
			defer cancel()
		}
	}
	w := newListWriter(hctx, ctx, in.format(), l, streamed, s.limits.StreamStallTimeout)
	defer w.stop()
	began := time.Now()
	err := produce(ctx, w.row)
	if err == nil {
		err = w.close()
	}
	if w.started && (w.format == formatCSV || whole && l.wholeJSONIsExport) {
		e := model.Export{
			StartedAt: began, FinishedAt: time.Now(), TokenName: tokenName(ctx),
			Resource: l.resource, Filters: l.filters, Format: w.format,
			Rows: w.rows, Bytes: w.body.written(), Outcome: model.ExportCompleted, RequestID: RequestID(ctx),
		}
		if !whole {
			e.PageCursor, e.NextCursor = in.Cursor, next
		}
		switch {
		case err != nil:
			e.Outcome = model.ExportCut
		case e.NextCursor != "":
			e.Outcome = model.ExportPartial
		}
		s.recordExport(ctx, e)
	}
	if err == nil {
		return
	}
	if !w.started {
		if ctx.Err() != nil && hctx.Context().Err() == nil {
			// Ended by the stream's own bound, not by the client.
			err = context.Cause(ctx)
		}
		s.writeError(hctx, err)
		return
	}
	s.logCut(ctx, err, w.rows)
	panic(http.ErrAbortHandler)
}

// logCut says why a stream that had begun was cut: at the level its cause
// deserves.
func (s *service) logCut(ctx context.Context, err error, rows int64) {
	id := RequestID(ctx)
	var gone errClientGone
	var ne net.Error
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTooSlow):
		s.log.WarnContext(ctx, "stream ran past its time bound; cut", "request_id", id, "rows", rows)
	case errors.Is(cause, ErrShuttingDown):
		s.log.WarnContext(ctx, "stream still running when the shutdown budget ran out; cut", "request_id", id, "rows", rows)
	case errors.As(err, &gone) && errors.As(err, &ne) && ne.Timeout():
		s.log.WarnContext(ctx, "client accepted nothing within the stall timeout; stream cut", "request_id", id, "rows", rows)
	case errors.As(err, &gone) || ctx.Err() != nil:
		s.log.DebugContext(ctx, "client went away during a listing", "err", err, "request_id", id, "rows", rows)
	default:
		s.log.ErrorContext(ctx, "listing failed after it started; cutting the response", "err", err, "request_id", id, "rows", rows)
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
