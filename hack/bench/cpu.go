package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/usersync/usersync/pkg/postgres/pgtest"
)

// cpuRuns measures CPU per row: o.cpuUsers users at each simulated
// latency, o.rounds rounds of the plain floor, the client floor, usersync
// into an empty database and usersync again with no upstream change (and
// the same two for o.before). Each round runs everything back to back, so
// ratios are taken per round, under the same load, and the report gives
// their median and spread.
func cpuRuns(ctx context.Context, o options, p func(string, ...any)) error {
	p("### CPU per row: %d users\n\n", o.cpuUsers)
	p("CPU is user+system time of the whole process (rusage), wall the elapsed time; %d rounds, median (min–max). "+
		"Ratios are taken within each round. Floors: `snipeit-floor -decode plain` (net/http + encoding/json into the "+
		"mirrored fields), `-decode client` (usersync's Snipe-IT client, no store). Page size 500, 4 pages in flight, "+
		"no rate limit.\n\n", o.rounds)
	type run struct {
		name     string
		floor    string // "plain" or "client"
		bin      string // a usersync binary
		resync   bool
		measures []measure
	}
	for _, latency := range o.latencies {
		runs := []*run{
			{name: "floor: plain encoding/json client", floor: "plain"},
			{name: "floor: usersync's Snipe-IT client", floor: "client"},
			{name: "usersync, empty database", bin: o.usersync},
			{name: "usersync, no upstream change", bin: o.usersync, resync: true},
		}
		if o.before != "" {
			runs = append(runs,
				&run{name: "before (" + filepath.Base(o.before) + "), empty database", bin: o.before},
				&run{name: "before (" + filepath.Base(o.before) + "), no upstream change", bin: o.before, resync: true})
		}
		sim, err := startSim(ctx, o.sim, "-users", fmt.Sprint(o.cpuUsers), "-assets", "0", "-latency", latency.String())
		if err != nil {
			return err
		}
		// Warm the simulator's row cache.
		if _, err := runFloor(ctx, o.floor, sim.url, "client", "users"); err != nil {
			sim.stop()
			return err
		}
		for round := range o.rounds {
			var dbURL string
			var drop func()
			for _, r := range runs {
				var m measure
				var err error
				switch {
				case r.floor != "":
					m, err = runFloor(ctx, o.floor, sim.url, r.floor, "users")
				case !r.resync:
					if dbURL, drop, err = pgtest.Recreate(ctx, o.serverURL, "usersync_bench_cpu"); err == nil {
						m, err = runSync(ctx, r.bin, sim.url, dbURL, "", "--scope", "users")
					}
				default:
					m, err = runSync(ctx, r.bin, sim.url, dbURL, "", "--scope", "users")
					drop()
				}
				if err != nil {
					if drop != nil {
						drop()
					}
					sim.stop()
					return err
				}
				r.measures = append(r.measures, m)
			}
			fmt.Fprintf(os.Stderr, "cpu, latency %s, round %d:", latency, round+1)
			for _, r := range runs {
				fmt.Fprintf(os.Stderr, " %.2fs", r.measures[round].cpu.Seconds())
			}
			fmt.Fprintln(os.Stderr)
		}
		sim.stop()
		plain, client := runs[0].measures, runs[1].measures
		p("Simulated latency %s per page:\n\n", latency)
		p("| run | CPU | × plain floor | × client floor | wall | peak RSS |\n|---|---|---|---|---|---|\n")
		for _, r := range runs {
			p("| %s | %s | %s | %s | %s | %s |\n", r.name,
				spread(r.measures, func(m measure) float64 { return m.cpu.Seconds() }, "%.2f s"),
				perRound(r.measures, plain), perRound(r.measures, client),
				spread(r.measures, func(m measure) float64 { return m.wall.Seconds() }, "%.2f s"),
				mib(slices.MaxFunc(r.measures, func(a, b measure) int { return int(a.rss - b.rss) }).rss))
		}
		p("\n")
	}
	return nil
}

// spread formats the median of f over ms with its range.
func spread(ms []measure, f func(measure) float64, format string) string {
	vs := make([]float64, len(ms))
	for i, m := range ms {
		vs[i] = f(m)
	}
	return medianRange(vs, format)
}

// perRound is the median (min–max) of the per-round CPU ratios of ms to
// base.
func perRound(ms, base []measure) string {
	vs := make([]float64, len(ms))
	for i := range ms {
		vs[i] = ms[i].cpu.Seconds() / base[i].cpu.Seconds()
	}
	return medianRange(vs, "%.2f")
}

func medianRange(vs []float64, format string) string {
	s := slices.Clone(vs)
	slices.Sort(s)
	med := fmt.Sprintf(format, s[len(s)/2])
	if len(s) == 1 {
		return med
	}
	return med + " (" + fmt.Sprintf(format, s[0]) + "–" + fmt.Sprintf(format, s[len(s)-1]) + ")"
}
