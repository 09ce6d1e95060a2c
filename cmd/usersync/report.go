package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncer"
)

func printSummary(w io.Writer, r syncer.ScopeResult) {
	switch r.Status {
	case model.RunSkipped:
		fmt.Fprintf(w, "%s: skipped, another sync holds the lock\n", r.Scope)
	case model.RunFailed:
		fmt.Fprintf(w, "%s: FAILED, mirror unchanged: %v\n", r.Scope, r.Err)
	default:
		c := r.Counts
		d := func(step string) time.Duration { return r.Durations[step].Round(time.Millisecond) }
		fmt.Fprintf(w, "%s: %d fetched, %d inserted, %d updated, %d deleted, %d unchanged in %s (fetch %s, merge %s)%s\n",
			r.Scope, c.Fetched, c.Inserted, c.Updated, c.Deleted, c.Unchanged, d("total"), d("fetch"), d("merge"), modeNote(r))
	}
}

// modeNote says how a run asked to be incremental read Snipe-IT: ",
// incremental", or ", read in full: <reason>"; "" for a full run.
func modeNote(r syncer.ScopeResult) string {
	switch {
	case r.Mode == model.ModeIncremental:
		return ", incremental"
	case r.FallbackReason != "":
		return ", read in full: " + r.FallbackReason
	}
	return ""
}

// changeReport prints a dry run's changes, at most perKind of each kind
// per scope (0: all of them), then the counts. The syncer never calls add
// concurrently.
type changeReport struct {
	w       io.Writer
	perKind int
	shown   map[model.Scope]map[model.ChangeKind]int
}

func newChangeReport(w io.Writer, perKind int) *changeReport {
	return &changeReport{w: w, perKind: perKind, shown: map[model.Scope]map[model.ChangeKind]int{}}
}

func (r *changeReport) add(scope model.Scope, c model.Change) {
	if r.shown[scope] == nil {
		r.shown[scope] = map[model.ChangeKind]int{}
	}
	r.shown[scope][c.Kind]++
	if n := r.shown[scope][c.Kind]; r.perKind > 0 && n > r.perKind {
		return
	}
	mark := map[model.ChangeKind]string{model.ChangeInsert: "+", model.ChangeUpdate: "~", model.ChangeRestore: "^", model.ChangeDelete: "-"}[c.Kind]
	line := fmt.Sprintf("%s %s %d %s", mark, scope, c.ID, c.Label)
	if len(c.Columns) > 0 {
		line += ": " + strings.Join(c.Columns, ", ")
	}
	fmt.Fprintln(r.w, line)
}

func (r *changeReport) summary(res syncer.ScopeResult) {
	for _, kind := range []model.ChangeKind{model.ChangeInsert, model.ChangeUpdate, model.ChangeRestore, model.ChangeDelete} {
		if n := r.shown[res.Scope][kind]; r.perKind > 0 && n > r.perKind {
			fmt.Fprintf(r.w, "… and %d more %s %ss (--max-changes 0 prints them all)\n", n-r.perKind, res.Scope, kind)
		}
	}
	refused := errors.Is(res.Err, model.ErrMassDelete)
	if res.Err != nil && !refused {
		fmt.Fprintf(r.w, "%s: dry run FAILED: %v\n", res.Scope, res.Err)
		return
	}
	c := res.Counts
	fmt.Fprintf(r.w, "%s: dry run, nothing written: would insert %d, update %d, delete %d; %d unchanged of %d fetched%s\n",
		res.Scope, c.Inserted, c.Updated, c.Deleted, c.Unchanged, c.Fetched, modeNote(res))
	if refused {
		fmt.Fprintf(r.w, "%s: a real run would be REFUSED: %v\n", res.Scope, res.Err)
	}
}
