package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/negotiation"
	segjson "github.com/segmentio/encoding/json"

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

// errClientGone marks a failed write to the client: nothing more can be
// said to it, so it is not a server error.
type errClientGone struct{ err error }

func (e errClientGone) Error() string { return "write response: " + e.err.Error() }
func (e errClientGone) Unwrap() error { return e.err }

// streamBody is where a listing's bytes go: the response, counted, and for
// a whole listing under a write deadline of its own, pushed out before
// every write (so each write, not the stream, is bounded by the stall
// timeout; 0 lifts the deadline) and pulled in to now when the stream's
// context ends (its time bound, shutdown).
type streamBody struct {
	w     io.Writer
	rc    *http.ResponseController // nil: the server's WriteTimeout applies
	stall time.Duration

	mu  sync.Mutex
	cut bool
	n   int64
}

var errStreamCut = errors.New("stream cut")

func (b *streamBody) Write(p []byte) (int, error) {
	if b.rc != nil {
		b.mu.Lock()
		if b.cut {
			b.mu.Unlock()
			return 0, errStreamCut
		}
		_ = b.rc.SetWriteDeadline(b.deadline())
		b.mu.Unlock()
	}
	n, err := b.w.Write(p)
	b.mu.Lock()
	b.n += int64(n)
	b.mu.Unlock()
	return n, err
}

// deadline is the write deadline of the next write.
func (b *streamBody) deadline() time.Time {
	if b.stall <= 0 {
		return time.Time{}
	}
	return time.Now().Add(b.stall)
}

// end unblocks a write in progress and fails every later one.
func (b *streamBody) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = true
	_ = b.rc.SetWriteDeadline(time.Now())
}

func (b *streamBody) written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// listWriter writes a listing's rows as a JSON array or CSV through a
// 32 KiB buffer, in constant memory whatever the number of rows.
type listWriter[M, J any] struct {
	hctx     huma.Context
	format   string
	listing  *listing[M, J]
	body     *streamBody
	stopBody func() bool
	bw       *bufio.Writer
	enc      *segjson.Encoder
	cw       *csv.Writer
	rec      []string
	started  bool
	rows     int64
}

func newListWriter[M, J any](hctx huma.Context, ctx context.Context, format string, l *listing[M, J], streamed bool,
	stall time.Duration) *listWriter[M, J] {
	w := &listWriter[M, J]{hctx: hctx, format: format, listing: l, stopBody: func() bool { return false }}
	body := hctx.BodyWriter()
	w.body = &streamBody{w: body, stall: stall}
	if rw, ok := body.(http.ResponseWriter); ok && streamed {
		rc := http.NewResponseController(rw)
		// Not every writer supports deadlines (httptest); then there is
		// none to push, and nothing to stall on either.
		if rc.SetWriteDeadline(w.body.deadline()) == nil {
			w.body.rc = rc
			w.stopBody = context.AfterFunc(ctx, w.body.end)
		}
	}
	return w
}

// stop releases the watch on the stream's context.
func (w *listWriter[M, J]) stop() { w.stopBody() }

func (w *listWriter[M, J]) start() error {
	w.started = true
	w.hctx.SetHeader("Vary", "Accept")
	if w.format == formatCSV {
		w.hctx.SetHeader("Content-Type", "text/csv; charset=utf-8; header=present")
		w.hctx.SetHeader("Content-Disposition", `attachment; filename="`+w.listing.resource+`.csv"`)
	} else {
		w.hctx.SetHeader("Content-Type", "application/json")
	}
	w.hctx.SetStatus(http.StatusOK)
	w.bw = bufio.NewWriterSize(w.body, 32<<10)
	if w.format == formatCSV {
		w.cw = csv.NewWriter(w.bw)
		w.cw.UseCRLF = true // RFC 4180
		w.rec = make([]string, len(w.listing.csv.header))
		return w.csvRecord(w.listing.csv.header)
	}
	w.enc = newJSONEncoder(w.bw)
	return w.write("[")
}

func (w *listWriter[M, J]) write(s string) error {
	if _, err := w.bw.WriteString(s); err != nil {
		return errClientGone{err}
	}
	return nil
}

func (w *listWriter[M, J]) csvRecord(rec []string) error {
	if err := w.cw.Write(rec); err != nil {
		return errClientGone{err}
	}
	return nil
}

// row writes one element.
func (w *listWriter[M, J]) row(j *J) error {
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	} else if w.format == formatJSON {
		if err := w.write(","); err != nil {
			return err
		}
	}
	if w.format == formatCSV {
		w.listing.csv.record(j, w.rec)
		if err := w.csvRecord(w.rec); err != nil {
			return err
		}
	} else if err := w.enc.Encode(j); err != nil {
		var je *segjson.UnsupportedValueError
		if errors.As(err, &je) {
			return fmt.Errorf("encode element %d: %w", w.rows, err)
		}
		return errClientGone{err}
	}
	w.rows++
	return nil
}

// close ends the array or CSV and flushes it.
func (w *listWriter[M, J]) close() error {
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if w.format == formatCSV {
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return errClientGone{err}
		}
	} else if err := w.write("]\n"); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return errClientGone{err}
	}
	return nil
}

// historyTimeout bounds the write of one export_history row.
const historyTimeout = 2 * time.Second

// recordExport counts an export and writes its history row. A row that
// cannot be written is logged and counted, never turned into a failure of
// the export, which has been served already.
func (s *service) recordExport(ctx context.Context, e model.Export) {
	s.metrics.exports.WithLabelValues(e.Resource, e.Format, string(e.Outcome)).Inc()
	if s.deps.ExportLog == nil {
		return
	}
	// Neither a client gone nor a shutdown under way keeps the export out
	// of the history.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyTimeout)
	defer cancel()
	if err := s.deps.ExportLog.RecordExport(rctx, e); err != nil {
		s.metrics.historyFailures.Inc()
		s.log.WarnContext(ctx, "export served but not recorded in export_history", "err", err,
			"request_id", e.RequestID, "resource", e.Resource, "format", e.Format, "rows", e.Rows)
	}
}

// filterSet collects the filters a request gave, by query parameter name,
// for the export history.
type filterSet map[string]string

func (f filterSet) text(name, v string) {
	if v != "" {
		f[name] = v
	}
}

func (f filterSet) id(name string, v optional[int64]) {
	if v.IsSet {
		f[name] = strconv.FormatInt(v.Value, 10)
	}
}

func (f filterSet) flag(name string, v bool) {
	if v {
		f[name] = "true"
	}
}
