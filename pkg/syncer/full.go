package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// upstream is what the syncer reads of one scope from the source.
type upstream[T any] struct {
	scope model.Scope
	list  func(context.Context) iter.Seq2[*T, error]
	// get looks one row up, soft-deleted ones too; model.ErrNotFound when
	// the source has no such row.
	get     func(context.Context, int64) (*T, error)
	deleted func(*T) bool
	id      func(*T) int64
	updated func(*T) *time.Time
	created func(*T) *time.Time

	// What an incremental run reads (nil without Config.Changes).
	changed      func(context.Context, time.Time, ...*model.ChangeListing) iter.Seq2[*T, error]
	deletedSince func(context.Context, time.Time, ...*model.ChangeListing) iter.Seq2[*T, error]
	// itemType is the activity log's name for the scope's records.
	itemType string
	// facts reads the listings the scope's derived columns come from.
	facts func(context.Context, *runState) (model.Facts, error)
}

func (s *Syncer) usersUpstream() upstream[model.User] {
	up := upstream[model.User]{scope: model.ScopeUsers, list: s.cfg.Source.Users, get: s.cfg.Source.User,
		deleted: func(u *model.User) bool { return u.DeletedAt != nil }, id: func(u *model.User) int64 { return u.ID },
		updated: func(u *model.User) *time.Time { return u.UpdatedAt }, created: func(u *model.User) *time.Time { return u.CreatedAt },
		itemType: "user"}
	if c := s.cfg.Changes; c != nil {
		up.changed, up.deletedSince = c.AllUsersChangedSince, c.DeletedUsersSince
		up.facts = func(ctx context.Context, run *runState) (f model.Facts, err error) {
			if f.Departments, err = listed(ctx, run, "departments", c.Departments); err != nil {
				return f, err
			}
			return f, sharedNames(ctx, run, c, &f)
		}
	}
	return up
}

func (s *Syncer) assetsUpstream() upstream[model.Asset] {
	up := upstream[model.Asset]{scope: model.ScopeAssets, list: s.cfg.Source.Assets, get: s.cfg.Source.Asset,
		deleted: func(a *model.Asset) bool { return a.DeletedAt != nil }, id: func(a *model.Asset) int64 { return a.ID },
		updated: func(a *model.Asset) *time.Time { return a.UpdatedAt }, created: func(a *model.Asset) *time.Time { return a.CreatedAt },
		itemType: "asset"}
	if c := s.cfg.Changes; c != nil {
		up.changed, up.deletedSince = c.AssetsChangedSince, c.DeletedAssetsSince
		up.facts = func(ctx context.Context, run *runState) (f model.Facts, err error) {
			if f.Models, err = listed(ctx, run, "models", c.Models); err != nil {
				return f, err
			}
			if f.StatusLabels, err = listed(ctx, run, "statuslabels", c.StatusLabels); err != nil {
				return f, err
			}
			if f.Suppliers, err = listed(ctx, run, "suppliers", c.Suppliers); err != nil {
				return f, err
			}
			return f, sharedNames(ctx, run, c, &f)
		}
	}
	return up
}

// sharedNames reads the listings users and assets both show names from.
func sharedNames(ctx context.Context, run *runState, c Changes, f *model.Facts) (err error) {
	if f.Locations, err = listed(ctx, run, "locations", c.Locations); err != nil {
		return err
	}
	f.Companies, err = listed(ctx, run, "companies", c.Companies)
	return err
}

// outcome is what one scope's write did and left.
type outcome struct {
	counts    model.RunCounts
	mode      model.RunMode
	reason    string
	watermark *time.Time
}

// syncScope writes one scope: incrementally when the run asks for it and
// the scope's state allows, else (or when the incremental read finds it
// cannot be trusted) in full, recording why.
func syncScope[T any](ctx context.Context, s *Syncer, log *slog.Logger, run *runState, scope model.Scope,
	begin func(context.Context, bool) (model.MirrorTx[T], error), up upstream[T],
	fetched func(), onChange func(model.Change), steps map[string]time.Duration,
) (outcome, error) {
	prev, hasState := run.state(scope)
	if !s.cfg.Incremental {
		return full(ctx, s, log, run, prev, hasState, begin, up, fetched, onChange, steps)
	}
	fb := &fallback{reason: model.FallbackNoWatermark, detail: "no earlier run of this scope left a watermark"}
	if hasState {
		out, err := incremental(ctx, s, log, run, prev, begin, up, onChange, steps)
		if !errors.As(err, &fb) {
			fetched()
			return out, err
		}
		clear(steps)
	}
	log.Warn("reading every row instead of the changes", "reason", fb.reason, "detail", fb.detail)
	keep := hasState && fb.reason != model.FallbackWatermarkUnusable
	out, err := full(ctx, s, log, run, prev, keep, begin, up, fetched, onChange, steps)
	out.reason = fb.reason
	return out, err
}

