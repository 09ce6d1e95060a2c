// Package binarytest builds this module's commands for tests that run
// them as processes, so the process under test is the code in the tree,
// not an installed copy. Each command is built once per test binary, with
// the race detector when the test binary has it, into one temporary
// directory that RemoveAll deletes:
//
//	func TestMain(m *testing.M) { binarytest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		bin := binarytest.Build(t, "github.com/usersync/usersync/cmd/usersync")
//		…
//	}
//
// (A package whose TestMain is kubetest.Main passes binarytest.RemoveAll
// to it.)
package binarytest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// The state is per test process by design: building once for every test
// of the binary is the point.
var (
	mu    sync.Mutex
	dir   string                // holds every binary built; "" until the first build
	built = map[string]string{} // binary name → the package built under it
	errs  = map[string]error{}  // package → why its build failed
)

// Build builds the command pkg (an import path, or a path relative to the
// test's package directory such as "."), once per test process, and
// returns the binary's path. A failed build fails the test, and every
// later test that asks for the same command.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	return filepath.Join(BuildAll(tb, pkg), name(pkg))
}

// BuildAll builds the commands pkgs as Build does, in one go build for
// those not built yet, and returns the directory holding them, each
// binary named for its package's last element.
func BuildAll(tb testing.TB, pkgs ...string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "usersync-binarytest")
		if err != nil {
			tb.Fatalf("binarytest: %v", err)
		}
		dir = d
	}
	var missing []string
	for _, p := range pkgs {
		if err := errs[p]; err != nil {
			tb.Fatal(err)
		}
		switch b, ok := built[name(p)]; {
		case !ok:
			missing = append(missing, p)
		case b != p:
			tb.Fatalf("binarytest: %s and %s would both be built as %s", b, p, name(p))
		}
	}
	if len(missing) > 0 {
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, missing...)...).CombinedOutput()
		for _, p := range missing {
			if err != nil {
				errs[p] = fmt.Errorf("binarytest: go %v: %v\n%s", args, err, out)
			} else {
				built[name(p)] = p
			}
		}
		if err != nil {
			tb.Fatal(errs[missing[0]])
		}
	}
	return dir
}

// RemoveAll deletes the binaries built so far. Call it when the tests are
// done, from TestMain.
func RemoveAll() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	dir, built, errs = "", map[string]string{}, map[string]error{}
}

// Main runs the tests, removes the binaries they built and exits with
// the tests' status: the TestMain of a package that needs no other.
func Main(m *testing.M) {
	code := m.Run()
	RemoveAll()
	os.Exit(code)
}

// name is the binary go build writes for pkg: its last element.
func name(pkg string) string {
	if pkg == "." || pkg == "" {
		wd, err := os.Getwd()
		if err != nil {
			return pkg
		}
		return filepath.Base(wd)
	}
	return path.Base(filepath.ToSlash(pkg))
}
