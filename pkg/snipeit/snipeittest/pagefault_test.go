package snipeittest

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/pkg/model"
)

// TestPagingFaults checks the faults that bend a list page rather than
// replace it: what a pager's safety exits are tested against.
func TestPagingFaults(t *testing.T) {
	t.Parallel()
	data := Generate(GenerateConfig{Users: 60, Seed: 4, DeletedUsers: -1})
	normal := func(t *testing.T) (*Server, []int64) {
		s := mustNew(t, Config{Data: data})
		return s, list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10").rowIDs(t)
	}
	t.Run("a short page keeps Rows rows and the total", func(t *testing.T) {
		s, want := normal(t)
		s.Inject(Fault{Kind: FaultShortPage, Rows: 3})
		got := list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10")
		if diff := cmp.Diff(want[:3], got.rowIDs(t)); diff != "" || got.Total != 60 {
			t.Errorf("total %d, ids (-want +got):\n%s", got.Total, diff)
		}
	})
	t.Run("a short page without Rows keeps half", func(t *testing.T) {
		s, want := normal(t)
		s.Inject(Fault{Kind: FaultShortPage})
		if diff := cmp.Diff(want[:5], list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10").rowIDs(t)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	t.Run("an unsorted page comes in descending id order", func(t *testing.T) {
		s, want := normal(t)
		s.Inject(Fault{Kind: FaultUnsorted})
		slices.Reverse(want)
		if diff := cmp.Diff(want, list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10").rowIDs(t)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	t.Run("a blank page has the total and no rows", func(t *testing.T) {
		s, _ := normal(t)
		s.Inject(Fault{Kind: FaultBlankPage})
		got := list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10")
		if got.Total != 60 || len(got.Rows) != 0 {
			t.Errorf("total %d, %d rows; want 60, none", got.Total, len(got.Rows))
		}
	})
	t.Run("MinOffset spares the pages before it", func(t *testing.T) {
		s, _ := normal(t)
		in := s.Inject(Fault{Kind: FaultBlankPage, MinOffset: 10, Persistent: true})
		if first := list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=0"); len(first.Rows) != 10 {
			t.Errorf("offset 0: %d rows, want 10", len(first.Rows))
		}
		if second := list(t, s, "/api/v1/users?sort=id&order=asc&limit=10&offset=10"); len(second.Rows) != 0 {
			t.Errorf("offset 10: %d rows, want none", len(second.Rows))
		}
		if in.Fired() != 1 {
			t.Errorf("fired %d times, want 1", in.Fired())
		}
	})
	t.Run("churn deletes the first live row, adds after the last and updates the last", func(t *testing.T) {
		s := mustNew(t, Config{Data: data})
		before := s.Users()
		s.Inject(Fault{Kind: FaultChurn, Rows: 2})
		page := list(t, s, "/api/v1/users?sort=id&order=asc&limit=500&offset=0")
		ids := page.rowIDs(t)
		first, last := before[0], before[len(before)-1]
		if slices.Contains(ids, first.ID) {
			t.Errorf("user %d, the first live one, is still listed", first.ID)
		}
		if page.Total != len(before)+1 || ids[len(ids)-2] != last.ID+1 || ids[len(ids)-1] != last.ID+2 {
			t.Errorf("total %d, last ids %v; want %d, then %d and %d added", page.Total, ids[len(ids)-3:], len(before)+1, last.ID+1, last.ID+2)
		}
		after := s.Users()
		if i := slices.IndexFunc(after, func(u model.User) bool { return u.ID == last.ID }); i < 0 || after[i].JobTitle == last.JobTitle {
			t.Errorf("user %d, the last live one, was not updated", last.ID)
		}
	})
}
