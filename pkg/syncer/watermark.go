package syncer

import (
	"iter"
	"time"
)

// watermark follows the rows a listing yields, for the scope's next
// watermark: the newest updated_at among them, and the server's clock when
// the listing started. A row changed while a listing is read may have been
// read before it changed, so the next watermark is never later than that
// clock; and a row whose updated_at lies in the future (a server whose
// clock ran ahead, a value written by hand) never carries the watermark
// past it, so the rows changed in between are not lost.
type watermark struct {
	newest time.Time
	start  time.Time
}

// track records the updated_at of each row seq yields in w; clock, when
// set, is read for w.start when the first row arrives.
func track[T any](w *watermark, seq iter.Seq2[*T, error], updated func(*T) *time.Time, clock func() time.Time) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		first := true
		for row, err := range seq {
			if row != nil {
				if first && clock != nil {
					w.start, first = clock(), false
				}
				if t := updated(row); t != nil && t.After(w.newest) {
					w.newest = *t
				}
			}
			if !yield(row, err) {
				return
			}
		}
	}
}

// next is the scope's next watermark: the newest updated_at seen, capped
// by the server's clock when the listing started (usersync's own, now,
// when the server sent none), and never earlier than prev unless keep is
// false (a first run, or a watermark found unusable). With nothing seen it
// stays prev — or, without one to keep, becomes the cap.
func (w *watermark) next(prev time.Time, keep bool, now time.Time) time.Time {
	limit := w.start
	if limit.IsZero() {
		limit = now
	}
	limit = limit.UTC().Truncate(time.Second)
	t := w.newest.UTC()
	switch {
	case t.IsZero() && keep:
		return prev
	case t.IsZero() || t.After(limit):
		t = limit
	}
	if keep && prev.After(t) {
		return prev
	}
	return t
}
