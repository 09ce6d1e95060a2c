package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/usersync/usersync/pkg/model"
)

func TestDeleteGuard(t *testing.T) {
	floor := model.DeleteGuard{MaxDeleteRows: 10}
	tests := []struct {
		name                     string
		guard                    model.DeleteGuard
		live, deleting, upstream int64
		refused                  bool
		says                     string // in the refusal
	}{
		{name: "nothing to delete passes, even from nothing upstream", live: 20, deleting: 0, upstream: 0},
		{name: "10% of live rows passes", live: 20, deleting: 2, upstream: 18},
		{name: "more than 10% is refused", live: 20, deleting: 3, upstream: 17, refused: true,
			says: "3 of 20 live users (15.0%) vanished upstream, more than the guard allows: 2, the larger of 10% of live rows and 0 rows"},
		{name: "an empty upstream is refused", live: 20, deleting: 20, upstream: 0, refused: true,
			says: "Snipe-IT returned no users but the mirror holds 20 live ones"},
		{name: "allow-mass-delete lifts the guard", guard: model.DeleteGuard{AllowMassDelete: true}, live: 20, deleting: 18, upstream: 2},
		{name: "allow-mass-delete lifts the empty-upstream refusal", guard: model.DeleteGuard{AllowMassDelete: true}, live: 20, deleting: 20},
		{name: "a custom share applies", guard: model.DeleteGuard{MaxDeleteFraction: 0.3}, live: 20, deleting: 5, upstream: 15},
		{name: "a custom share refuses past it", guard: model.DeleteGuard{MaxDeleteFraction: 0.3}, live: 20, deleting: 7, upstream: 13, refused: true},
		// The floor: a run may always delete MaxDeleteRows rows.
		{name: "one of 9 may go under the floor", guard: floor, live: 9, deleting: 1, upstream: 8},
		{name: "one of 9 is refused with no floor", live: 9, deleting: 1, upstream: 8, refused: true},
		{name: "the floor allows exactly its rows", guard: floor, live: 20, deleting: 10, upstream: 10},
		{name: "one row past the floor is refused", guard: floor, live: 20, deleting: 11, upstream: 9, refused: true,
			says: "the larger of 10% of live rows and 10 rows"},
		{name: "the share wins when larger: 10% of 200", guard: floor, live: 200, deleting: 20, upstream: 180},
		{name: "the share wins when larger: one past it", guard: floor, live: 200, deleting: 21, upstream: 179, refused: true},
		{name: "an empty upstream is refused under the floor", guard: floor, live: 5, deleting: 5, upstream: 0, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.guard.Check(model.ScopeUsers, tt.live, tt.deleting, tt.upstream)
			if got := errors.Is(err, model.ErrMassDelete); got != tt.refused {
				t.Fatalf("Check(live %d, deleting %d, upstream %d) = %v; want refused %v", tt.live, tt.deleting, tt.upstream, err, tt.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "--allow-mass-delete") {
				t.Errorf("the refusal %q does not say how to override it", err)
			}
			if tt.says != "" && !strings.Contains(err.Error(), tt.says) {
				t.Errorf("the refusal %q does not say %q", err, tt.says)
			}
		})
	}
}
