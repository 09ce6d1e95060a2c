package snipeittest

import (
	"fmt"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// The mutations below are what a person does in Snipe-IT's UI (or through
// its API), each with exactly Snipe-IT's effects: the rows saved get
// updated_at from the server's clock (to the second) when a column
// changed, as Eloquent's dirty check decides; relations (groups), counts
// and names shown from other rows change nothing else; the action log
// gets the entries Snipe-IT's observers and controllers write, per
// version; the webhook, when set, is sent synchronously before the
// mutation returns. They are safe while requests are served: each takes
// the store's write lock, so a request sees the data either before or
// after it, as with a database. The acting user (the log's created_by, a
// webhook's "By") is Config.TokenUserID.

// tx is one change to the data: it runs under the store's write lock and
// collects the webhook messages to send once the lock is released.
type tx struct {
	s        *Server
	now      time.Time
	messages []*slackMessage
}

// apply runs do as one change and then sends its webhooks.
func (s *Server) apply(do func(t *tx) error) error {
	s.store.mu.Lock()
	t := &tx{s: s, now: s.now()}
	err := do(t)
	s.store.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range t.messages {
		s.send(m)
	}
	return nil
}

// now is the server's clock at Snipe-IT's (second) precision.
func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

// log writes an entry made now by the acting user.
func (t *tx) log(e LogEntry) {
	e.CreatedAt = t.now
	if e.CreatedBy == 0 {
		e.CreatedBy = t.s.cfg.TokenUserID
	}
	t.s.store.logAction(e)
}

// notify queues a webhook message, on versions that have webhooks.
func (t *tx) notify(m *slackMessage) {
	if t.s.cfg.Version.webhooks() {
		t.messages = append(t.messages, m)
	}
}

// admin is the acting user.
func (t *tx) admin() *User { return t.s.store.user(t.s.cfg.TokenUserID) }

// saveUser stores next in place of old as Eloquent's save() does: when a
// column changed, updated_at becomes now (unless next sets it itself).
// It returns the changed columns.
func (t *tx) saveUser(old, next *User) []column {
	tz := t.s.cfg.Timezone
	changed := changedColumns(userColumns(old, tz), userColumns(next, tz))
	if len(changed) > 0 && next.UpdatedAt.Equal(old.UpdatedAt) {
		next.UpdatedAt = t.now
	}
	t.s.store.setUser(next.ID, next)
	return changed
}

// saveAsset is saveUser for assets.
func (t *tx) saveAsset(old, next *Asset) []column {
	tz := t.s.cfg.Timezone
	changed := changedColumns(assetColumns(old, tz), assetColumns(next, tz))
	if len(changed) > 0 && next.UpdatedAt.Equal(old.UpdatedAt) {
		next.UpdatedAt = t.now
	}
	t.s.store.setAsset(next.ID, next)
	return changed
}

// liveUser returns the live user with id.
func (t *tx) liveUser(id int64) (*User, error) {
	u := t.s.store.user(id)
	switch {
	case u == nil:
		return nil, fmt.Errorf("user %d: %w", id, model.ErrNotFound)
	case !u.DeletedAt.IsZero():
		return nil, fmt.Errorf("user %d: %w: deleted", id, model.ErrConflict)
	}
	return u, nil
}

// liveAsset returns the live asset with id.
func (t *tx) liveAsset(id int64) (*Asset, error) {
	a := t.s.store.asset(id)
	switch {
	case a == nil:
		return nil, fmt.Errorf("asset %d: %w", id, model.ErrNotFound)
	case !a.DeletedAt.IsZero():
		return nil, fmt.Errorf("asset %d: %w: deleted", id, model.ErrConflict)
	}
	return a, nil
}

// AddUser creates a user; the id must be free. A zero CreatedAt or
// UpdatedAt becomes now. From 6.3 it logs "create".
func (s *Server) AddUser(u User) error {
	return s.apply(func(t *tx) error {
		if s.store.user(u.ID) != nil {
			return fmt.Errorf("add user %d: %w: the id is taken", u.ID, model.ErrConflict)
		}
		next := u.clone()
		if next.CreatedAt.IsZero() {
			next.CreatedAt = t.now
		}
		if next.UpdatedAt.IsZero() {
			next.UpdatedAt = t.now
		}
		s.store.setUser(next.ID, next)
		if s.cfg.Version.logsUsers() {
			t.log(LogEntry{Action: ActionCreate, ItemType: TypeUser, ItemID: next.ID})
		}
		return nil
	})
}

// UpdateUser edits a copy of the user with id (soft-deleted ones too) and
// saves it: updated_at becomes now when a column changed (edit may set
// UpdatedAt itself); from 6.3 a change of a column UserObserver watches
// (names, email, username, location, department, manager, company…, not
// display_name, mobile, avatar, permissions or last_login) logs "update"
// with the changes. Groups are a relation: changing only them bumps
// nothing (see SetGroups).
func (s *Server) UpdateUser(id int64, edit func(*User)) error {
	return s.apply(func(t *tx) error {
		old := s.store.user(id)
		if old == nil {
			return fmt.Errorf("update user %d: %w", id, model.ErrNotFound)
		}
		next := old.clone()
		edit(next)
		if next.ID != id {
			return fmt.Errorf("update user %d: %w: the id cannot change", id, model.ErrInvalid)
		}
		oldCols := userColumns(old, s.cfg.Timezone)
		changed := t.saveUser(old, next)
		if meta := fieldChanges(oldCols, changed, func(c column) bool { return c.logged }); len(meta) > 0 && s.cfg.Version.logsUsers() {
			t.log(LogEntry{Action: ActionUpdate, ItemType: TypeUser, ItemID: id, TargetType: TypeUser, TargetID: id, Changes: meta})
		}
		return nil
	})
}

// SetManager makes managerID (0: none) the user's manager: an update of
// the user's manager_id (bumped, logged); the managers' counts change
// without a bump.
func (s *Server) SetManager(userID, managerID int64) error {
	return s.UpdateUser(userID, func(u *User) { u.ManagerID = managerID })
}

// Login records a login of the user: last_login and so updated_at become
// now. Nothing is logged.
func (s *Server) Login(userID int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		next := old.clone()
		next.LastLogin = t.now
		t.saveUser(old, next)
		return nil
	})
}

