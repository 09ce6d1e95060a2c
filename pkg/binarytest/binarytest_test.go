package binarytest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/binarytest"
)

func TestMain(m *testing.M) { binarytest.Main(m) }

const usersync = "github.com/usersync/usersync/cmd/usersync"

// TestBuildBuildsOnce checks the command is built, runs, and is not built
// again for a second test: the second call returns the same file
// untouched.
func TestBuildBuildsOnce(t *testing.T) {
	bin := binarytest.Build(t, usersync)
	if filepath.Base(bin) != "usersync" {
		t.Errorf("binary %s; want it named usersync", bin)
	}
	out, err := exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(out), "Usage") {
		t.Errorf("%s -h: %v\n%s", bin, err, out)
	}
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again := binarytest.Build(t, usersync); again != bin {
		t.Errorf("second Build = %s; want %s", again, bin)
	}
	after, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("second Build rebuilt the binary")
	}
}

// TestRemoveAllDeletesTheBinaries checks nothing built is left behind.
func TestRemoveAllDeletesTheBinaries(t *testing.T) {
	bin := binarytest.Build(t, usersync)
	binarytest.RemoveAll()
	if _, err := os.Stat(filepath.Dir(bin)); !os.IsNotExist(err) {
		t.Errorf("after RemoveAll, %s: %v; want it gone", filepath.Dir(bin), err)
	}
}
