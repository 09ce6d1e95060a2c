package snipeittest

import (
	"maps"
	"net/http"
	"sync"
)

// Stats is a snapshot of what a Server served since it started or since
// ResetStats.
type Stats struct {
	// Requests counts every request, faulted ones included.
	Requests int
	// Responses counts responses by route and status. Routes are paths
	// with ids replaced by {id} ("/api/v1/users", "/api/v1/users/{id}");
	// status 0 counts requests that got no response (reset, hang, a
	// client that left while the server waited).
	Responses map[string]map[int]int
	// TooManyRequests counts 429s served, by the rate limiter or a fault.
	TooManyRequests int
	// RateLimited counts the 429s the rate limiter decided.
	RateLimited int
	// Faults counts injected faults fired, by kind.
	Faults map[FaultKind]int
}

// FaultsFired is the number of injected faults fired, all kinds together.
func (st Stats) FaultsFired() int {
	n := 0
	for _, c := range st.Faults {
		n += c
	}
	return n
}

// stats accumulates Stats.
type stats struct {
	mu sync.Mutex
	s  Stats
}

func (st *stats) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s = Stats{Responses: map[string]map[int]int{}, Faults: map[FaultKind]int{}}
}

func (st *stats) record(route string, status int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Requests++
	byStatus := st.s.Responses[route]
	if byStatus == nil {
		byStatus = map[int]int{}
		st.s.Responses[route] = byStatus
	}
	byStatus[status]++
	if status == http.StatusTooManyRequests {
		st.s.TooManyRequests++
	}
}

func (st *stats) fault(kind FaultKind) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Faults[kind]++
}

func (st *stats) rateLimited() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.RateLimited++
}

func (st *stats) snapshot() Stats {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.s
	c.Responses = make(map[string]map[int]int, len(st.s.Responses))
	for route, byStatus := range st.s.Responses {
		c.Responses[route] = maps.Clone(byStatus)
	}
	c.Faults = maps.Clone(st.s.Faults)
	return c
}

// Stats returns what the server served so far.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ResetStats starts the counts afresh.
func (s *Server) ResetStats() { s.stats.reset() }
