-- +goose NO TRANSACTION
-- +goose Up
-- One row per export, however many pages it takes, and a history that
-- usersapi prunes (EXPORT_HISTORY_RETENTION). A CSV export paged with
-- limit and cursor was a row per page; now its first page inserts the row
-- and each later page adds to it: next_cursor is the cursor the export
-- handed out last, which the request for the next page brings back (it is
-- NULL once the last page was served). outcome gains 'partial': a paged
-- export whose client has not fetched its last page (yet).
--
-- Written for a rolling upgrade, in which the previous usersapi keeps
-- inserting rows beside the new one: the new column is nullable (its
-- inserts leave it NULL), and no statement holds a lock that blocks its
-- inserts for longer than a catalog change (the constraint is validated
-- and the indexes built without blocking writes). Hence no transaction:
-- every statement can be run again should one fail.
ALTER TABLE export_history ADD COLUMN IF NOT EXISTS next_cursor text;

ALTER TABLE export_history DROP CONSTRAINT IF EXISTS export_history_outcome_check;
ALTER TABLE export_history ADD CONSTRAINT export_history_outcome_check
    CHECK (outcome IN ('completed', 'cut', 'partial')) NOT VALID;
ALTER TABLE export_history VALIDATE CONSTRAINT export_history_outcome_check;

-- The next page of a paged export finds its row by the cursor it brings.
CREATE INDEX CONCURRENTLY IF NOT EXISTS export_history_next_cursor_idx
    ON export_history (next_cursor) WHERE next_cursor IS NOT NULL;
-- Pruning deletes the oldest rows without reading the others.
CREATE INDEX CONCURRENTLY IF NOT EXISTS export_history_started_at_idx ON export_history (started_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS export_history_started_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS export_history_next_cursor_idx;
UPDATE export_history SET outcome = 'cut' WHERE outcome = 'partial';
ALTER TABLE export_history DROP CONSTRAINT IF EXISTS export_history_outcome_check;
ALTER TABLE export_history ADD CONSTRAINT export_history_outcome_check CHECK (outcome IN ('completed', 'cut'));
ALTER TABLE export_history DROP COLUMN IF EXISTS next_cursor;
