package model

import (
	"context"
	"iter"
)

// MirrorTx is one scope's write to the mirror, in one transaction, as a
// sequence of steps that the sync use case drives and decides between:
//
//	Stage    stream the fetched rows into the transaction
//	Vanished the live rows that did not come
//	LiveRows how many live rows the mirror holds (for the guard)
//	Changes  what Apply would do, row by row (dry runs, reports)
//	Apply    write the staged rows and soft-delete exactly the ids given
//	Commit   make it visible, all of it at once; Rollback drops it
//
// The store only answers and writes; which vanished rows are deleted, and
// whether the run may delete them at all, is the caller's decision
// (pkg/syncer). An incremental run uses the same steps without Vanished:
// it stages the rows that changed, has the store derive and stage the rows
// whose names or counts other records changed (Derive), and applies the
// deletions it was told of, so nothing that did not come is deleted; the
// scope's state (SetState) is committed with them.
//
// pkg/postgres implements it and pkg/syncer consumes it; it is declared
// here because a store's Begin method must return one type that both can
// name.
type MirrorTx[T any] interface {
	// Stage streams the rows that rows(ctx) yields into the transaction
	// while they are still being fetched, and returns how many distinct
	// rows are staged so far (a row yielded twice counts once; the last
	// one wins, also over a row of an earlier call). rows gets a context
	// that Stage cancels when writing fails while rows are still coming,
	// so that a source blocked on a slow page returns at once; Stage
	// returns only after the sequence has. An error from the sequence is
	// returned as the failure.
	Stage(ctx context.Context, rows func(context.Context) iter.Seq2[*T, error]) (int64, error)
	// Derive stages the live rows (as they will be after Apply(deleted))
	// whose columns derived from other records differ from what facts
	// say: embedded names, counts. It returns how many it staged, and the
	// ids of rows it left alone because a rule they need is still unknown
	// (facts.Traits).
	Derive(ctx context.Context, facts Facts, deleted []int64) (staged int64, undecided []int64, err error)
	// Evidence tells, from the staged rows, which of the server's rules
	// they fit (see Evidence). assets says whether the assets mirror is
	// current, so that users' assets_count can be compared with it.
	Evidence(ctx context.Context, assets bool) (Evidence, error)
	// State returns the scope's incremental state as the transaction sees
	// it; ok is false when there is none.
	State(ctx context.Context) (st SyncState, ok bool, err error)
	// SetState writes the scope's state, to be committed with the rows. A
	// dry run's transaction refuses it.
	SetState(ctx context.Context, st SyncState) error
	// Vanished returns the ids of live mirror rows that were not staged,
	// ascending.
	Vanished(ctx context.Context) ([]int64, error)
	// LiveRows returns how many live (not soft-deleted) rows the mirror
	// holds.
	LiveRows(ctx context.Context) (int64, error)
	// Changes calls emit, in id order, with each change Apply(deleted)
	// would make: staged rows that are new, changed (with the changed
	// columns) or come back from a soft delete, and live rows among
	// deleted.
	Changes(ctx context.Context, deleted []int64, emit func(Change)) error
	// Apply inserts new staged rows, rewrites changed ones (an unchanged
	// row is not written at all), restores soft-deleted ones, and
	// soft-deletes the live rows among deleted; nothing else. It returns
	// the run's counts: the rows staged, inserted, updated (restores
	// included), deleted, and the staged rows left unchanged. A dry run's
	// transaction refuses it.
	Apply(ctx context.Context, deleted []int64) (RunCounts, error)
	// Commit ends the transaction, making every change visible at once.
	// A dry run's transaction refuses it.
	Commit(ctx context.Context) error
	// Rollback ends the transaction without writing anything; after
	// Commit it does nothing, so it can be deferred. It works on a
	// cancelled ctx too (SIGTERM).
	Rollback(ctx context.Context)
}
