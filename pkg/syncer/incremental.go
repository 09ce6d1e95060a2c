package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// An incremental run reads, per scope, what changed since the scope's
// watermark minus the look-back, and applies it with the steps of a full
// run. The order of its reads is what keeps it exact:
//
//  1. Users: GET /users?all=true by updated_at, live and soft-deleted
//     users in one listing (a soft delete and a restore move updated_at);
//     the live ones are staged while they arrive, the deleted ones noted.
//  2. The activity log after the lower of the scopes' positions, once:
//     license, accessory and consumable checkouts and checkins per user
//     (they move no user's updated_at), the assets (and users) it deleted,
//     the users it created and restored. Read after the users listing, so
//     that an item entry about a user new to the mirror is known to have
//     happened before or after its row was read (see itemCounts).
//  3. Assets: the default and archived listings by updated_at, staged;
//     the log's deletions. Read after the log, so that an asset deleted
//     later is either still in the listing or in the next run's log.
//     Then the count check: the mirror's live assets after the changes
//     must equal Snipe-IT's totals; if not, the listing of deleted assets
//     is read, and if they still differ the scope is read in full.
//  4. Each scope: the listings of the records its rows show by name, and
//     Derive; the users' assets_count once more after the assets scope is
//     done, since it is derived from the assets mirror.
//  5. The guard, the report (a dry run stops there), Apply, the state,
//     Commit.
//
// A listing that cannot be trusted (not in updated_at order: users before
// Snipe-IT 7.1.14; ties larger than a page; shifting), a log that went
// back, users purged since the last run, or an entry whose effect cannot
// be worked out end the incremental read: the scope is read in full.

// fallback is why an incremental read gave up: the scope is read in full.
type fallback struct {
	reason string // one of model.FallbackReasons
	detail string
}

func (f *fallback) Error() string { return f.reason + ": " + f.detail }

// notIncremental turns a listing's ErrNotIncremental into a fallback.
func notIncremental(err error) error {
	var r interface{ FallbackReason() string }
	if errors.Is(err, model.ErrNotIncremental) && errors.As(err, &r) {
		return &fallback{reason: r.FallbackReason(), detail: err.Error()}
	}
	return err
}

// incremental writes one scope from what changed since prev.
func incremental[T any](ctx context.Context, s *Syncer, log *slog.Logger, run *runState, prev model.SyncState,
	begin func(context.Context, bool) (model.MirrorTx[T], error), up upstream[T],
	onChange func(model.Change), steps map[string]time.Duration,
) (outcome, error) {
	w := &changeWrite[T]{s: s, log: log, run: run, prev: prev, up: up, since: prev.Watermark.Add(-s.cfg.LookBack),
		staged: map[int64]bool{}, start: time.Now(), steps: steps}
	if up.scope == model.ScopeUsers {
		defer run.listed()
	} else if err := wait(ctx, run.usersListed); err != nil {
		return outcome{}, err
	}
	tx, err := begin(ctx, s.cfg.DryRun)
	if err != nil {
		return outcome{}, err
	}
	defer tx.Rollback(ctx)
	w.tx = tx
	if up.scope == model.ScopeUsers {
		err = w.users(ctx)
	} else {
		err = w.assets(ctx)
	}
	if err != nil {
		return outcome{}, err
	}
	return w.finish(ctx, onChange)
}

// changeWrite is one scope's incremental write under way.
type changeWrite[T any] struct {
	s     *Syncer
	log   *slog.Logger
	run   *runState
	prev  model.SyncState
	up    upstream[T]
	since time.Time
	tx    model.MirrorTx[T]

	seen     model.ChangeListing
	mark     watermark
	staged   map[int64]bool // ids staged from the listings
	fetched  int64          // rows read from the listings
	deleted  []int64
	eff      *logEffects
	pos      *int64 // the activity position the write accounts for
	live     int64  // live rows before
	deletes  int64  // live rows among deleted
	upstream int64  // Snipe-IT's live rows, for the guard
	traits   model.Traits
	// rowCounts are the users new to the mirror whose row's item counts
	// are right as read (see itemCounts).
	rowCounts []int64
	start     time.Time
	steps     map[string]time.Duration
	upstRows  int64     // users: live and deleted rows upstream
	upstAt    time.Time // when upstRows was read
	// createdAt holds each listed row's created_at.
	createdAt map[int64]time.Time
}

