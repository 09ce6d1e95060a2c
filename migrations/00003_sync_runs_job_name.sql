-- +goose Up
-- GET /sync/jobs joins the Kubernetes Jobs to the runs they recorded by Job
-- name; without this index each call would scan every run ever recorded.
-- Rows without a Job (usersync run by hand) are left out of it.
CREATE INDEX sync_runs_job_name_idx ON sync_runs (job_name) WHERE job_name IS NOT NULL;

-- +goose Down
DROP INDEX sync_runs_job_name_idx;