// SetGroups replaces the user's groups, as groups()->sync() does after the
// user is saved: the relation changes, updated_at does not, nothing is
// logged.
func (s *Server) SetGroups(userID int64, groups []Ref) error {
	return s.apply(func(t *tx) error {
		old := s.store.user(userID)
		if old == nil {
			return fmt.Errorf("set groups of user %d: %w", userID, model.ErrNotFound)
		}
		next := old.clone()
		next.Groups = append([]Ref(nil), groups...)
		s.store.setUser(userID, next)
		return nil
	})
}

// DeleteUser soft-deletes a live user: deleted_at and updated_at become
// now; from 6.3 it logs "delete". What is checked out to the user stays,
// and so do the users and locations it manages: Snipe-IT's single delete
// (the UI's and DELETE /api/v1/users/{id}) refuses a user who holds
// anything or manages users or locations (User::isDeletable), its bulk
// delete checks the items in first and deletes managers as they are; the
// simulator leaves that to the test. A location whose manager is deleted
// keeps its manager_id: GET /locations shows no manager (a deleted user is
// no relation), the deleted user's row still counts the location.
func (s *Server) DeleteUser(id int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveUser(id)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		next := old.clone()
		next.DeletedAt = t.now
		t.saveUser(old, next)
		if s.cfg.Version.logsUsers() {
			t.log(LogEntry{Action: ActionDelete, ItemType: TypeUser, ItemID: id, TargetType: TypeUser, TargetID: id})
		}
		return nil
	})
}

// RestoreUser brings a soft-deleted user back: updated_at becomes now;
// from 6.3 it logs "restore".
func (s *Server) RestoreUser(id int64) error {
	return s.apply(func(t *tx) error {
		old := s.store.user(id)
		switch {
		case old == nil:
			return fmt.Errorf("restore user %d: %w", id, model.ErrNotFound)
		case old.DeletedAt.IsZero():
			return fmt.Errorf("restore user %d: %w: not deleted", id, model.ErrConflict)
		}
		next := old.clone()
		next.DeletedAt = time.Time{}
		t.saveUser(old, next)
		if s.cfg.Version.logsUsers() {
			t.log(LogEntry{Action: ActionRestore, ItemType: TypeUser, ItemID: id, TargetType: TypeUser, TargetID: id})
		}
		return nil
	})
}

// PurgeUser removes a user for good, as if it had never existed, with the
// log entries whose target it is (User::userlog, what snipeit:purge
// deletes).
func (s *Server) PurgeUser(id int64) error {
	return s.apply(func(*tx) error {
		if s.store.user(id) == nil {
			return fmt.Errorf("purge user %d: %w", id, model.ErrNotFound)
		}
		s.store.purgeUser(id)
		return nil
	})
}

// Purge is `php artisan snipeit:purge`: every soft-deleted user and asset
// is removed for good with its log entries. It returns how many of each.
func (s *Server) Purge() (users, assets int, err error) {
	err = s.apply(func(*tx) error {
		for _, r := range append([]*row[User](nil), s.store.users.views[usersDeleted].rows...) {
			s.store.purgeUser(r.rec.ID)
			users++
		}
		for _, r := range append([]*row[Asset](nil), s.store.assets.views[assetsDeleted].rows...) {
			s.store.purgeAsset(r.rec.ID)
			assets++
		}
		return nil
	})
	return users, assets, err
}

