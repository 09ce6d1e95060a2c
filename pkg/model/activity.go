package model

import "time"

// ActivityEntry is one entry of Snipe-IT's activity log (its action log):
// what was done to which record, for whom. An incremental sync reads it for
// the changes that move no row's updated_at, such as a license seat checked
// out to a user.
type ActivityEntry struct {
	ID int64
	// Action is the action type as Snipe-IT shows it: translated to the
	// site's language and lower-cased ("checkout", "checkin from",
	// "update", "create new", "delete", "restore", "audit", "requested",
	// "request canceled" in English). Rely on the types and ids, not on
	// this text.
	Action string
	// ItemType and TargetType name the kind of record: "asset", "user",
	// "license", "accessory", "consumable", "component", "location"…; ""
	// when the entry has none or the record no longer exists (purged).
	ItemType   string
	ItemID     *int64
	TargetType string
	TargetID   *int64
	CreatedAt  *time.Time
	// Changed lists the fields an update changed (log_meta's keys), in the
	// order Snipe-IT sent them; nil for other actions.
	Changed []string
}