// full writes one scope from the whole listing, step by step: stage the
// listing; take the live rows that did not come, and when they are few
// keep those the source still has live; check the guard; report the
// changes (a dry run counts them and stops there); apply; leave the
// scope's state; commit. fetched is called when the listing has ended;
// steps receives the durations of "stage" and "merge" (everything after
// the stage, the commit included).
//
// The state it leaves: the watermark is the newest updated_at it read, but
// no later than the server's clock when the listing started (a row
// changed meanwhile may have been read before it changed), and not
// earlier than prev's unless keep is false; the activity position is the
// log's newest entry before the listing, moved on past the entries that
// changed users' item counts while it was read (see alignItemCounts).
func full[T any](ctx context.Context, s *Syncer, log *slog.Logger, run *runState, prev model.SyncState, keep bool,
	begin func(context.Context, bool) (model.MirrorTx[T], error), up upstream[T],
	fetched func(), onChange func(model.Change), steps map[string]time.Duration,
) (outcome, error) {
	out := outcome{mode: model.ModeFull}
	tx, err := begin(ctx, s.cfg.DryRun)
	if err != nil {
		return out, err
	}
	defer tx.Rollback(ctx)
	stateful := s.cfg.Changes != nil && !s.cfg.DryRun
	var pos *int64
	if stateful {
		pos = run.logPosition(ctx, log)
	}

	start := time.Now()
	var mark watermark
	out.counts.Fetched, err = tx.Stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] {
		return timed(track(&mark, up.list(ctx), up.updated, s.serverTime), fetched)
	})
	var total model.ChangeListing
	if err == nil && stateful && up.scope == model.ScopeUsers {
		if pos != nil {
			pos, err = alignItemCounts(ctx, s, log, tx, up, *pos)
		}
		if err == nil {
			// Users live and deleted, for the next incremental run's purge
			// check: without it, that check is skipped.
			if _, terr := s.cfg.Changes.UsersTotal(ctx, &total); terr != nil {
				log.Warn("could not count Snipe-IT's users; the next incremental run cannot tell purges", "err", terr)
				total = model.ChangeListing{}
			}
		}
	}
	steps["stage"] = time.Since(start)
	if err != nil {
		return out, err
	}

	start = time.Now()
	deleted, err := tx.Vanished(ctx)
	if err != nil {
		return out, err
	}
	// A row can slip between Snipe-IT's default and archived asset
	// listings while they are paged; when few rows vanished, each is
	// looked up on its own before it is deleted.
	if n := len(deleted); n > 0 && n <= s.cfg.MaxConfirm {
		if deleted, err = confirmGone(ctx, log, up, deleted); err != nil {
			return out, err
		}
	}
	var refused error
	if len(deleted) > 0 {
		live, err := tx.LiveRows(ctx)
		if err != nil {
			return out, err
		}
		refused = s.guard.Check(up.scope, live, int64(len(deleted)), out.counts.Fetched)
	}
	if refused != nil && !s.cfg.DryRun {
		return out, refused
	}
	if s.cfg.DryRun || onChange != nil {
		var would model.RunCounts
		err := tx.Changes(ctx, deleted, func(c model.Change) {
			tally(&would, c)
			if onChange != nil {
				onChange(c)
			}
		})
		if err != nil {
			return out, err
		}
		if s.cfg.DryRun {
			// A run the guard would refuse still reports what it would do.
			out.counts.Inserted, out.counts.Updated, out.counts.Deleted = would.Inserted, would.Updated, would.Deleted
			out.counts.Unchanged = out.counts.Fetched - out.counts.Inserted - out.counts.Updated
			steps["merge"] = time.Since(start)
			return out, refused
		}
	}
	applied, err := tx.Apply(ctx, deleted)
	if err != nil {
		return out, err
	}
	if stateful {
		traits, err := run.learn(ctx, log, tx, prev.Traits, false)
		if err != nil {
			return out, err
		}
		st := model.SyncState{Scope: up.scope, Watermark: mark.next(prev.Watermark, keep, s.cfg.Now()), ActivityID: pos,
			UpstreamRows: total.Total, UpstreamAt: total.ServerTime, Traits: traits}
		if err := tx.SetState(ctx, st); err != nil {
			return out, err
		}
		out.watermark = &st.Watermark
	}
	if err := tx.Commit(ctx); err != nil {
		return out, err
	}
	steps["merge"] = time.Since(start)
	out.counts = applied
	return out, nil
}

