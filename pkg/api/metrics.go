package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the HTTP server's Prometheus metrics, on a private registry.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// newMetrics registers the HTTP metrics and the Go and process collectors
// on reg.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersapi_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usersapi_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by method, route pattern and status code.",
			// From a cached single GET (sub-millisecond) to a full stream of
			// every user (seconds).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersapi_http_requests_in_flight",
			Help: "HTTP requests being answered now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		// A client may send any method; keep the label set bounded.
		method = "other"
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, code).Inc()
	m.duration.WithLabelValues(method, route, code).Observe(d.Seconds())
}

// serviceMetrics are the metrics of the operations themselves: the stream
// limit and the exports.
type serviceMetrics struct {
	streamsInFlight prometheus.Gauge
	streamsRejected prometheus.Counter
	exports         *prometheus.CounterVec
	historyFailures prometheus.Counter
}

// newServiceMetrics registers the operations' metrics on reg; with a nil
// reg they are kept but not exported.
func newServiceMetrics(reg prometheus.Registerer) *serviceMetrics {
	m := &serviceMetrics{
		streamsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersapi_streams_in_flight",
			Help: "Full listings and exports being streamed now.",
		}),
		streamsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersapi_streams_rejected_total",
			Help: "Full listings and exports refused with 503 because MAX_STREAMS were being streamed already.",
		}),
		exports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersapi_exports_total",
			Help: "Requests of exports (CSV listings and full JSON streams; each page of a paged CSV export) by resource, format and outcome (completed, partial: more pages to come, or cut).",
		}, []string{"resource", "format", "outcome"}),
		historyFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersapi_export_history_failures_total",
			Help: "Exports whose export_history row could not be written (the export itself was served).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.streamsInFlight, m.streamsRejected, m.exports, m.historyFailures)
	}
	return m
}