func (s *store) purgeUser(id int64) {
	s.setUser(id, nil)
	s.forgetLog(func(e *LogEntry) bool { return e.TargetType == TypeUser && e.TargetID == id })
}

func (s *store) purgeAsset(id int64) {
	s.setAsset(id, nil)
	s.forgetLog(func(e *LogEntry) bool { return e.ItemType == TypeAsset && e.ItemID == id })
}

// AddAsset creates an asset; the id must be free. A zero CreatedAt or
// UpdatedAt becomes now. It logs "create".
func (s *Server) AddAsset(a Asset) error {
	return s.apply(func(t *tx) error {
		if s.store.asset(a.ID) != nil {
			return fmt.Errorf("add asset %d: %w: the id is taken", a.ID, model.ErrConflict)
		}
		next := a.clone()
		if next.CreatedAt.IsZero() {
			next.CreatedAt = t.now
		}
		if next.UpdatedAt.IsZero() {
			next.UpdatedAt = t.now
		}
		s.store.setAsset(next.ID, next)
		t.log(LogEntry{Action: ActionCreate, ItemType: TypeAsset, ItemID: next.ID})
		return nil
	})
}

// UpdateAsset edits a copy of the asset with id (soft-deleted ones too)
// and saves it: updated_at becomes now when a column changed; the change
// is logged as "update" with every changed column unless it touches what
// a checkout, checkin or audit sets (AssetObserver leaves those to their
// own entries). No webhook.
func (s *Server) UpdateAsset(id int64, edit func(*Asset)) error {
	return s.apply(func(t *tx) error {
		old := s.store.asset(id)
		if old == nil {
			return fmt.Errorf("update asset %d: %w", id, model.ErrNotFound)
		}
		next := old.clone()
		edit(next)
		if next.ID != id {
			return fmt.Errorf("update asset %d: %w: the id cannot change", id, model.ErrInvalid)
		}
		oldCols := assetColumns(old, s.cfg.Timezone)
		changed := t.saveAsset(old, next)
		if len(changed) > 0 && assetUpdateLogged(changed) {
			t.log(LogEntry{Action: ActionUpdate, ItemType: TypeAsset, ItemID: id,
				Changes: fieldChanges(oldCols, changed, func(column) bool { return true })})
		}
		return nil
	})
}

// DeleteAsset soft-deletes a live asset: deleted_at and updated_at become
// now; it logs "delete". A checked-out asset keeps its assignment, which
// before 7.1.16 still counts in the user's assets_count.
func (s *Server) DeleteAsset(id int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveAsset(id)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		next := old.clone()
		next.DeletedAt = t.now
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionDelete, ItemType: TypeAsset, ItemID: id})
		return nil
	})
}

// RestoreAsset brings a soft-deleted asset back and logs "restore".
func (s *Server) RestoreAsset(id int64) error {
	return s.apply(func(t *tx) error {
		old := s.store.asset(id)
		switch {
		case old == nil:
			return fmt.Errorf("restore asset %d: %w", id, model.ErrNotFound)
		case old.DeletedAt.IsZero():
			return fmt.Errorf("restore asset %d: %w: not deleted", id, model.ErrConflict)
		}
		next := old.clone()
		next.DeletedAt = time.Time{}
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionRestore, ItemType: TypeAsset, ItemID: id})
		return nil
	})
}

// PurgeAsset removes an asset for good, with the log entries about it.
func (s *Server) PurgeAsset(id int64) error {
	return s.apply(func(*tx) error {
		if s.store.asset(id) == nil {
			return fmt.Errorf("purge asset %d: %w", id, model.ErrNotFound)
		}
		s.store.purgeAsset(id)
		return nil
	})
}

// ArchiveAsset gives an asset the "Archived" status label (id 3 in
// generated data), which hides it from the default /hardware list: an
// update of status_id.
func (s *Server) ArchiveAsset(id int64) error {
	return s.UpdateAsset(id, func(a *Asset) {
		l := s.store.label(archivedLabel())
		a.Status = &l
	})
}

// UnarchiveAsset gives an asset the "Ready to Deploy" status label (id 2
// in generated data).
func (s *Server) UnarchiveAsset(id int64) error {
	return s.UpdateAsset(id, func(a *Asset) {
		l := s.store.label(readyLabel())
		a.Status = &l
	})
}

// label is the status label l as the store has it now (renamed, its type
// edited), or l when the store does not know it. Callers hold mu.
func (s *store) label(l StatusLabel) StatusLabel {
	if r := s.refs[refStatusLabels][l.ID]; r != nil {
		l.Name, l.Type = r.Name, r.Type
	}
	return l
}

