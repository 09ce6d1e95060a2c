package model

import (
	"errors"
	"time"
)

// RunMode says how a run read Snipe-IT: every row (full) or only what
// changed since the last run (incremental).
type RunMode string

// The modes a run is recorded with.
const (
	ModeFull        RunMode = "full"
	ModeIncremental RunMode = "incremental"
)

// Why a run planned as incremental read everything instead (recorded in
// sync_runs.fallback_reason and the metrics).
const (
	// FallbackNoWatermark: no run of the scope has left a watermark yet (a
	// first run, or its state was deleted; failed and dry runs leave the
	// last one as it was).
	FallbackNoWatermark = "no_watermark"
	// FallbackUnsorted: Snipe-IT did not list the scope in updated_at
	// order (users before 7.1.14).
	FallbackUnsorted = "unsorted"
	// FallbackTies: more rows share one updated_at than a page holds.
	FallbackTies = "ties"
	// FallbackShifting: the listing kept moving while it was read.
	FallbackShifting = "shifting"
	// FallbackWatermarkUnusable: the watermark cannot be trusted: the
	// server's clock or its activity log is behind it (a restore, a clock
	// set back), or it was written by an older usersync.
	FallbackWatermarkUnusable = "watermark_unusable"
	// FallbackNoActivityLog: the users scope needs the activity log (item
	// counts) and the token may not read it, or no run has recorded where
	// it stands.
	FallbackNoActivityLog = "no_activity_log"
	// FallbackActivity: the activity log holds an entry whose effect on
	// the mirror the run cannot work out (a license deleted with seats
	// out, an action type it does not know).
	FallbackActivity = "activity"
	// FallbackCountMismatch: after the changes, the mirror's live rows do
	// not add up to Snipe-IT's total (a row deleted and purged between two
	// runs, a bulk change that moved no updated_at).
	FallbackCountMismatch = "count_mismatch"
)

// FallbackReasons lists every fallback reason, for metrics that push each
// one.
var FallbackReasons = []string{FallbackNoWatermark, FallbackUnsorted, FallbackTies, FallbackShifting,
	FallbackWatermarkUnusable, FallbackNoActivityLog, FallbackActivity, FallbackCountMismatch}

// ErrNotIncremental marks a listing of changes that cannot be trusted to
// hold every row changed since the time asked for: the caller should read
// the whole scope instead. The error carrying it names the reason
// (FallbackUnsorted, FallbackTies or FallbackShifting) through a
// FallbackReason() string method.
var ErrNotIncremental = errors.New("changes cannot be listed incrementally")

// ChangeListing is what a walk of changes saw besides its rows: how many
// rows the listing held, and when the server answered its first page. A
// caller checks its mirror against the totals, and takes its next
// watermark no later than ServerTime: a row changed after that may not
// have been seen.
type ChangeListing struct {
	// Total is the total the first page reported: every row of the
	// listing (live users; live assets outside the archived listing; the
	// whole activity log), changed or not.
	Total int64
	// ArchivedTotal is the archived assets listing's total, unless
	// ArchivedInDefault.
	ArchivedTotal int64
	// ArchivedInDefault reports that the default assets listing showed an
	// archived asset: the site sets show_archived_in_list, so Total counts
	// the archived assets too and the archived listing was not read.
	ArchivedInDefault bool
	// ServerTime is the server's clock (its Date header) at the first
	// page; zero when it sent none.
	ServerTime time.Time
	// Newest is the sort key of the listing's first row: the newest
	// updated_at (unix seconds) or activity entry id; 0 for an empty
	// listing.
	Newest int64
}

// SyncState is where the last successful run of a scope left off, for the
// next incremental run: committed in the same transaction as the rows it
// describes.
type SyncState struct {
	Scope Scope
	// Watermark is a time in Snipe-IT's clock up to which every change of
	// the scope is in the mirror. An incremental run reads the rows whose
	// updated_at is at or after Watermark minus its look-back.
	Watermark time.Time
	// ActivityID is the last activity log entry the mirror accounts for;
	// nil when the token may not read the log.
	ActivityID *int64
	// UpstreamRows is how many rows, live and soft-deleted, Snipe-IT held
	// at UpstreamAt (its clock; users only, 0 for assets): fewer now than
	// the rows created since explain means rows were purged.
	UpstreamRows int64
	UpstreamAt   time.Time
	// Traits are what runs learnt about the server from its data.
	Traits Traits
}

// Traits are behaviours of the Snipe-IT server that differ between
// versions and that a run learns from data it reads anyway, never by
// guessing.
type Traits struct {
	// Actions maps stored action types ("checkout", "checkin from",
	// "delete", "restore") to how the activity report shows them: translated
	// into the site's language.
	Actions map[string]string `json:"actions,omitempty"`
	// ManagerName is how a user's manager is named: "display_name" (its
	// display name, else its name: Snipe-IT 8) or "name" (its name:
	// 7.x); "" while no data told.
	ManagerName string `json:"manager_name,omitempty"`
	// AssetsCount is whether a user's assets_count counts soft-deleted
	// assets still assigned: "live" (from 7.1.16) or "with_deleted"
	// (before); "" while no data told.
	AssetsCount string `json:"assets_count,omitempty"`
	// ArchivedInDefault is whether the default assets listing shows
	// archived assets (show_archived_in_list); nil while unknown.
	ArchivedInDefault *bool `json:"archived_in_default,omitempty"`
}

// The values of Traits.ManagerName and Traits.AssetsCount.
const (
	ManagerByDisplayName = "display_name"
	ManagerByName        = "name"
	AssetsCountLive      = "live"
	AssetsCountDeleted   = "with_deleted"
)

// ItemCounts are changes to a user's license seats, accessories and
// consumables.
type ItemCounts struct {
	Licenses, Accessories, Consumables int32
}

// Facts are what an incremental run learnt from Snipe-IT besides the rows
// that changed, for the mirror to bring the columns derived from other
// records up to date (model.MirrorTx's Derive). A nil listing was not read:
// the names it holds are left as they are.
type Facts struct {
	Departments, Locations, Companies, Suppliers []Reference
	Models                                       []AssetModel
	StatusLabels                                 []StatusLabel
	// ItemDeltas are the license seats, accessories and consumables
	// checked out (+) and in (−) per user since the state's activity
	// position. Each user in it, and each user staged, gets its stored
	// counts (0 for a user new or restored) plus its delta — except the
	// users in RowCounts, whose staged row's counts are right as they are.
	ItemDeltas map[int64]ItemCounts
	RowCounts  []int64
	// AssetsCounts derives users' assets_count from the assets mirror,
	// which must then be current (its scope synced just before).
	AssetsCounts bool
	// Traits says how the derived names and counts are formed; a rule
	// still unknown derives a row only where every rule gives the same.
	Traits Traits
	// Only, when set, limits the derivation to these columns (the others
	// were derived before).
	Only []string
}

// Evidence is what the staged rows (fresh from Snipe-IT) say about the
// server's rules: how many rows fit only one rule.
type Evidence struct {
	ManagerByDisplayName, ManagerByName int64
	AssetsCountLive, AssetsCountDeleted int64
}
