package kubetest

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// Shared is one control plane for every test of a test binary, started by
// the first test that asks for it, so that tests which do not need
// Kubernetes pay nothing.
type Shared struct {
	opts Options

	once sync.Once
	cp   *ControlPlane
	err  error
}

// NewShared returns a Shared that will start with opts.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Get returns the running control plane, starting it on first use. Without
// the binaries it skips the test, or fails it when CI is set; a start that
// failed fails every test that asks.
func (s *Shared) Get(tb testing.TB) *ControlPlane {
	tb.Helper()
	s.once.Do(func() { s.cp, s.err = Start(s.opts) })
	if s.err != nil {
		fail(tb, s.err)
	}
	return s.cp
}

// Stop stops the control plane if it was started. Call it from TestMain
// after m.Run.
func (s *Shared) Stop() {
	s.once.Do(func() {}) // a later Get must not start one
	if s.cp != nil {
		s.cp.Stop()
	}
}

// Run starts a control plane for this test alone and stops it when the
// test ends; for tests that break it on purpose in ways ResumeAPIServer or
// StartAPIServer cannot undo. It skips or fails as Shared.Get does.
func Run(tb testing.TB, opts Options) *ControlPlane {
	tb.Helper()
	cp, err := Start(opts)
	if err != nil {
		fail(tb, err)
	}
	tb.Cleanup(cp.Stop)
	return cp
}

// fail skips the test when the binaries are missing outside CI, and fails
// it otherwise.
func fail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoAssets) && os.Getenv("CI") == "" {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// plane is the control plane of the test binary's tests that use Get and
// Main.
var plane = NewShared(Options{})

// Get returns the test binary's control plane, started by the first test
// that asks for it (see Shared.Get): tests that do not need Kubernetes pay
// nothing. Each test should work in its own namespace (CreateNamespace).
func Get(tb testing.TB) *ControlPlane {
	tb.Helper()
	return plane.Get(tb)
}

// Main is a TestMain for packages whose tests share the control plane of
// Get: it runs the tests, stops the control plane if one started, runs
// after (e.g. removing binaries the tests built), and exits with the
// tests' status.
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	plane.Stop()
	for _, f := range after {
		f()
	}
	os.Exit(code)
}