// stage stages the live rows of seq and returns, ascending, the ids of the
// rows whose last version came deleted (a row changed while it is read
// comes again, newer: the last version wins).
func (w *changeWrite[T]) stage(ctx context.Context, seq func(context.Context) iter.Seq2[*T, error]) ([]int64, error) {
	deletedLast := map[int64]bool{}
	_, err := w.tx.Stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] {
		return func(yield func(*T, error) bool) {
			for row, err := range track(&w.mark, seq(ctx), w.up.updated, nil) {
				if err != nil {
					yield(nil, err)
					return
				}
				w.fetched++
				id := w.up.id(row)
				if t := w.up.created(row); t != nil {
					if w.createdAt == nil {
						w.createdAt = map[int64]time.Time{}
					}
					w.createdAt[id] = *t
				}
				if w.up.deleted(row) {
					deletedLast[id] = true
					continue
				}
				deletedLast[id] = false
				w.staged[id] = true
				if !yield(row, nil) {
					return
				}
			}
		}
	})
	if err != nil {
		return nil, notIncremental(err)
	}
	var ids []int64
	for id, del := range deletedLast {
		if del {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// checkClock falls back when Snipe-IT's clock is behind the look-back
// window: its clock was set back, and rows changed since carry times the
// window does not reach.
func (w *changeWrite[T]) checkClock() error {
	w.mark.start = w.seen.ServerTime
	if t := w.seen.ServerTime; !t.IsZero() && t.Before(w.since) {
		return &fallback{reason: model.FallbackWatermarkUnusable, detail: fmt.Sprintf(
			"Snipe-IT's clock reads %s, before the watermark %s minus the look-back: was its clock set back?",
			t.UTC().Format(time.RFC3339), w.prev.Watermark.UTC().Format(time.RFC3339))}
	}
	return nil
}

// users reads the users that changed, the log, and works out the deleted
// users and the item counts of users new to the mirror.
func (w *changeWrite[T]) users(ctx context.Context) error {
	deleted, err := w.stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] { return w.up.changed(ctx, w.since, &w.seen) })
	if err != nil {
		return err
	}
	w.run.listed()
	if err := w.checkClock(); err != nil {
		return err
	}
	if !slices.Contains(w.run.scopes, model.ScopeAssets) {
		w.run.prefetch()
	}
	w.deleted, w.upstRows, w.upstAt = deleted, w.seen.Total, w.seen.ServerTime
	if w.eff, err = w.run.effects(ctx, w.log, w.prev.ActivityID); err != nil {
		return err
	}
	if w.eff == nil {
		return &fallback{reason: model.FallbackNoActivityLog,
			detail: "a user's license, accessory and consumable counts change without its updated_at, and only the activity log shows it"}
	}
	if w.eff.unknown != "" {
		return &fallback{reason: model.FallbackActivity, detail: w.eff.unknown}
	}
	w.pos = &w.eff.last

	// Purges: Snipe-IT's count of users, live and deleted, grows by the
	// users created since it was last read and shrinks by the users
	// purged — whose rows vanish from every listing, with their log.
	if prev := w.prev; prev.UpstreamRows > 0 && !prev.UpstreamAt.IsZero() {
		var created int64
		for _, t := range w.createdAt {
			if !t.Before(prev.UpstreamAt) {
				created++
			}
		}
		if purged := created - (w.seen.Total - prev.UpstreamRows); purged != 0 {
			return &fallback{reason: model.FallbackCountMismatch, detail: fmt.Sprintf(
				"Snipe-IT holds %d users, live and deleted; the %d of %s and the %d created since account for %d: users were purged (their rows vanish from every listing)",
				w.seen.Total, prev.UpstreamRows, prev.UpstreamAt.Format(time.RFC3339), created, prev.UpstreamRows+created)}
		}
	}
	// Users new to the mirror, or back from a delete.
	var fresh []int64
	if err := w.tx.Changes(ctx, nil, func(ch model.Change) {
		if ch.Kind == model.ChangeInsert || ch.Kind == model.ChangeRestore {
			fresh = append(fresh, ch.ID)
		}
	}); err != nil {
		return err
	}
	if err := w.itemCounts(ctx, fresh); err != nil {
		return err
	}
	return w.count(ctx)
}

