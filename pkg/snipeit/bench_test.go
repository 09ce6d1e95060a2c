package snipeit_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/usersync/usersync/pkg/model"
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

// BenchmarkReadChanges compares reading everything (what a full run
// fetches) with reading what 20 changes touched (what an incremental run
// fetches: changed and deleted users and assets, archived assets, the
// activity log, departments, locations and companies) on 100,000 users and
// 50,000 assets, without a rate limit:
// the client's share of issue 15's target. requests/op counts Snipe-IT
// requests; at Snipe-IT's default 120 requests a minute each costs half a
// second.
func BenchmarkReadChanges(b *testing.B) {
	clk := snipeittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	sim := snipeittest.Start(b, snipeittest.Config{Now: clk.Now,
		Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 100_000, Assets: 50_000, Seed: 1})})
	c, err := snipeit.New(snipeit.Config{BaseURL: sim.URL(), Token: sim.Token(), RatePerMinute: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	full := func() {
		for _, err := range c.Users(ctx) {
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, err := range c.Assets(ctx) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	full() // warm the simulator's row cache
	lastLog, err := c.LastActivityID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	since := clk.Now()
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		clk.Advance(time.Second)
		if _, err := sim.RandomChange(rng); err != nil && !errors.Is(err, model.ErrConflict) {
			b.Fatal(err)
		}
	}
	incremental := func() {
		for _, seq := range []func(func(error)){
			func(check func(error)) {
				for _, err := range c.UsersChangedSince(ctx, since) {
					check(err)
				}
			},
			func(check func(error)) {
				for _, err := range c.DeletedUsersSince(ctx, since) {
					check(err)
				}
			},
			func(check func(error)) {
				for _, err := range c.AssetsChangedSince(ctx, since) {
					check(err)
				}
			},
			func(check func(error)) {
				for _, err := range c.DeletedAssetsSince(ctx, since) {
					check(err)
				}
			},
			func(check func(error)) { _, err := c.ActivitySince(ctx, lastLog); check(err) },
			func(check func(error)) { _, err := c.Departments(ctx); check(err) },
			func(check func(error)) { _, err := c.Locations(ctx); check(err) },
			func(check func(error)) { _, err := c.Companies(ctx); check(err) },
		} {
			seq(func(err error) {
				if err != nil {
					b.Fatal(err)
				}
			})
		}
	}
	for _, bc := range []struct {
		name string
		read func()
	}{{"full", full}, {"incremental", incremental}} {
		b.Run(bc.name, func(b *testing.B) {
			sim.ResetStats()
			for b.Loop() {
				bc.read()
			}
			b.ReportMetric(float64(sim.Stats().Requests)/float64(b.N), "requests/op")
		})
	}
}
