package kubetest

import (
	"sync"

	"k8s.io/client-go/rest"
)

// Warnings records the warnings an API server sends a client (the Warning
// headers PodSecurity, deprecations and validation answer with). Set it as
// a rest.Config's WarningHandler; it is safe for concurrent requests.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

var _ rest.WarningHandler = (*Warnings)(nil)

// HandleWarningHeader records the warning's text.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// All returns the warnings recorded so far, oldest first.
func (w *Warnings) All() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