// itemCounts decides the license, accessory and consumable counts of the
// users new to the mirror (or back from a delete), whose stored counts
// the log's deltas cannot start from. A user the log created since the
// last run held nothing before: its deltas are its counts. Any other's row
// counts are right as read, unless the log shows an item entry about it
// since (since its restore): the entry may have come before or after the
// row was read. Those users are read again, and the log after them,
// until a read of the log brings no entry about them.
func (w *changeWrite[T]) itemCounts(ctx context.Context, fresh []int64) error {
	var rowCounts, unsure []int64
	for _, id := range fresh {
		switch {
		case w.eff.created[id]:
		case w.eff.lastItem[id] > w.eff.restored[id]:
			unsure = append(unsure, id)
		default:
			rowCounts = append(rowCounts, id)
		}
	}
	for round := 0; len(unsure) > 0; round++ {
		if round == alignMaxRounds {
			return &fallback{reason: model.FallbackActivity, detail: fmt.Sprintf("items kept being checked out to users %v while they were read", unsure)}
		}
		var rows []T
		for _, id := range unsure {
			row, err := w.up.get(ctx, id)
			switch {
			case errors.Is(err, model.ErrNotFound):
				continue
			case err != nil:
				return fmt.Errorf("read user %d again: %w", id, err)
			case !w.up.deleted(row):
				rows = append(rows, *row)
				rowCounts = append(rowCounts, id)
			}
		}
		w.fetched += int64(len(rows))
		if _, err := w.tx.Stage(ctx, func(context.Context) iter.Seq2[*T, error] { return each(rows) }); err != nil {
			return err
		}
		entries, err := w.s.cfg.Changes.ActivitySince(ctx, w.eff.last)
		if err != nil {
			return err
		}
		mark := w.eff.last
		if err := w.run.add(ctx, w.log, w.eff, entries); err != nil {
			return err
		}
		if w.eff.unknown != "" {
			return &fallback{reason: model.FallbackActivity, detail: w.eff.unknown}
		}
		unsure = slices.DeleteFunc(unsure, func(id int64) bool { return w.eff.lastItem[id] <= mark })
	}
	w.rowCounts = rowCounts
	return nil
}

// assets reads the log's deletions and the assets that changed.
func (w *changeWrite[T]) assets(ctx context.Context) error {
	var err error
	if w.eff, err = w.run.effects(ctx, w.log, w.prev.ActivityID); err != nil {
		return err
	}
	w.pos = w.prev.ActivityID
	if w.eff != nil {
		w.pos = &w.eff.last
	}
	if _, err := w.stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] { return w.up.changed(ctx, w.since, &w.seen) }); err != nil {
		return err
	}
	if err := w.checkClock(); err != nil {
		return err
	}
	w.run.prefetch()
	if w.eff != nil {
		for _, id := range w.eff.deletedIDs(w.up.itemType) {
			if !w.staged[id] {
				w.deleted = append(w.deleted, id)
			}
		}
	} else if err := w.readDeleted(ctx); err != nil {
		return err
	}
	return w.count(ctx)
}

// readDeleted reads the listing of rows deleted since, for deletions the
// log did not show.
func (w *changeWrite[T]) readDeleted(ctx context.Context) error {
	ids, err := w.stage(ctx, func(ctx context.Context) iter.Seq2[*T, error] { return w.up.deletedSince(ctx, w.since) })
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !w.staged[id] && !slices.Contains(w.deleted, id) {
			w.deleted = append(w.deleted, id)
		}
	}
	return nil
}

