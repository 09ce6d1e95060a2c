package postgres_test

import (
	"context"
	"testing"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

// benchUsers is a realistic batch of users, as the client decodes them.
func benchUsers(b *testing.B, n int) []model.User {
	b.Helper()
	sim := snipeittest.Start(b, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: n, Seed: 1, DeletedUsers: -1})})
	return sim.Users()
}

// BenchmarkMirrorUsersInitial writes 20,000 users into an empty mirror.
func BenchmarkMirrorUsersInitial(b *testing.B) {
	users := benchUsers(b, 20_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		db := openDB(b)
		b.StartTimer()
		if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(users))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMirrorUsersUnchanged re-syncs 20,000 users that did not change:
// the steady state of a CronJob.
func BenchmarkMirrorUsersUnchanged(b *testing.B) {
	users := benchUsers(b, 20_000)
	ctx := context.Background()
	db := openDB(b)
	if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.MirrorUsers(ctx, seq(users), model.DeleteGuard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(users))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
