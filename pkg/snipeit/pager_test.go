package snipeit_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// TestClientReplansWhenTheServerCapDrops cuts a page short while later
// pages are in flight: the walk re-plans with the smaller page size
// (under -race this also proves the in-flight fetches do not share the
// page size with the re-planning).
func TestClientReplansWhenTheServerCapDrops(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 300, Seed: 9})})
	// Page size 10 overlapping by one: the first page after offset 0 starts
	// at offset 9.
	in := sim.Inject(snipeittest.Fault{Kind: snipeittest.FaultShortPage, Path: "/api/v1/users", Query: map[string]string{"offset": "9"}, Rows: 5})
	c := newClient(t, sim, func(c *snipeit.Config) { c.PageSize, c.Parallelism = 10, 4 })
	got, err := collect(t, c.Users(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if in.Fired() != 1 {
		t.Fatalf("the short page was served %d times, want 1", in.Fired())
	}
	if diff := cmp.Diff(sim.Users(), got); diff != "" {
		t.Fatalf("users (-simulator +client):\n%s", diff)
	}
}
