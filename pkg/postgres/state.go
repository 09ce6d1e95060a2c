package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/pkg/model"
)

// State reads the scope's incremental state (sync_state) in the
// transaction.
func (m *mirrorTx[T]) State(ctx context.Context) (model.SyncState, bool, error) {
	return readState(ctx, m.tx, m.table.scope)
}

// SetState writes the scope's incremental state in the transaction, so it
// is committed with the rows it describes, or not at all.
func (m *mirrorTx[T]) SetState(ctx context.Context, st model.SyncState) error {
	if m.dryRun {
		return fmt.Errorf("set %s state: %w", m.table.name, errDryRun)
	}
	traits, err := json.Marshal(st.Traits)
	if err != nil {
		return fmt.Errorf("set %s state: %w", m.table.name, err)
	}
	var at *time.Time
	if !st.UpstreamAt.IsZero() {
		at = &st.UpstreamAt
	}
	_, err = m.tx.Exec(ctx, `INSERT INTO sync_state (scope, watermark, activity_id, upstream_rows, upstream_at, traits, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (scope) DO UPDATE SET watermark = excluded.watermark, activity_id = excluded.activity_id,
		    upstream_rows = excluded.upstream_rows, upstream_at = excluded.upstream_at, traits = excluded.traits,
		    updated_at = excluded.updated_at`,
		string(m.table.scope), st.Watermark, st.ActivityID, st.UpstreamRows, at, traits)
	if err != nil {
		return classify(fmt.Errorf("set %s state: %w", m.table.name, err))
	}
	return nil
}

// State reads scope's incremental state outside any mirror transaction
// (for a run's plan, and for tests); ok is false when there is none.
func (db *DB) State(ctx context.Context, scope model.Scope) (model.SyncState, bool, error) {
	return readState(ctx, db.pool, scope)
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readState(ctx context.Context, q rowQuerier, scope model.Scope) (model.SyncState, bool, error) {
	st := model.SyncState{Scope: scope}
	var traits []byte
	var at *time.Time
	err := q.QueryRow(ctx, "SELECT watermark, activity_id, upstream_rows, upstream_at, traits FROM sync_state WHERE scope = $1", string(scope)).
		Scan(&st.Watermark, &st.ActivityID, &st.UpstreamRows, &at, &traits)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, classify(fmt.Errorf("read %s state: %w", scope, err))
	}
	if err := json.Unmarshal(traits, &st.Traits); err != nil {
		return st, false, fmt.Errorf("read %s state: traits: %w", scope, err)
	}
	st.Watermark = st.Watermark.UTC()
	if at != nil {
		st.UpstreamAt = at.UTC()
	}
	return st, true, nil
}
