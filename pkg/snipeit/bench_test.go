package snipeit_test

import (
	"context"
	"testing"

	"github.com/usersync/usersync/pkg/snipeit"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// BenchmarkUsers pages 10,000 users from an in-process simulator: the
// client's share of a sync (HTTP, JSON decoding, HTML unescaping, paging).
func BenchmarkUsers(b *testing.B) {
	sim := snipeittest.Start(b, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 10_000, Seed: 1, DeletedUsers: -1})})
	c, err := snipeit.New(snipeit.Config{BaseURL: sim.URL(), Token: sim.Token(), RatePerMinute: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm the simulator's row cache so it costs the same every round.
	for _, err := range c.Users(ctx) {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		for _, err := range c.Users(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
