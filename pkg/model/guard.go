package model

import "fmt"

// DefaultMaxDeleteFraction is the share of live rows one run may
// soft-delete before the mass-delete guard refuses it.
const DefaultMaxDeleteFraction = 0.10

// DefaultMaxDeleteRows is how many rows one run may soft-delete whatever
// the fraction: without a floor a mirror of 9 users could not lose one.
const DefaultMaxDeleteRows = 10

// DeleteGuard is the mass-delete guard: a run that would soft-delete a
// large part of the mirror far more often means a broken token, filter or
// listing upstream than that people really left, so it is refused with
// nothing written unless an operator says otherwise. The zero value is
// the guard at its default share with no floor.
type DeleteGuard struct {
	// AllowMassDelete lifts the guard (--allow-mass-delete).
	AllowMassDelete bool
	// MaxDeleteFraction is the share of live rows a run may soft-delete;
	// 0 means DefaultMaxDeleteFraction.
	MaxDeleteFraction float64
	// MaxDeleteRows is the floor: a run may always soft-delete this many
	// rows, whatever the share says (0: no floor).
	MaxDeleteRows int64
}

// Check decides whether a run of scope may soft-delete deleting of the
// mirror's live rows when the source holds upstream live rows (for a full
// run, the rows it fetched). It refuses, with an error wrapping
// ErrMassDelete that says why and how to override, a run that would
// delete more than the larger of the allowed share of live rows and the
// floor, or any rows at all when upstream is empty while the mirror is
// not: an empty answer is far likelier a broken token or filter than an
// empty Snipe-IT.
func (g DeleteGuard) Check(scope Scope, live, deleting, upstream int64) error {
	if g.AllowMassDelete || deleting == 0 {
		return nil
	}
	if upstream == 0 {
		return fmt.Errorf("%w: Snipe-IT returned no %s but the mirror holds %d live ones (use --allow-mass-delete if that is intended)",
			ErrMassDelete, scope, live)
	}
	fraction := g.MaxDeleteFraction
	if fraction <= 0 {
		fraction = DefaultMaxDeleteFraction
	}
	allowed := max(fraction*float64(live), float64(g.MaxDeleteRows))
	if float64(deleting) > allowed {
		return fmt.Errorf("%w: %d of %d live %s (%.1f%%) vanished upstream, more than the guard allows: %d, the larger of %.0f%% of live rows and %d rows (use --allow-mass-delete if that is intended)",
			ErrMassDelete, deleting, live, scope, 100*float64(deleting)/float64(max(live, 1)), int64(allowed), 100*fraction, g.MaxDeleteRows)
	}
	return nil
}
