-- +goose Up
-- The mirror of Snipe-IT users. Strings are stored HTML-decoded; optional
-- text is NULL when Snipe-IT sent null or "". A row is rewritten only when a
-- mirrored column changed (changed_at records when), so a sync with no
-- upstream change writes no row versions. deleted_at is set when the user
-- vanished upstream and cleared if it comes back. sync_hash is a digest of
-- the mirrored columns: it lets a sync leave unchanged rows out of what it
-- sends to PostgreSQL.
CREATE TABLE users (
    id                      bigint PRIMARY KEY,
    username                text NOT NULL,
    first_name              text NOT NULL,
    last_name               text NOT NULL,
    name                    text NOT NULL,
    display_name            text,
    email                   text,
    employee_num            text,
    jobtitle                text,
    phone                   text,
    mobile                  text,
    website                 text,
    address                 text,
    city                    text,
    state                   text,
    country                 text,
    zip                     text,
    locale                  text,
    notes                   text,
    department_id           bigint,
    department_name         text,
    location_id             bigint,
    location_name           text,
    manager_id              bigint,
    manager_name            text,
    company_id              bigint,
    company_name            text,
    company_ids             bigint[],
    groups                  text[],
    role                    text,
    activated               boolean NOT NULL,
    remote                  boolean NOT NULL,
    vip                     boolean NOT NULL,
    ldap_import             boolean NOT NULL,
    two_factor_enrolled     boolean NOT NULL,
    two_factor_optin        boolean NOT NULL,
    autoassign_licenses     boolean NOT NULL,
    assets_count            integer NOT NULL,
    licenses_count          integer NOT NULL,
    accessories_count       integer NOT NULL,
    consumables_count       integer NOT NULL,
    manages_users_count     integer NOT NULL,
    manages_locations_count integer NOT NULL,
    start_date              date,
    end_date                date,
    last_login              timestamptz,
    snipeit_created_at      timestamptz,
    snipeit_updated_at      timestamptz,
    deleted_at              timestamptz,
    changed_at              timestamptz NOT NULL DEFAULT now(),
    sync_hash               bytea
);
-- No index on department_id, location_id or the like: they hold a few dozen
-- distinct values, so a btree on each would make every insert of a sync
-- two to three times dearer while a filtered page (ORDER BY id LIMIT n)
-- reads the primary key in order anyway.

-- The mirror of Snipe-IT assets ("hardware"), archived ones included.
-- assigned_user_id is set when the asset is checked out to a user; it is not
-- a foreign key because an asset may point at a user the mirror has not seen
-- (yet) and the two scopes sync independently.
CREATE TABLE assets (
    id                  bigint PRIMARY KEY,
    asset_tag           text NOT NULL,
    name                text NOT NULL,
    serial              text NOT NULL,
    model_id            bigint,
    model_name          text,
    model_number        text,
    category_id         bigint,
    category_name       text,
    manufacturer_id     bigint,
    manufacturer_name   text,
    supplier_id         bigint,
    supplier_name       text,
    company_id          bigint,
    company_name        text,
    location_id         bigint,
    location_name       text,
    rtd_location_id     bigint,
    rtd_location_name   text,
    status_id           bigint,
    status_name         text,
    status_type         text,
    status_meta         text,
    assigned_type       text,
    assigned_to_id      bigint,
    assigned_user_id    bigint,
    byod                boolean NOT NULL,
    requestable         boolean NOT NULL,
    order_number        text,
    notes               text,
    purchase_cost       numeric(20, 2),
    warranty_months     integer,
    purchase_date       date,
    warranty_expires    date,
    eol_date            date,
    next_audit_date     date,
    expected_checkin    date,
    last_audit_date     timestamptz,
    last_checkout       timestamptz,
    last_checkin        timestamptz,
    snipeit_created_at  timestamptz,
    snipeit_updated_at  timestamptz,
    custom_fields       jsonb NOT NULL DEFAULT '{}',
    deleted_at          timestamptz,
    changed_at          timestamptz NOT NULL DEFAULT now(),
    sync_hash           bytea
);
-- A user's assets (GET /users/{id}/assets) are looked up by this one.
CREATE INDEX assets_assigned_user_id_idx ON assets (assigned_user_id);

-- One row per sync run of one scope, failed and skipped ones included. A run
-- inserts its row as 'running' before it starts, so the row survives a
-- rollback of the mirror transaction; a row left 'running' by a killed
-- process is marked failed by the next run.
CREATE TABLE sync_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('users', 'assets')),
    trigger     text NOT NULL,
    job_name    text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    fetched     bigint NOT NULL DEFAULT 0,
    inserted    bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    deleted     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    error       text
);
CREATE INDEX sync_runs_scope_started_idx ON sync_runs (scope, started_at DESC);

-- +goose Down
DROP TABLE sync_runs;
DROP TABLE assets;
DROP TABLE users;