// count checks the mirror's live rows after the changes against
// Snipe-IT's (assets), and notes the live rows before and upstream for
// the guard.
func (w *changeWrite[T]) count(ctx context.Context) error {
	var err error
	if w.live, err = w.tx.LiveRows(ctx); err != nil {
		return err
	}
	after, err := w.liveAfter(ctx)
	if err != nil {
		return err
	}
	w.traits = w.prev.Traits
	if w.up.scope == model.ScopeUsers {
		// Snipe-IT's total counts deleted users too: the purge check
		// stands in for a count check.
		w.upstream = after
		return nil
	}
	totals := upstreamTotals(w.traits, w.seen)
	if !matches(after, totals) && w.eff != nil {
		w.log.Info("the mirror's rows do not add up to Snipe-IT's total; reading the deleted rows", "mirror", after, "snipe_it", totals)
		if err := w.readDeleted(ctx); err != nil {
			return err
		}
		if after, err = w.liveAfter(ctx); err != nil {
			return err
		}
	}
	upstream, ok := match(after, totals)
	if !ok {
		return &fallback{reason: model.FallbackCountMismatch, detail: fmt.Sprintf(
			"after the changes the mirror would hold %d live %s, Snipe-IT holds %v: a row deleted and purged since the last run, or changed without its updated_at",
			after, w.up.scope, totals)}
	}
	w.upstream = upstream
	if len(totals) == 2 {
		inDefault := upstream == w.seen.Total
		w.traits.ArchivedInDefault = &inDefault
	}
	return nil
}

