// Package snipeittest is an in-process Snipe-IT simulator for tests,
// benchmarks and demos: an http.Handler that answers GET /api/v1/users,
// /api/v1/users/{id}, /api/v1/users/me, /api/v1/hardware and
// /api/v1/hardware/{id} the way Snipe-IT 8.6, 8.5 or 5.0 does, with
// injectable faults, and that says what a correct mirror of its data is.
//
// # Use
//
//	data := snipeittest.Generate(snipeittest.GenerateConfig{Users: 500, Assets: 300, Seed: 1})
//	sim := snipeittest.Start(t, snipeittest.Config{Data: data, RateLimitPerMinute: 120})
//	sim.Inject(snipeittest.Fault{Path: "/api/v1/users", Kind: snipeittest.FaultStatus, Status: 503, Times: 2})
//	// … run the client against sim.URL() with sim.Token() …
//	if diff := cmp.Diff(sim.Users(), mirroredUsers); diff != "" { … }
//
// Generate makes deterministic, varied data; tests can also build User and
// Asset records by hand. Mutations (AddUser, UpdateUser, DeleteUser,
// RestoreUser, PurgeUser, the asset equivalents, ArchiveAsset, Replace,
// Clear) are safe while requests are served; OnRequest runs a hook before
// each response is built, so a test can change data between two pages.
// Stats reports what was served.
//
// Faults replace an answer (error statuses and envelopes, HTML, redirects,
// truncated or cut bodies, resets, hangs, 429s) or bend a list page the
// way a broken or busy server does, for a pager's safety exits: a short
// page (a lowered MAX_RESULTS; one row per page), rows out of id order, a
// blank page with the real total, and churn, which deletes, adds and
// updates records before each page it matches.
//
// # Faithful
//
// Rows have the keys of Snipe-IT's transformers in their order, per
// version; every string passes through PHP's e(); JSON is written as PHP's
// json_encode writes it ("\/", "\u00e9"); dates and datetimes are
// {"date"|"datetime","formatted"} objects in the server's timezone; money
// uses the site's digit separator; groups is null or {total, rows};
// custom_fields is keyed by display name ({} or, on 5.0, []). Counts that
// Snipe-IT computes from stored relations (assets_count,
// manages_users_count, child_asset_count), a manager's name, an assignee's
// object, status_meta, warranty_expires, eol, age, book_value and
// available_actions are derived from the stored records and stay right as
// they change. Paging follows each version's limit/offset/page rules
// (abs(intval), the MAX_RESULTS cap, offset clamping); sort and order
// follow the controllers, and ties on the default sorts come back in a new
// order on every request, as from a live MySQL table. Users: live by
// default, deleted=true, all=true. Hardware: archived and deleted assets
// are hidden by default; status=Archived, status=Deleted, the other status
// values and status_id select as Snipe-IT does. Authentication, the 302 to
// /login without Accept: application/json, 404/405 bodies (JSON or HTML
// by the Accept header), the HTTP 200 "not found" envelopes, the opt-in
// User-Agent check, and Laravel's fixed-window rate limiter with each
// version's headers and 429 body are those of the examples in
// pkg/snipeit/testdata, which the tests reproduce.
//
// # Simplified
//
// Search is a case-insensitive substring match over a few columns and
// sorts compare bytes, not MySQL collations; only the common filters and
// sort columns exist (unknown ones are ignored, unknown sorts fall back to
// the default, as in Snipe-IT). Notes render only **bold** and *em* of
// Parsedown's inline Markdown. Locations, companies, models and the like
// are values inside the records, not tables of their own. The rate limit is
// per token, where Snipe-IT's is per user. /users/me returns the
// transformer row on every version (5.0 returned the raw model). A
// deactivated token owner, writes, filter= JSON and relation sorts are not
// modelled. Book value is a straight line over whole months.
package snipeittest
