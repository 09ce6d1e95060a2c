package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

func TestMain(m *testing.M) { binarytest.Main(m) }

// TestDemoRunsEndToEnd is `make demo` on small data: the README's first
// command must keep working.
func TestDemoRunsEndToEnd(t *testing.T) {
	server := pgtest.ServerURL(t)
	bin := binarytest.BuildAll(t, "github.com/usersync/usersync/cmd/usersync", "github.com/usersync/usersync/cmd/usersapi")
	// A name of this run's own: two checkouts testing on one server must
	// not drop each other's database.
	database := fmt.Sprintf("usersync_demo_test_%d", os.Getpid())
	args := []string{"-bin", bin, "-server", server, "-database", database,
		"-users", "300", "-assets", "200", "-listen", "127.0.0.1:0", "-exit"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"users: 288 fetched, 288 inserted", "assets: 192 fetched", "==> usersapi at http://127.0.0.1:", "/users?limit=3",
		"==> Cleaning up", "stopped usersapi", "dropped the database " + database} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
