package snipeittest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LogEntry is one row of Snipe-IT's action log (action_logs), what GET
// /api/v1/reports/activity lists. The mutations write them as Snipe-IT's
// observers and controllers do.
type LogEntry struct {
	ID int64
	// Action is the stored action_type: "checkout", "checkin from",
	// "create", "update", "delete", "restore", "audit", "requested" or
	// "request canceled". The API shows it translated (ActionType).
	Action string
	// ItemType and TargetType are what itemType() and targetType() say:
	// "asset", "user", "license", "accessory" or "consumable"; TargetType
	// is "" when the entry has no target.
	ItemType   string
	ItemID     int64
	TargetType string
	TargetID   int64
	// TargetName names a location target: locations are values inside the
	// records, not records the log could look up.
	TargetName string
	// CreatedBy is the acting user (the token's user for the mutations);
	// 0 is none.
	CreatedBy int64
	CreatedAt time.Time
	Note      string
	// Changes is an update's log_meta: the columns it changed, in column
	// order.
	Changes []FieldChange
}

// FieldChange is one column of an update's log_meta; nil is NULL.
type FieldChange struct {
	Field    string
	Old, New *string
}

// The action types the simulator logs, as stored.
const (
	ActionCheckout        = "checkout"
	ActionCheckin         = "checkin from"
	ActionCreate          = "create"
	ActionUpdate          = "update"
	ActionDelete          = "delete"
	ActionRestore         = "restore"
	ActionAudit           = "audit"
	ActionRequested       = "requested"
	ActionRequestCanceled = "request canceled"
)

// ActionType is how the API shows a stored action type:
// ActionlogPresenter::actionType, mb_strtolower(trans('general.'.$type)) in
// English.
func ActionType(stored string) string {
	switch stored {
	case ActionCreate:
		return "create new"
	}
	return stored
}

// The item and target types of log entries.
const (
	TypeAsset      = "asset"
	TypeUser       = "user"
	TypeLicense    = "license"
	TypeAccessory  = "accessory"
	TypeConsumable = "consumable"
	TypeLocation   = "location"
)

// Log returns the action log, oldest first.
func (s *Server) Log() []LogEntry {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	out := make([]LogEntry, len(s.store.log))
	for i, e := range s.store.log {
		out[i] = *e
	}
	return out
}

// logAction appends e to the action log with the next id. Callers hold mu.
func (s *store) logAction(e LogEntry) {
	s.lastLogID++
	e.ID = s.lastLogID
	s.log = append(s.log, &e)
}

// forgetLog deletes the entries drop keeps, as the purge command's
// forceDelete of a record's log does. Callers hold mu.
func (s *store) forgetLog(drop func(*LogEntry) bool) {
	s.log = slices.DeleteFunc(s.log, drop)
}

// listActivity is Api\ReportsController::index: the action log, filtered,
// sorted (created_at desc by default) and paged like the other lists.
func (s *Server) listActivity(r *http.Request, shape listShape) response {
	q := r.URL.Query()
	v := s.cfg.Version
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	var rows []*LogEntry
	keep := s.activityFilter(q)
	for _, e := range s.store.log {
		if keep(e) {
			rows = append(rows, e)
		}
	}
	total := len(rows)
	if shape.empty {
		total = 0
	}
	offset, limit := s.paging(q, total)
	if !v.sanitisesPaging() {
		offset, limit = activityPaging50(q, total, s.cfg.MaxResults)
	}
	sortKey := activitySort(q.Get("sort"), v, s.cfg.Timezone)
	desc := sortDesc(q)
	// v5–v7 order by created_at desc first when action_type narrows the
	// list; the requested sort only breaks its ties.
	forced := v.activityForcesCreatedAt() && filled(q, "action_type")
	byCreated := activitySort("created_at", v, s.cfg.Timezone)
	seed := mix(s.store.generation ^ uint64(offset+limit)*0x9e3779b97f4a7c15)
	rows = firstSorted(rows, offset+limit, func(a, b *LogEntry) int {
		if forced {
			if c := -byCreated(a, b); c != 0 {
				return c
			}
		}
		c := sortKey(a, b)
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(mix(uint64(a.ID)^seed), mix(uint64(b.ID)^seed))
	})
	// The controller answers with JSON_UNESCAPED_UNICODE.
	resp := listResponse(s, r, true, total, offset, limit, rows[min(offset, len(rows)):min(offset+limit, len(rows))], shape, s.activityRow)
	resp.contentType = "application/json;charset=utf8"
	return resp
}

