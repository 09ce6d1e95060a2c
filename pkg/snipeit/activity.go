package snipeit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/usersync/usersync/pkg/model"
)

// activityListing is GET /api/v1/reports/activity (Api\ReportsController),
// paged and sorted like the other lists. Its rows are the action log's.
var activityListing = listing[model.ActivityEntry]{endpoint: "reports_activity", path: "/reports/activity",
	read: readActivity, id: func(e *model.ActivityEntry) int64 { return e.ID }}

func activityID(e *model.ActivityEntry) int64 { return e.ID }

// ActivitySince returns the activity log's entries with an id above
// afterID, oldest first: what happened since a run that saw afterID last.
// The log has no date filter; the walk sorts by id, newest first, and stops
// at afterID, checking the pages as the change listings do (an entry is
// never changed, but purges delete entries and move the list). A token
// without Snipe-IT's activity.view permission gets an error that matches
// model.ErrForbidden and says so. Entries of purged records are gone from
// the log with the records.
//
// seen, when given, receives the log's total, newest id and the server's
// clock at the first page: a newest id below afterID means the log went
// back (a database restored from a backup).
func (c *Client) ActivitySince(ctx context.Context, afterID int64, seen ...*Listing) ([]model.ActivityEntry, error) {
	var entries []model.ActivityEntry
	var problems fieldWarnings
	defer problems.report(c.log, activityListing.endpoint)
	info := listingOf(seen)
	w := descWalk[model.ActivityEntry]{c: c, l: activityListing, sort: "id", key: activityID, stop: afterID + 1,
		first:    func(p *page[model.ActivityEntry]) { note(info, p, activityID) },
		problems: &problems, yield: func(e *model.ActivityEntry) bool {
			entries = append(entries, *e)
			return true
		}}
	if err := w.run(ctx); err != nil {
		return nil, fmt.Errorf("read the activity log after entry %d: %w", afterID, activityError(err))
	}
	slices.SortFunc(entries, func(a, b model.ActivityEntry) int { return cmp.Compare(a.ID, b.ID) })
	return entries, nil
}

// LastActivityID is the id of the newest activity log entry, 0 for an
// empty log: where a first incremental run starts reading the log.
func (c *Client) LastActivityID(ctx context.Context) (int64, error) {
	p, err := fetchOrdered(ctx, c, activityListing, "id", "desc", 0, 1)
	if err != nil {
		return 0, fmt.Errorf("read the newest activity log entry: %w", activityError(err))
	}
	// Snipe-IT 5 answers more rows than asked; the newest is the largest id
	// whatever their order.
	var last int64
	for i := range p.rows {
		last = max(last, p.rows[i].ID)
	}
	return last, nil
}

// ActionName returns how the activity report shows the stored action type
// stored ("checkout", "checkin from", "delete", "restore", …): Snipe-IT
// translates action types into the site's language when it lists them,
// but filters by the stored value, so one entry filtered by it shows the
// translation. ok is false when the log holds no such entry.
func (c *Client) ActionName(ctx context.Context, stored string) (shown string, ok bool, err error) {
	l := activityListing
	l.filter = url.Values{"action_type": {stored}}
	// Snipe-IT 5 and 7 order by created_at first when filtering by action
	// type, and 5 answers more rows than asked: every row is of the type.
	p, err := fetchOrdered(ctx, c, l, "id", "desc", 0, 1)
	if err != nil {
		return "", false, fmt.Errorf("look up how the activity log shows %q: %w", stored, activityError(err))
	}
	if len(p.rows) == 0 {
		return "", false, nil
	}
	return p.rows[0].Action, true, nil
}

// activityError says what a refused activity report means.
func activityError(err error) error {
	if errors.Is(err, model.ErrForbidden) {
		return fmt.Errorf("the API token lacks Snipe-IT's activity.view permission (Reports: View activity), or its User-Agent is blocked: %w", err)
	}
	return err
}

// readActivity reads a row of the activity report (ActionlogsTransformer):
// its id, action type, item and target, when, and which fields an update
// changed.
func readActivity(r *reader) (model.ActivityEntry, error) {
	var e model.ActivityEntry
	var idOK bool
	r.members("row", "", storedNull, func(n []byte) {
		switch string(n) {
		case "id":
			e.ID, idOK = r.integer("id", "", 64, storedNull)
		case "action_type":
			e.Action = r.str("action_type", "")
		case "item":
			e.ItemID, _, e.ItemType = r.typedRef("item")
		case "target":
			e.TargetID, _, e.TargetType = r.typedRef("target")
		case "created_at":
			e.CreatedAt = r.when("created_at", true)
		case "log_meta":
			e.Changed = r.memberNames("log_meta")
		default:
			r.skip()
		}
	})
	r.id = e.ID
	if !idOK || e.ID <= 0 {
		return model.ActivityEntry{}, fmt.Errorf("%w: activity entry without an id", errBadRow)
	}
	if e.ItemID == nil {
		e.ItemType = ""
	}
	if e.TargetID == nil {
		e.TargetType = ""
	}
	return e, nil
}

// memberNames reads an object's member names, skipping the values; nil
// when null. log_meta is {field: {old, new}}.
func (r *reader) memberNames(field string) []string {
	var names []string
	r.members(field, "", storedNull, func(n []byte) {
		names = append(names, string(n))
		r.skip()
	})
	return names
}
