package snipeittest

import (
	"fmt"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// The mutations below change the data while requests are served: each
// takes the store's write lock, so a request sees the data either before or
// after it, as with a database. They set updated_at (and deleted_at) from
// the server's clock the way Eloquent does; an update function that sets
// UpdatedAt itself keeps its value.

// AddUser stores a new user; the id must be free.
func (s *Server) AddUser(u User) error {
	return add(s, "user", s.store.users, s.store.setUser, &u)
}

// UpdateUser applies edit to a copy of the user with id and stores the
// result (soft-deleted users included).
func (s *Server) UpdateUser(id int64, edit func(*User)) error {
	return change(s, "user", s.store.users, s.store.setUser, id, func(u *User) error {
		edit(u)
		return nil
	})
}

// DeleteUser soft-deletes a live user.
func (s *Server) DeleteUser(id int64) error {
	return change(s, "user", s.store.users, s.store.setUser, id, func(u *User) error {
		return softDelete(&u.DeletedAt, s.now())
	})
}

// RestoreUser brings a soft-deleted user back.
func (s *Server) RestoreUser(id int64) error {
	return change(s, "user", s.store.users, s.store.setUser, id, func(u *User) error {
		return restore(&u.DeletedAt)
	})
}

// PurgeUser removes a user for good, as if it had never existed.
func (s *Server) PurgeUser(id int64) error {
	return purge(s, "user", s.store.users, s.store.setUser, id)
}

// AddAsset stores a new asset; the id must be free.
func (s *Server) AddAsset(a Asset) error {
	return add(s, "asset", s.store.assets, s.store.setAsset, &a)
}

// UpdateAsset applies edit to a copy of the asset with id and stores the
// result (soft-deleted assets included).
func (s *Server) UpdateAsset(id int64, edit func(*Asset)) error {
	return change(s, "asset", s.store.assets, s.store.setAsset, id, func(a *Asset) error {
		edit(a)
		return nil
	})
}

// DeleteAsset soft-deletes a live asset.
func (s *Server) DeleteAsset(id int64) error {
	return change(s, "asset", s.store.assets, s.store.setAsset, id, func(a *Asset) error {
		return softDelete(&a.DeletedAt, s.now())
	})
}

// RestoreAsset brings a soft-deleted asset back.
func (s *Server) RestoreAsset(id int64) error {
	return change(s, "asset", s.store.assets, s.store.setAsset, id, func(a *Asset) error {
		return restore(&a.DeletedAt)
	})
}

// PurgeAsset removes an asset for good.
func (s *Server) PurgeAsset(id int64) error {
	return purge(s, "asset", s.store.assets, s.store.setAsset, id)
}

// ArchiveAsset gives an asset the "Archived" status label (id 3 in
// generated data), which hides it from the default /hardware list.
func (s *Server) ArchiveAsset(id int64) error {
	return s.UpdateAsset(id, func(a *Asset) {
		l := archivedLabel()
		a.Status = &l
	})
}

// UnarchiveAsset gives an asset the "Ready to Deploy" status label (id 2
// in generated data).
func (s *Server) UnarchiveAsset(id int64) error {
	return s.UpdateAsset(id, func(a *Asset) {
		l := readyLabel()
		a.Status = &l
	})
}

// Replace swaps the whole data set for ds (nil: no data at all); the
// server keeps ds.
func (s *Server) Replace(ds *Dataset) error {
	if err := s.store.load(ds); err != nil {
		return fmt.Errorf("replace data: %w", err)
	}
	return nil
}

// Clear removes every user and asset: Snipe-IT answers total 0.
func (s *Server) Clear() {
	_ = s.store.load(nil) // an empty data set has no duplicate ids
}

// now is the server's clock at Snipe-IT's (second) precision.
func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

// updatable is a record the generic mutations can handle.
type updatable[R any] interface {
	*R
	clone() *R
	updatedAt() *time.Time
}

func (u *User) updatedAt() *time.Time  { return &u.UpdatedAt }
func (a *Asset) updatedAt() *time.Time { return &a.UpdatedAt }

func add[R any, P updatable[R]](s *Server, kind string, t *table[R], set func(int64, *R), rec *R) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	id := t.idOf(rec)
	if t.get(id) != nil {
		return fmt.Errorf("add %s %d: %w: the id is taken", kind, id, model.ErrConflict)
	}
	set(id, P(rec).clone())
	return nil
}

// change stores edit's version of a copy of the record with id.
func change[R any, P updatable[R]](s *Server, kind string, t *table[R], set func(int64, *R), id int64, edit func(*R) error) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	old := t.get(id)
	if old == nil {
		return fmt.Errorf("change %s %d: %w", kind, id, model.ErrNotFound)
	}
	next := P(old).clone()
	if err := edit(next); err != nil {
		return fmt.Errorf("change %s %d: %w", kind, id, err)
	}
	if t.idOf(next) != id {
		return fmt.Errorf("change %s %d: %w: the id cannot change", kind, id, model.ErrInvalid)
	}
	if updated := P(next).updatedAt(); updated.Equal(*P(old).updatedAt()) {
		*updated = s.now()
	}
	set(id, next)
	return nil
}

func purge[R any](s *Server, kind string, t *table[R], set func(int64, *R), id int64) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if t.get(id) == nil {
		return fmt.Errorf("purge %s %d: %w", kind, id, model.ErrNotFound)
	}
	set(id, nil)
	return nil
}

func softDelete(deletedAt *time.Time, now time.Time) error {
	if !deletedAt.IsZero() {
		return fmt.Errorf("%w: already deleted", model.ErrConflict)
	}
	*deletedAt = now
	return nil
}

func restore(deletedAt *time.Time) error {
	if deletedAt.IsZero() {
		return fmt.Errorf("%w: not deleted", model.ErrConflict)
	}
	*deletedAt = time.Time{}
	return nil
}