// alignMaxRounds bounds how often a full run reads the activity log again
// to catch up with item checkouts made while it reads.
const alignMaxRounds = 4

// alignItemCounts makes the users' license, accessory and consumable
// counts agree with one position of the activity log, from which the next
// incremental run goes on by the log's deltas. The listing read each
// user's counts at its own moment; an entry logged since pos may or may
// not be in a user's row. So the users such entries name are read again
// (absolute counts, after the entries) and staged over the listing's rows,
// and the log read again after them, until a read brings no such entry.
// It returns the position the counts agree with, or nil when the log kept
// moving (the next incremental run then reads users in full).
func alignItemCounts[T any](ctx context.Context, s *Syncer, log *slog.Logger, tx model.MirrorTx[T], up upstream[T], pos int64) (*int64, error) {
	for range alignMaxRounds {
		entries, err := s.cfg.Changes.ActivitySince(ctx, pos)
		if err != nil {
			log.Warn("could not read the activity log after the listing; the next incremental run reads users in full", "err", err)
			return nil, nil
		}
		if len(entries) == 0 {
			return &pos, nil
		}
		pos = entries[len(entries)-1].ID
		touched := map[int64]bool{}
		for _, e := range entries {
			if countsItems(e.ItemType) && e.TargetType == "user" && e.TargetID != nil {
				touched[*e.TargetID] = true
			}
		}
		if len(touched) == 0 {
			return &pos, nil
		}
		var rows []T
		for id := range touched {
			row, err := up.get(ctx, id)
			switch {
			case errors.Is(err, model.ErrNotFound):
				continue
			case err != nil:
				return nil, fmt.Errorf("read user %d again: %w", id, err)
			case !up.deleted(row):
				rows = append(rows, *row)
			}
		}
		log.Info("read users again whose items changed while the listing was read", "users", len(rows))
		if _, err := tx.Stage(ctx, func(context.Context) iter.Seq2[*T, error] { return each(rows) }); err != nil {
			return nil, err
		}
	}
	log.Warn("items kept being checked out while the users were read; the next incremental run reads users in full")
	return nil, nil
}

// countsItems reports whether a checkout of an item of this activity log
// type counts in a user's licenses_count, accessories_count or
// consumables_count.
func countsItems(itemType string) bool {
	return itemType == "license" || itemType == "accessory" || itemType == "consumable"
}

func each[T any](rows []T) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for i := range rows {
			if !yield(&rows[i], nil) {
				return
			}
		}
	}
}

// timed calls done when seq is exhausted (or fails).
func timed[T any](seq iter.Seq2[*T, error], done func()) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		defer done()
		for row, err := range seq {
			if !yield(row, err) {
				return
			}
		}
	}
}

// tally counts a change as the run's counts do: a restore is an update.
func tally(c *model.RunCounts, ch model.Change) {
	switch ch.Kind {
	case model.ChangeInsert:
		c.Inserted++
	case model.ChangeUpdate, model.ChangeRestore:
		c.Updated++
	case model.ChangeDelete:
		c.Deleted++
	}
}

// confirmGone looks up each of the vanished ids on its own and returns
// those the source does not have live: unknown (purged) or soft-deleted
// there. Rows still live upstream are kept as they are.
func confirmGone[T any](ctx context.Context, log *slog.Logger, src upstream[T], vanished []int64) ([]int64, error) {
	var gone, live []int64
	for _, id := range vanished {
		row, err := src.get(ctx, id)
		switch {
		case errors.Is(err, model.ErrNotFound):
			gone = append(gone, id)
		case err != nil:
			return nil, fmt.Errorf("check whether %d is gone: %w", id, err)
		case src.deleted(row):
			gone = append(gone, id)
		default:
			live = append(live, id)
		}
	}
	if len(live) > 0 {
		log.Warn("rows missing from the listing are still live upstream; kept", "ids", live)
	}
	return gone, nil
}
