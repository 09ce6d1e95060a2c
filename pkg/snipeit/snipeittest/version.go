package snipeittest

import "fmt"

// Version selects the Snipe-IT release whose wire format and behaviour the
// simulator emulates.
type Version string

// The versions the simulator models, each standing for a range of real
// releases with the same behaviour where a sync client can tell.
const (
	// Version86 is the newest: page metadata in the list envelope, page=,
	// companies[] on users, role, qr_code_url, department_manager.
	Version86 Version = "8.6"
	// Version85 is 8.x before 8.6 (and 7.1.16 on for the change-tracking
	// rules): {total, rows}, the 8.1+ rate-limit headers and 429 body,
	// users sortable by updated_at, assets_count without soft-deleted
	// assets.
	Version85 Version = "8.5"
	// Version70 is 7.0, before 7.1.14: the v6/v7 row fields (no
	// display_name or mobile, the manager's full name, no tag_color),
	// webhooks (6.1.0+) and user entries in the activity log (6.3.0+), but
	// sort=updated_at on users silently answered in first_name order,
	// assets_count counting soft-deleted assets (fixed in 7.1.16), the
	// pre-8.1 429 without Retry-After, and filtering the activity log by
	// action_type forcing created_at desc.
	Version70 Version = "7.0"
	// Version50 is 5.0: {total, rows}, "" instead of null for email and
	// employee_num, the manager's username as its name, custom_fields []
	// when empty, no display_name, mobile, deleted_at on users…, the old
	// limit handling (limit=0 is zero rows), a bare 429, no webhooks and no
	// user entries in the activity log.
	Version50 Version = "5.0"
)

// versions lists the modelled versions, oldest first.
var versions = []Version{Version50, Version70, Version85, Version86}

// ParseVersion checks a version name ("8.6", "8.5", "7.0" or "5.0").
func ParseVersion(s string) (Version, error) {
	v := Version(s)
	if v.rank() < 0 {
		return "", fmt.Errorf("snipe-it version %q: want %s, %s, %s or %s", s, Version86, Version85, Version70, Version50)
	}
	return v, nil
}

// rank orders the versions; -1 for an unknown one.
func (v Version) rank() int {
	for i, known := range versions {
		if v == known {
			return i
		}
	}
	return -1
}

// atLeast reports whether v is o or newer.
func (v Version) atLeast(o Version) bool { return v.rank() >= o.rank() }

// The behaviours that differ between the modelled versions, each named for
// what it changes; the comment says which real release brought it.

// v6Rows: the v6/v7 transformer fields (remote, vip, website, created_by,
// start/end dates, deleted_at, byod, depreciation, book_value…), null for
// empty email and employee_num, permissions as ints, notes as Markdown.
func (v Version) v6Rows() bool { return v.atLeast(Version70) }

// v8Rows: the 8.x additions (display_name, mobile, the manager's display
// name, tag_color, an asset's qr_code_url).
func (v Version) v8Rows() bool { return v.atLeast(Version85) }

// newest: the 2026 additions (8.6).
func (v Version) newest() bool { return v == Version86 }

// throttle81: the 8.1+ rate-limit headers and JSON 429 (PR #16986).
func (v Version) throttle81() bool { return v.atLeast(Version85) }

// sanitisesPaging: limit and offset through abs(intval()) (6.1, PRs
// #12827–#12848).
func (v Version) sanitisesPaging() bool { return v.atLeast(Version70) }

// sortsUsersByUpdatedAt: updated_at among the users sort columns (7.1.14,
// commit 0ae9ce0aa9); before, it falls back to first_name silently.
func (v Version) sortsUsersByUpdatedAt() bool { return v.atLeast(Version85) }

// countsTrashedAssets: a user's assets_count includes soft-deleted assets
// still pointing at the user (fixed in 7.1.16, commit f6dbda4056).
func (v Version) countsTrashedAssets() bool { return !v.atLeast(Version85) }

// webhooks: the general (Slack-format) webhook of Admin > Integrations
// (6.1.0); before, only Slack's own hooks.slack.com endpoints were
// accepted.
func (v Version) webhooks() bool { return v.atLeast(Version70) }

// logsUsers: UserObserver's create/update/delete/restore entries in the
// activity log (6.3.0).
func (v Version) logsUsers() bool { return v.atLeast(Version70) }

// activityForcesCreatedAt: ReportsController orders by created_at desc
// first when action_type (or another narrowing filter) is given (v5–v7).
func (v Version) activityForcesCreatedAt() bool { return !v.atLeast(Version85) }

// activityCreatedBy: activity rows carry created_by, remote_ip, user_agent
// and action_source besides admin (8.x).
func (v Version) activityCreatedBy() bool { return v.atLeast(Version85) }
