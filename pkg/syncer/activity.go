package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/usersync/usersync/pkg/model"
)

// The activity log's stored action types an incremental run acts on.
const (
	actionCheckout = "checkout"
	actionCheckin  = "checkin from"
	actionDelete   = "delete"
	actionRestore  = "restore"
	actionCreate   = "create"
)

// The activity report shows action types translated into the site's
// language (mb_strtolower(trans('general.'.type))). English is the source
// of every translation and Laravel's fallback for a missing one, so the
// English texts are known; a text in another language is learnt by asking
// the log for one entry of the stored type (model.Traits.Actions).
var actionTypes = []string{actionCheckout, actionCheckin, actionDelete, actionRestore, actionCreate}

var englishActions = map[string]string{actionCheckout: "checkout", actionCheckin: "checkin from", actionDelete: "delete",
	actionRestore: "restore", actionCreate: "create new"}

// logEffects is what the activity log says happened after a scope's
// position, for an incremental run.
type logEffects struct {
	// deltas are item checkouts (+) and checkins (−) per user.
	deltas map[int64]model.ItemCounts
	// deleted says, per item type ("user", "asset") and id, whether the
	// last delete or restore entry deleted it.
	deleted map[string]map[int64]bool
	// unknown describes the first entry whose effect on users' counts the
	// run cannot work out; "" when there is none.
	unknown string
	// created are the users the log created; restored holds the id of each
	// user's last restore entry, lastItem of its last item entry.
	created            map[int64]bool
	restored, lastItem map[int64]int64
	// last is the newest entry read.
	last int64
}

func newEffects(pos int64) *logEffects {
	return &logEffects{deltas: map[int64]model.ItemCounts{}, deleted: map[string]map[int64]bool{},
		created: map[int64]bool{}, restored: map[int64]int64{}, lastItem: map[int64]int64{}, last: pos}
}

// add applies the entries after eff.last.
func (r *runState) add(ctx context.Context, log *slog.Logger, eff *logEffects, entries []model.ActivityEntry) error {
	from := eff.last
	for _, e := range entries {
		if e.ID <= from {
			continue
		}
		eff.last = max(eff.last, e.ID)
		if err := r.apply(ctx, log, eff, e); err != nil {
			return err
		}
	}
	return nil
}

// deletedIDs are the ids of typ the log deleted, not restored since.
func (e *logEffects) deletedIDs(typ string) []int64 {
	var ids []int64
	for id, del := range e.deleted[typ] {
		if del {
			ids = append(ids, id)
		}
	}
	return ids
}

