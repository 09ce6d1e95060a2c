// Package snipeittest is an in-process Snipe-IT simulator for tests,
// benchmarks and demos: an http.Handler that answers GET /api/v1/users,
// /api/v1/users/{id}, /api/v1/users/me, /api/v1/hardware,
// /api/v1/hardware/{id}, /api/v1/reports/activity, /api/v1/departments,
// /api/v1/locations and /api/v1/companies, and POST
// /api/v1/hardware/{id}/checkout and /checkin, the way Snipe-IT 8.6, 8.5,
// 7.0 or 5.0 does, with injectable faults; it sends Snipe-IT's webhooks
// and says what a correct mirror of its data is.
//
// # Use
//
//	data := snipeittest.Generate(snipeittest.GenerateConfig{Users: 500, Assets: 300, Seed: 1})
//	sim := snipeittest.Start(t, snipeittest.Config{Data: data, RateLimitPerMinute: 120})
//	sim.Inject(snipeittest.Fault{Path: "/api/v1/users", Kind: snipeittest.FaultStatus, Status: 503, Times: 2})
//	// … run the client against sim.URL() with sim.Token() …
//	if diff := cmp.Diff(sim.Users(), mirroredUsers); diff != "" { … }
//
// Generate makes deterministic, varied data; tests can also build User,
// Asset, License, Accessory and Consumable records by hand.
//
// # Changes
//
// The mutations read like Snipe-IT's UI actions and do exactly what
// Snipe-IT does to updated_at, the action log and webhooks:
// CheckoutAsset, CheckinAsset, AuditAsset, RequestAsset,
// CancelAssetRequest, CheckoutLicenseSeat, CheckinLicenseSeat,
// CheckoutAccessory, CheckinAccessory, CheckoutConsumable, AddUser,
// UpdateUser, SetManager, SetGroups, Login, DeleteUser, RestoreUser,
// PurgeUser, AddAsset, UpdateAsset, ArchiveAsset, UnarchiveAsset,
// DeleteAsset, RestoreAsset, PurgeAsset, Purge (snipeit:purge),
// RenameDepartment, RenameLocation, SetLocationManager, RenameCompany,
// RenameModel, RenameStatusLabel; RandomChange picks one of them. A row's updated_at
// moves (to Config.Now, to the second) only when one of its own columns
// changes: a checkout bumps the asset, not the user whose assets_count
// goes up; license, accessory and consumable checkouts, group changes and
// renames bump nobody, and a location's new manager bumps the location
// alone. The log gets Snipe-IT's entries (user ones from
// 6.3, so not on 5.0); the general webhook (SetWebhook, from 6.1) is sent
// synchronously on checkouts, checkins, audits and requests, and on
// nothing else. They are safe while requests are served; a FaultMutate
// makes one between two pages of a walk, and OnRequest runs a hook before
// each response is built. Replace and Clear swap the whole data set.
// Stats reports what was served. The counts of license seats,
// accessories and consumables, assets_count (which counts soft-deleted
// assets before 7.1.16), manages_users_count and manages_locations_count
// are read from the stored records, as Snipe-IT's withCount() reads them.
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
// follow the controllers per version (users cannot sort by updated_at
// before 7.1.14: the simulator's 7.0 and 5.0 answer in first_name order,
// silently); rows that tie on a sort key come in an order that depends on
// the page's offset+limit and on the data, as MySQL's filesort orders
// them, so an offset walk over a non-unique sort skips and repeats rows;
// datetimes sort by their wall clock in APP_TIMEZONE. Users: live by
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
// are values inside the records, not tables of their own: departments,
// locations and companies are listed from what the records show (id, name,
// user and asset counts, dates), the rest not at all; license seats,
// accessories and consumables exist only to be checked out. The
// activity report's rows have no location, file or signature, and its
// search looks at the action type, the note and the item's and target's
// names. Only checkouts to users are modelled, and only asset checkouts
// and checkins can be written through the API. Webhook texts are the
// English ones; only the general (Slack-format) webhook exists. Where the
// row shapes of 6.x and 7.x were not read (a 7.0 manager's name, notes),
// the simulator's 7.0 takes the nearer documented version's. The rate
// limit is per token, where Snipe-IT's is per user. /users/me returns the
// transformer row on every version (5.0 returned the raw model). A
// deactivated token owner, other writes, filter= JSON and relation sorts
// are not modelled. Book value is a straight line over whole months.
package snipeittest