// activityPaging50 is the 5.0 report's own limit arithmetic:
// max(intval(offset), MAX_RESULTS) unless the limit asked for is above
// the cap, so a smaller limit is ignored and a large offset widens the
// page.
func activityPaging50(q url.Values, total, maxResults int) (offset, limit int) {
	offset = max(phpIntval(q.Get("offset")), 0)
	if offset > total {
		offset = total
	}
	limit = max(phpIntval(q.Get("offset")), maxResults)
	if phpIntval(q.Get("limit")) > maxResults {
		limit = maxResults
	}
	return offset, limit
}

// activityFilter is the report's where clauses. item_type and target_type
// count only with their ids.
func (s *Server) activityFilter(q url.Values) func(*LogEntry) bool {
	v := s.cfg.Version
	var keep []func(*LogEntry) bool
	if needle := strings.ToLower(q.Get("search")); needle != "" {
		keep = append(keep, func(e *LogEntry) bool {
			for _, f := range []string{e.Action, e.Note, s.logItemName(e.ItemType, e.ItemID), s.logItemName(e.TargetType, e.TargetID)} {
				if strings.Contains(strings.ToLower(f), needle) {
					return true
				}
			}
			return false
		})
	}
	if filled(q, "target_type") && filled(q, "target_id") {
		typ, id := strings.ToLower(q.Get("target_type")), phpIntval(q.Get("target_id"))
		keep = append(keep, func(e *LogEntry) bool { return e.TargetType == typ && e.TargetID == int64(id) })
	}
	if filled(q, "item_type") && filled(q, "item_id") {
		typ, id := strings.ToLower(q.Get("item_type")), phpIntval(q.Get("item_id"))
		keep = append(keep, func(e *LogEntry) bool { return e.ItemType == typ && e.ItemID == int64(id) })
	}
	if filled(q, "action_type") {
		want := q.Get("action_type")
		keep = append(keep, func(e *LogEntry) bool { return e.Action == want })
	}
	if v.activityCreatedBy() && filled(q, "created_by") {
		id := int64(phpIntval(q.Get("created_by")))
		keep = append(keep, func(e *LogEntry) bool { return e.CreatedBy == id })
	}
	if v.activityCreatedBy() && filled(q, "action_source") {
		want := q.Get("action_source")
		keep = append(keep, func(*LogEntry) bool { return want == actionSource })
	}
	if v.activityCreatedBy() && filled(q, "remote_ip") {
		keep = append(keep, func(*LogEntry) bool { return false }) // entries carry no address
	}
	return func(e *LogEntry) bool { return keepAll(keep, e) }
}

// actionSource is what 8.x records as an entry's action_source: the
// simulator's changes come from the web UI.
const actionSource = "gui"

// activitySort is the comparison of an allowed report sort column;
// anything else is created_at.
func activitySort(column string, v Version, tz *time.Location) func(a, b *LogEntry) int {
	switch column {
	case "id":
		return func(a, b *LogEntry) int { return cmp.Compare(a.ID, b.ID) }
	case "target_id":
		return func(a, b *LogEntry) int { return cmp.Compare(a.TargetID, b.TargetID) }
	case "action_type":
		return func(a, b *LogEntry) int { return cmp.Compare(a.Action, b.Action) }
	case "note":
		return func(a, b *LogEntry) int { return cmp.Compare(a.Note, b.Note) }
	case "user_id", "created_by":
		if (column == "created_by") == v.activityCreatedBy() {
			return func(a, b *LogEntry) int { return cmp.Compare(a.CreatedBy, b.CreatedBy) }
		}
	}
	return func(a, b *LogEntry) int { return cmp.Compare(wallClock(a.CreatedAt, tz), wallClock(b.CreatedAt, tz)) }
}