// finish derives the columns other records change, checks the guard,
// reports, applies and leaves the state.
func (w *changeWrite[T]) finish(ctx context.Context, onChange func(model.Change)) (outcome, error) {
	out := outcome{mode: model.ModeIncremental}
	w.steps["stage"] = time.Since(w.start)
	w.steps["fetch"] = w.steps["stage"]
	start := time.Now()
	facts, err := w.up.facts(ctx, w.run)
	if err != nil {
		return out, err
	}
	users := w.up.scope == model.ScopeUsers
	if users {
		facts.ItemDeltas, facts.RowCounts = w.eff.deltas, w.rowCounts
	}
	if w.traits, err = w.run.learn(ctx, w.log, w.tx, w.traits, false); err != nil {
		return out, err
	}
	facts.Traits = w.traits
	_, undecided, err := w.tx.Derive(ctx, facts, w.deleted)
	if err != nil {
		return out, err
	}
	if users && slices.Contains(w.run.scopes, model.ScopeAssets) {
		// assets_count comes from the assets mirror, current once the
		// assets scope is done: derived again for it alone, while
		// everything else was derived meanwhile.
		if err := wait(ctx, w.run.assetsDone); err != nil {
			return out, err
		}
		if facts.AssetsCounts = w.run.assetsFresh(); facts.AssetsCounts {
			if w.traits, err = w.run.learn(ctx, w.log, w.tx, w.traits, true); err != nil {
				return out, err
			}
			only := facts
			only.Traits, only.Only = w.traits, []string{"assets_count"}
			_, more, err := w.tx.Derive(ctx, only, w.deleted)
			if err != nil {
				return out, err
			}
			undecided = append(undecided, more...)
			facts.Traits = w.traits
		}
	}
	if len(undecided) > 0 {
		// A rule the derivation needs is still unknown (how managers are
		// named, whether soft-deleted assets count): one of the rows it
		// decides, read again, shows it.
		row, err := w.up.get(ctx, undecided[0])
		switch {
		case errors.Is(err, model.ErrNotFound):
		case err != nil:
			return out, fmt.Errorf("read %s %d again to learn a rule: %w", w.up.scope, undecided[0], err)
		case !w.up.deleted(row):
			w.fetched++
			if _, err := w.tx.Stage(ctx, func(context.Context) iter.Seq2[*T, error] { return each([]T{*row}) }); err != nil {
				return out, err
			}
			if w.traits, err = w.run.learn(ctx, w.log, w.tx, w.traits, facts.AssetsCounts); err != nil {
				return out, err
			}
			facts.Traits = w.traits
			if _, undecided, err = w.tx.Derive(ctx, facts, w.deleted); err != nil {
				return out, err
			}
		}
		if len(undecided) > 0 {
			w.log.Warn("left derived columns as they were: a rule they need is still unknown", "rows", len(undecided))
		}
	}

	// The report lists every change (a dry run, --dry-run's callback); a
	// real run needs only the deletes, counted before the derivation.
	would := model.RunCounts{Deleted: w.deletes}
	if w.s.cfg.DryRun || onChange != nil {
		would = model.RunCounts{}
		if err := w.tx.Changes(ctx, w.deleted, func(c model.Change) {
			tally(&would, c)
			if onChange != nil {
				onChange(c)
			}
		}); err != nil {
			return out, err
		}
	}
	refused := w.s.guard.Check(w.up.scope, w.live, would.Deleted, w.upstream)
	if w.s.cfg.DryRun {
		out.counts = model.RunCounts{Fetched: w.fetched, Inserted: would.Inserted, Updated: would.Updated, Deleted: would.Deleted,
			Unchanged: max(w.fetched-would.Inserted-would.Updated, 0)}
		w.steps["merge"] = time.Since(start)
		return out, refused
	}
	if refused != nil {
		return out, refused
	}
	applied, err := w.tx.Apply(ctx, w.deleted)
	if err != nil {
		return out, err
	}
	st := model.SyncState{Scope: w.up.scope, Watermark: w.mark.next(w.prev.Watermark, true, w.s.cfg.Now()), ActivityID: w.pos,
		UpstreamRows: w.upstRows, UpstreamAt: w.upstAt, Traits: w.traits}
	if err := w.tx.SetState(ctx, st); err != nil {
		return out, err
	}
	if err := w.tx.Commit(ctx); err != nil {
		return out, err
	}
	w.steps["merge"] = time.Since(start)
	out.watermark = &st.Watermark
	applied.Fetched = w.fetched
	applied.Unchanged = max(w.fetched-applied.Inserted-applied.Updated-applied.Deleted, 0)
	out.counts = applied
	return out, nil
}

// liveAfter is how many live rows the mirror would hold after
// Apply(deleted): the live rows, plus the inserts and restores, minus the
// deletes; it notes the deletes in w.deletes for the guard (the rows
// derived later are only updates).
func (w *changeWrite[T]) liveAfter(ctx context.Context) (int64, error) {
	n, deletes := w.live, int64(0)
	err := w.tx.Changes(ctx, w.deleted, func(c model.Change) {
		switch c.Kind {
		case model.ChangeInsert, model.ChangeRestore:
			n++
		case model.ChangeDelete:
			n--
			deletes++
		}
	})
	w.deletes = deletes
	return n, err
}

// upstreamTotals are the live asset counts Snipe-IT's listings can mean:
// the default listing's total plus the archived one's, or the default
// alone where it shows archived assets too (show_archived_in_list) — the
// one the run learnt first; a site that changes the setting is followed.
func upstreamTotals(t model.Traits, seen model.ChangeListing) []int64 {
	switch {
	case seen.ArchivedInDefault, seen.ArchivedTotal == 0:
		return []int64{seen.Total}
	case t.ArchivedInDefault != nil && *t.ArchivedInDefault:
		return []int64{seen.Total, seen.Total + seen.ArchivedTotal}
	}
	return []int64{seen.Total + seen.ArchivedTotal, seen.Total}
}

func matches(n int64, totals []int64) bool { _, ok := match(n, totals); return ok }

func match(n int64, totals []int64) (int64, bool) {
	for _, t := range totals {
		if n == t {
			return t, true
		}
	}
	return 0, false
}
