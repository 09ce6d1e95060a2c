package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	segjson "github.com/segmentio/encoding/json"
)

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
