package model

import "errors"

// Sentinel errors. Layers wrap them with context (fmt.Errorf("…: %w", err));
// the API maps them to HTTP statuses with errors.Is in one table, and the
// usersync command maps them to exit statuses.
var (
	// ErrNotFound: the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the input (a flag, a request parameter, a cursor) is malformed.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: a dependency (the database, Snipe-IT) cannot be reached
	// right now; trying again later may succeed.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrBusy: the service is at capacity right now (every database
	// connection or stream slot is taken); trying again shortly may succeed.
	ErrBusy = errors.New("busy")
	// ErrConflict: the request conflicts with the current state, e.g. a sync
	// is already running.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized: no or an unknown credential.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a known credential without the needed scope.
	ErrForbidden = errors.New("forbidden")
	// ErrLocked: another sync holds the single-writer lock; the run is skipped.
	ErrLocked = errors.New("another sync is running")
	// ErrMassDelete: the run would soft-delete more rows than the guard allows.
	ErrMassDelete = errors.New("refusing mass delete")
	// ErrUpstream: Snipe-IT answered with something that is not data (an
	// error body, HTML, a truncated page) after every retry.
	ErrUpstream = errors.New("snipe-it error")
)
