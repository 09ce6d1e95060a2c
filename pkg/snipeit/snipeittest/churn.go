package snipeittest

import (
	"fmt"
	"strconv"
)

// churn is FaultChurn's change to the data a request's route lists:
// the live record with the lowest id is soft-deleted, added new records
// come after the highest id, and the live record with the highest id is
// updated. Other routes are left alone.
func (s *Server) churn(rt route, added int) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	now := s.now()
	s.store.generation++
	switch rt.kind {
	case routeUsers:
		t := s.store.users
		// Both picked before either change: a change edits the view.
		if live := t.views[usersLive].rows; len(live) > 0 {
			first, last := live[0].rec.clone(), live[len(live)-1].rec.clone()
			first.DeletedAt, first.UpdatedAt = now, now
			s.store.setUser(first.ID, first)
			if last.ID != first.ID {
				last.JobTitle, last.UpdatedAt = "Churned at "+now.Format("15:04:05.000"), now
				s.store.setUser(last.ID, last)
			}
		}
		next := maxID(t) + 1
		for i := range added {
			id := next + int64(i)
			// No rendering shows a new id: no invalidation needed.
			replace(t, id, &User{ID: id, Username: "churn" + strconv.FormatInt(id, 10), FirstName: "Churn",
				LastName: fmt.Sprint(id), Activated: true, CreatedAt: now, UpdatedAt: now}, s.store.countUser)
		}
	case routeHardware:
		t := s.store.assets
		// Both picked before either change: a change edits the view.
		if live := t.views[assetsLive].rows; len(live) > 0 {
			first, last := live[0].rec.clone(), live[len(live)-1].rec.clone()
			first.DeletedAt, first.UpdatedAt = now, now
			s.store.setAsset(first.ID, first)
			if last.ID != first.ID {
				last.Notes, last.UpdatedAt = "Churned at "+now.Format("15:04:05.000"), now
				s.store.setAsset(last.ID, last)
			}
		}
		next := maxID(t) + 1
		for i := range added {
			id := next + int64(i)
			replace(t, id, &Asset{ID: id, AssetTag: "CHURN-" + strconv.FormatInt(id, 10), Status: ptr(s.store.label(readyLabel())),
				CreatedAt: now, UpdatedAt: now}, s.store.countAsset)
		}
	}
}

// maxID is the highest id in t, soft-deleted records included.
func maxID[R any](t *table[R]) int64 {
	var hi int64
	for id := range t.byID {
		hi = max(hi, id)
	}
	return hi
}
