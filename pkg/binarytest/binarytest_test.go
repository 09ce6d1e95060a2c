package binarytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

const hello = "./testdata/hello"

// TestBuildBuildsOnce checks the command is built, runs, and is not built
// again for a second test: the second call returns the same file
// untouched.
func TestBuildBuildsOnce(t *testing.T) {
	bin := Build(t, hello)
	if filepath.Base(bin) != "hello" {
		t.Errorf("binary %s; want it named hello", bin)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if !strings.Contains(string(out), "hello from a built command") {
		t.Errorf("%s: %v\n%s", bin, err, out)
	}
	// Built with the race detector exactly when this test binary is.
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if race := strings.Contains(string(info), "-race=true"); race != raceEnabled {
		t.Errorf("binary built with -race: %v; the test binary: %v", race, raceEnabled)
	}
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again := Build(t, hello); again != bin {
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
	bin := Build(t, hello)
	RemoveAll()
	if _, err := os.Stat(filepath.Dir(bin)); !os.IsNotExist(err) {
		t.Errorf("after RemoveAll, %s: %v; want it gone", filepath.Dir(bin), err)
	}
}