// CheckoutAsset checks a live, available asset out to a live user, as
// Asset::checkOut() does: assigned_to, last_checkout, checkout_counter and
// the location (the user's) change and updated_at becomes now; the user's
// row is not touched (its assets_count is counted when read). It logs
// "checkout" (item the asset, target the user) and sends the "Asset checked
// out" webhook.
func (s *Server) CheckoutAsset(assetID, userID int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveAsset(assetID)
		if err != nil {
			return fmt.Errorf("checkout: %w", err)
		}
		if old.AssignedTo != nil {
			return fmt.Errorf("checkout: asset %d: %w: already checked out", assetID, model.ErrConflict)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("checkout: %w", err)
		}
		next := old.clone()
		next.AssignedTo = &Assignment{Type: AssignedUser, ID: userID}
		next.LastCheckout = t.now
		next.CheckoutCounter++
		next.ExpectedCheckin = time.Time{}
		next.Location = clonePtr(u.Location)
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionCheckout, ItemType: TypeAsset, ItemID: assetID, TargetType: TypeUser, TargetID: userID})
		t.notify(s.checkoutAssetMessage(next, u, t.admin()))
		return nil
	})
}

// CheckinAsset checks a checked-out asset in: assigned_to empties,
// last_checkin, checkin_counter and the location (back to the default
// one) change and updated_at becomes now. It logs "checkin from" (target
// what it was checked out to) and sends the "Asset checked in" webhook,
// which names the asset but not whom it came from.
func (s *Server) CheckinAsset(assetID int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveAsset(assetID)
		if err != nil {
			return fmt.Errorf("checkin: %w", err)
		}
		if old.AssignedTo == nil {
			return fmt.Errorf("checkin: asset %d: %w: not checked out", assetID, model.ErrConflict)
		}
		from := *old.AssignedTo
		next := old.clone()
		next.AssignedTo = nil
		next.LastCheckin = t.now
		next.CheckinCounter++
		next.ExpectedCheckin = time.Time{}
		next.Location = clonePtr(old.RTDLocation)
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionCheckin, ItemType: TypeAsset, ItemID: assetID, TargetType: string(from.Type), TargetID: from.ID,
			TargetName: from.Name})
		t.notify(s.checkinAssetMessage(next, t.admin()))
		return nil
	})
}

// AuditAsset audits a live asset: last_audit_date becomes now and the next
// audit a year later (updated_at too). It logs "audit" and sends the
// "Asset Audited" webhook.
func (s *Server) AuditAsset(assetID int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveAsset(assetID)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		next := old.clone()
		next.LastAuditDate = t.now
		next.NextAuditDate = civil(t.now.In(s.cfg.Timezone)).AddDate(1, 0, 0)
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionAudit, ItemType: TypeAsset, ItemID: assetID})
		t.notify(s.auditMessage(next, t.admin()))
		return nil
	})
}

// RequestAsset is a user requesting a requestable asset: requests_counter
// goes up (Eloquent's increment, which bumps updated_at), "requested" is
// logged by the user and the "Item Requested" webhook sent.
func (s *Server) RequestAsset(assetID, userID int64) error {
	return s.apply(func(t *tx) error {
		old, err := t.liveAsset(assetID)
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		if !old.Requestable {
			return fmt.Errorf("request: asset %d: %w: not requestable", assetID, model.ErrConflict)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		next := old.clone()
		next.RequestsCounter++
		t.saveAsset(old, next)
		t.log(LogEntry{Action: ActionRequested, ItemType: TypeAsset, ItemID: assetID, TargetType: TypeUser, TargetID: userID, CreatedBy: userID})
		t.notify(s.requestMessage(next, u))
		return nil
	})
}

// CancelAssetRequest is a user cancelling a request: the asset is not
// saved; "request canceled" is logged and the cancellation webhook sent.
func (s *Server) CancelAssetRequest(assetID, userID int64) error {
	return s.apply(func(t *tx) error {
		a, err := t.liveAsset(assetID)
		if err != nil {
			return fmt.Errorf("cancel request: %w", err)
		}
		u, err := t.liveUser(userID)
		if err != nil {
			return fmt.Errorf("cancel request: %w", err)
		}
		t.log(LogEntry{Action: ActionRequestCanceled, ItemType: TypeAsset, ItemID: assetID, TargetType: TypeUser, TargetID: userID, CreatedBy: userID})
		t.notify(s.cancelRequestMessage(a, u))
		return nil
	})
}

// Replace swaps the whole data set for ds (nil: no data at all); the
// server keeps ds. The action log starts afresh.
func (s *Server) Replace(ds *Dataset) error {
	if err := s.store.load(ds); err != nil {
		return fmt.Errorf("replace data: %w", err)
	}
	return nil
}

// Clear removes every record: Snipe-IT answers total 0.
func (s *Server) Clear() {
	_ = s.store.load(nil) // an empty data set has no duplicate ids
}
