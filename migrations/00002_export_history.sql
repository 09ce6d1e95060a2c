-- +goose Up
-- One row per export usersapi served: a CSV listing, or a JSON listing
-- streamed whole (the original service's ExportHistory). token_name is the
-- name given to the token in API_TOKENS_FILE — never the token — and NULL
-- for a token without a name or a public read. filters holds the listing's
-- filters as the request gave them. usersapi writes these rows: its
-- database role needs INSERT on this table (and nothing else but SELECT).
CREATE TABLE export_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    token_name  text,
    resource    text NOT NULL CHECK (resource IN ('users', 'assets', 'user_assets')),
    filters     jsonb NOT NULL DEFAULT '{}',
    format      text NOT NULL CHECK (format IN ('json', 'csv')),
    rows_sent   bigint NOT NULL,
    bytes_sent  bigint NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('completed', 'cut')),
    request_id  text
);

-- +goose Down
DROP TABLE export_history;