// activityRow writes ActionlogsTransformer's row for e. Callers hold mu.
func (s *Server) activityRow(w *jsonWriter, e *LogEntry) {
	v := s.cfg.Version
	tz := s.cfg.Timezone
	w.beginObject("")
	w.num("id", e.ID)
	if icon := logIcon(e.ItemType); icon != "" {
		w.plain("icon", icon)
	} else {
		w.null("icon")
	}
	w.null("file")
	s.logItem(w, "item", e.ItemType, e.ItemID, true)
	w.null("location")
	w.datetime("created_at", e.CreatedAt, tz)
	w.datetime("updated_at", e.CreatedAt, tz)
	var next time.Time
	if a := s.store.asset(e.ItemID); e.ItemType == TypeAsset && a != nil {
		next = a.NextAuditDate
	}
	w.date("next_audit_date", next)
	if next.IsZero() {
		w.null("days_to_next_audit")
	} else {
		w.num("days_to_next_audit", int64(next.Sub(civil(s.cfg.Now().In(tz))).Hours()/24))
	}
	w.plain("action_type", ActionType(e.Action))
	s.logAdmin(w, "admin", e.CreatedBy)
	if v.activityCreatedBy() {
		s.logAdmin(w, "created_by", e.CreatedBy)
	}
	if e.TargetType == TypeLocation {
		w.beginObject("target")
		w.num("id", e.TargetID)
		w.str("name", e.TargetName)
		w.plain("type", TypeLocation)
		w.endObject()
	} else {
		s.logItem(w, "target", e.TargetType, e.TargetID, false)
	}
	w.plainOrNull("note", notesHTML(e.Note))
	w.null("signature_file")
	if len(e.Changes) == 0 {
		w.null("log_meta")
	} else {
		w.beginObject("log_meta")
		for _, c := range e.Changes {
			w.beginObject(c.Field)
			for _, side := range []struct {
				k string
				v *string
			}{{"old", c.Old}, {"new", c.New}} {
				if side.v == nil {
					w.null(side.k)
				} else {
					w.str(side.k, *side.v)
				}
			}
			w.endObject()
		}
		w.endObject()
	}
	if v.activityCreatedBy() {
		w.null("remote_ip")
		w.null("user_agent")
		w.plain("action_source", actionSource)
	}
	w.datetime("action_date", e.CreatedAt, tz)
	w.endObject()
}

// logIcon is ActionlogPresenter::icon for an item type ("" for null).
func logIcon(itemType string) string {
	switch itemType {
	case TypeAsset:
		return "fa fa-barcode"
	case TypeAccessory:
		return "far fa-keyboard"
	case TypeConsumable:
		return "fa fa-tint"
	case TypeLicense:
		return "far fa-save"
	}
	return ""
}

// logItem writes an entry's item ({id, name, type, serial}) or target
// ({id, name, type}), null when there is none or it was purged. Users are
// named by their full name, other records by their display name.
func (s *Server) logItem(w *jsonWriter, k, typ string, id int64, withSerial bool) {
	name, serial, ok := s.logRecord(typ, id)
	if !ok {
		w.null(k)
		return
	}
	w.beginObject(k)
	w.num("id", id)
	w.str("name", name)
	w.plain("type", typ)
	if withSerial {
		w.strOrNull("serial", serial)
	}
	w.endObject()
}

// logAdmin writes the acting user {id, name, first_name, last_name}, or
// null.
func (s *Server) logAdmin(w *jsonWriter, k string, id int64) {
	u := s.store.user(id)
	if u == nil {
		w.null(k)
		return
	}
	w.beginObject(k)
	w.num("id", u.ID)
	w.str("name", fullName(u, s.cfg.Version))
	w.str("first_name", u.FirstName)
	w.str("last_name", u.LastName)
	w.endObject()
}

// logItemName is the name logItem shows, "" when there is none.
func (s *Server) logItemName(typ string, id int64) string {
	name, _, _ := s.logRecord(typ, id)
	return name
}

// logRecord looks up what a log entry points at: its name and serial, and
// whether it exists (soft-deleted records do; purged ones do not).
func (s *Server) logRecord(typ string, id int64) (name, serial string, ok bool) {
	switch typ {
	case TypeUser:
		if u := s.store.user(id); u != nil {
			return fullName(u, s.cfg.Version), "", true
		}
	case TypeAsset:
		if a := s.store.asset(id); a != nil {
			return assetDisplayName(a), a.Serial, true
		}
	case TypeLicense:
		if l := s.store.licenses[id]; l != nil {
			return l.Name, l.Serial, true
		}
	case TypeAccessory:
		if a := s.store.accessories[id]; a != nil {
			return a.Name, "", true
		}
	case TypeConsumable:
		if c := s.store.consumables[id]; c != nil {
			return c.Name, "", true
		}
	}
	return "", "", false
}

// assetDisplayName is AssetPresenter::name: "name (tag)", the model's name
// when the asset has none, the bare tag without either.
func assetDisplayName(a *Asset) string {
	switch {
	case a.Name != "":
		return a.Name + " (" + a.AssetTag + ")"
	case a.Model != nil:
		return a.Model.Name + " (" + a.AssetTag + ")"
	}
	return a.AssetTag
}

// logString is a column's value as log_meta keeps it: the raw column,
// nil for NULL.
func logString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// logID is an id column's value in log_meta, nil for none.
func logID(id int64) *string {
	if id == 0 {
		return nil
	}
	return ptr(strconv.FormatInt(id, 10))
}
