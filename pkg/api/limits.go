package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2/negotiation"
)

// Limits bound what one request may take from the service, so that a
// handful of slow or hostile clients cannot take it down. A zero field
// means no bound (what tests on humatest get).
type Limits struct {
	// MaxStreams caps the listings streamed whole (no limit) or exported
	// at once. Each holds a pooled database connection for as long as its
	// client reads, so the cap must stay below the pool size: what is left
	// serves single reads and pages. Beyond it a listing gets 503 with
	// Retry-After.
	MaxStreams int
	// StreamTimeout bounds the whole of one stream; a stream still running
	// then is cut.
	StreamTimeout time.Duration
	// StreamStallTimeout bounds each write of a stream (at most 32 KiB): a
	// client that accepts nothing for this long is cut. It is a floor on
	// the transfer rate of 32 KiB per StreamStallTimeout.
	StreamStallTimeout time.Duration
	// RequestTimeout bounds every other operation (single reads, pages,
	// status); past it the request is answered 503.
	RequestTimeout time.Duration
}

// Bounds on a request's size, checked before routing. A request beyond
// them gets a problem response, 414 or 431; the http.Server should refuse
// headers beyond ServerMaxHeaderBytes itself (net/http answers those
// with a plain-text 431, having read no more).
const (
	// MaxURLBytes bounds the request target: path and query.
	MaxURLBytes = 4 << 10
	// MaxHeaderBytes bounds the request's header fields, names and values.
	MaxHeaderBytes = 16 << 10
	// ServerMaxHeaderBytes is what usersapi sets as
	// http.Server.MaxHeaderBytes: room for the request line and headers
	// within the two bounds above, with a margin.
	ServerMaxHeaderBytes = 2 * (MaxURLBytes + MaxHeaderBytes)
)

// limitRequests refuses a request whose target or header fields exceed
// MaxURLBytes or MaxHeaderBytes, in the same problem format as every other
// error.
func limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > MaxURLBytes {
			writeProblem(w, http.StatusRequestURITooLong,
				"the request target is longer than "+strconv.Itoa(MaxURLBytes)+" bytes")
			return
		}
		size := len(r.Host)
		for k, vs := range r.Header {
			for _, v := range vs {
				size += len(k) + len(v) + 4 // ": " and CRLF
			}
		}
		if size > MaxHeaderBytes {
			writeProblem(w, http.StatusRequestHeaderFieldsTooLarge,
				"the request's header fields take more than "+strconv.Itoa(MaxHeaderBytes)+" bytes")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dropMalformedAccept removes from Accept what huma's content negotiation
// cannot use. Media ranges that are not type/subtype (RFC 9110 §12.5.1,
// e.g. "json") go: huma would match one against its format names and
// answer with Content-Type: json. A header the negotiation parser panics on
// (";;,,": negotiation.SelectQValueFast runs on every response huma writes,
// which made any route answer 500) goes whole. RFC 9110 lets a server
// disregard an Accept it cannot use; the answer is then the default, JSON.
func dropMalformedAccept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accept := r.Header.Get("Accept"); accept != "" {
			if usable := usableAccept(accept); usable == "" {
				r.Header.Del("Accept")
			} else if usable != accept {
				r.Header.Set("Accept", usable)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// usableAccept returns accept's media ranges of the form type/subtype, or
// "" when none is left or the negotiation parser cannot read them.
func usableAccept(accept string) string {
	ranges := strings.Split(accept, ",")
	kept := ranges[:0]
	for _, mr := range ranges {
		typ, _, _ := strings.Cut(mr, ";")
		if t, sub, ok := strings.Cut(strings.TrimSpace(typ), "/"); ok && t != "" && sub != "" {
			kept = append(kept, mr)
		}
	}
	usable := strings.Join(kept, ",")
	if usable == "" || !negotiable(usable) {
		return ""
	}
	return usable
}

// negotiable reports whether huma can negotiate with accept: its parser
// does not panic on it (where it panics depends on the header alone, not on
// the offered types), and it does not pick the bare format name "json" the
// server registers for +json types, which quirks of that parser allow
// ("application/json;json;q=0").
func negotiable(accept string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return negotiation.SelectQValueFast(accept, formatNames) != "json"
}

// formatNames are the keys of the huma config's Formats, as huma offers
// them to the negotiation.
var formatNames = []string{"application/json", "json"}

// streamSlots counts the streams running against Limits.MaxStreams.
type streamSlots struct {
	free    chan struct{} // nil: unlimited
	metrics *serviceMetrics
}

func newStreamSlots(n int, m *serviceMetrics) *streamSlots {
	s := &streamSlots{metrics: m}
	if n > 0 {
		s.free = make(chan struct{}, n)
	}
	return s
}

// take claims a slot without waiting: a client that cannot have one is
// better told at once than queued behind streams that may last minutes.
func (s *streamSlots) take() bool {
	if s.free != nil {
		select {
		case s.free <- struct{}{}:
		default:
			s.metrics.streamsRejected.Inc()
			return false
		}
	}
	s.metrics.streamsInFlight.Inc()
	return true
}

func (s *streamSlots) release() {
	s.metrics.streamsInFlight.Dec()
	if s.free != nil {
		<-s.free
	}
}

// withRequestTimeout derives the context of a non-streaming operation,
// ended with cause errTooSlow after Limits.RequestTimeout.
func (s *service) withRequestTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.limits.RequestTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.limits.RequestTimeout, errTooSlow)
}
