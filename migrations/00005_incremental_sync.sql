-- +goose Up
-- Incremental sync (usersync --incremental). sync_state holds, per scope,
-- where the last successful run left off: the watermark (a time in
-- Snipe-IT's clock up to which every change is in the mirror), the last
-- activity log entry the mirror accounts for (NULL when the token may not
-- read the log), how many rows Snipe-IT held and when (users, live and
-- deleted: a purge shows as fewer than the rows created since explain),
-- and what runs learnt about the server (traits). A run
-- writes its scope's row in the transaction that writes the mirror's rows,
-- so the two never disagree; a dry run reads it and writes nothing.
CREATE TABLE sync_state (
    scope       text PRIMARY KEY CHECK (scope IN ('users', 'assets')),
    watermark   timestamptz NOT NULL,
    activity_id bigint,
    upstream_rows bigint NOT NULL DEFAULT 0,
    upstream_at timestamptz,
    traits      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- How each run read Snipe-IT: 'full' (every row) or 'incremental' (what
-- changed since the watermark); fallback_reason says why a run asked to be
-- incremental read everything (no_watermark, unsorted, …), NULL otherwise;
-- watermark is the scope's watermark the run left. Runs recorded before
-- this migration were full.
ALTER TABLE sync_runs
    ADD COLUMN mode text NOT NULL DEFAULT 'full' CHECK (mode IN ('full', 'incremental')),
    ADD COLUMN fallback_reason text,
    ADD COLUMN watermark timestamptz;

-- +goose Down
ALTER TABLE sync_runs DROP COLUMN watermark, DROP COLUMN fallback_reason, DROP COLUMN mode;
DROP TABLE sync_state;