// effects reads the activity log (once per run, from the lowest position
// of the run's scopes) and returns what it says happened after pos. It
// returns nil effects when the log cannot be used — the token may not read
// it, or pos is nil (no run recorded where it stood) — and a *fallback
// when the log went back behind pos.
func (r *runState) effects(ctx context.Context, log *slog.Logger, pos *int64) (*logEffects, error) {
	if pos == nil {
		return nil, nil
	}
	read, err := r.readLog(ctx)
	if errors.Is(err, model.ErrForbidden) {
		log.Warn("the token may not read Snipe-IT's activity log (activity.view)", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if read.seen.Newest < *pos {
		return nil, &fallback{reason: model.FallbackWatermarkUnusable, detail: fmt.Sprintf(
			"the activity log's newest entry is %d but the mirror accounts for entries up to %d: was Snipe-IT's database restored from a backup?",
			read.seen.Newest, *pos)}
	}
	eff := newEffects(*pos)
	if err := r.add(ctx, log, eff, read.entries); err != nil {
		return nil, err
	}
	return eff, nil
}

// readLog reads the activity log after the run's lowest position, once.
func (r *runState) readLog(ctx context.Context) (*activityRead, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forbidden {
		return nil, model.ErrForbidden
	}
	if r.log != nil {
		return r.log, nil
	}
	read := &activityRead{}
	if r.logFrom != nil {
		read.from = *r.logFrom
	}
	entries, err := r.s.cfg.Changes.ActivitySince(ctx, read.from, &read.seen)
	if errors.Is(err, model.ErrForbidden) {
		r.forbidden = true
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	read.entries = entries
	r.log = read
	return read, nil
}

// apply adds one entry's effect to eff.
func (r *runState) apply(ctx context.Context, log *slog.Logger, eff *logEffects, e model.ActivityEntry) error {
	switch {
	case countsItems(e.ItemType):
		user := e.TargetType == "user" && e.TargetID != nil
		wanted := []string{actionDelete, actionRestore}
		if user {
			wanted = []string{actionCheckout, actionCheckin}
		}
		action, err := r.stored(ctx, log, e.Action, wanted)
		if err != nil {
			return err
		}
		if user {
			eff.lastItem[*e.TargetID] = e.ID
		}
		switch {
		case user && action == actionCheckout:
			eff.deltas[*e.TargetID] = addItem(eff.deltas[*e.TargetID], e.ItemType, 1)
		case user && action == actionCheckin:
			eff.deltas[*e.TargetID] = addItem(eff.deltas[*e.TargetID], e.ItemType, -1)
		case action == "?" || !user && (action == actionDelete || action == actionRestore):
			if eff.unknown == "" {
				eff.unknown = fmt.Sprintf("activity entry %d (%s %s %v): its effect on users' counts cannot be worked out", e.ID, e.Action, e.ItemType, idOf(e.ItemID))
			}
		}
	case e.ItemType == "user" || e.ItemType == "asset":
		if e.ItemID == nil {
			return nil
		}
		action, err := r.stored(ctx, log, e.Action, nil)
		if err != nil {
			return err
		}
		id := *e.ItemID
		switch {
		case action == actionDelete || action == actionRestore:
			if eff.deleted[e.ItemType] == nil {
				eff.deleted[e.ItemType] = map[int64]bool{}
			}
			eff.deleted[e.ItemType][id] = action == actionDelete
			if e.ItemType == "user" && action == actionRestore {
				eff.restored[id] = e.ID
			}
		case action == actionCreate && e.ItemType == "user":
			eff.created[id] = true
		}
	}
	return nil
}

func idOf(p *int64) any {
	if p == nil {
		return "-"
	}
	return *p
}

func addItem(c model.ItemCounts, itemType string, n int32) model.ItemCounts {
	switch itemType {
	case "license":
		c.Licenses += n
	case "accessory":
		c.Accessories += n
	default:
		c.Consumables += n
	}
	return c
}

// stored returns the stored action type among actionTypes that text shows,
// "" for another action, or "?" when text shows several. A text the run
// does not know is learnt first, by asking the log how it shows each of
// wanted whose translation is not known yet (once per run and type); a
// deletion missed so is caught by the count check, so nil wanted asks
// nothing.
func (r *runState) stored(ctx context.Context, log *slog.Logger, text string, wanted []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if found := r.lookup(text); found != "" || wanted == nil {
		return found, nil
	}
	for _, typ := range wanted {
		if _, ok := r.actions[typ]; ok || r.probed[typ] {
			continue
		}
		r.probed[typ] = true
		shown, ok, err := r.s.cfg.Changes.ActionName(ctx, typ)
		if err != nil {
			return "", err
		}
		if ok {
			log.Info("learnt how the activity log shows an action type", "stored", typ, "shown", shown)
			r.actions[typ] = shown
		}
	}
	return r.lookup(text), nil
}

// lookup finds text among the known texts (English, and learnt); r.mu is
// held.
func (r *runState) lookup(text string) string {
	found := ""
	for _, typ := range actionTypes {
		shown, learnt := r.actions[typ]
		if text != englishActions[typ] && (!learnt || text != shown) {
			continue
		}
		if found != "" && found != typ {
			return "?"
		}
		found = typ
	}
	return found
}
