package api

import (
	"context"
	"net/http"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// SyncRun is one recorded run of one scope.
type SyncRun struct {
	ID              int64      `json:"id"`
	Scope           string     `json:"scope" enum:"users,assets"`
	Trigger         string     `json:"trigger" enum:"schedule,manual,api,webhook,cli" doc:"What started the run: schedule (a CronJob's schedule), manual (kubectl create job --from=cronjob/…), api (POST /sync/*), webhook (Snipe-IT's webhook, through usersapi) or cli (usersync run by hand)."`
	Mode            string     `json:"mode" enum:"full,incremental" doc:"How the run read Snipe-IT: every row (full) or what changed since the last run (incremental)."`
	FallbackReason  *string    `json:"fallback_reason" doc:"Why a run asked to be incremental read everything instead (no_watermark, unsorted, ties, shifting, watermark_unusable, no_activity_log, activity, count_mismatch); null otherwise."`
	JobName         *string    `json:"job_name" doc:"The Kubernetes Job that ran it, when known."`
	Status          string     `json:"status" enum:"running,succeeded,failed,skipped"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	DurationSeconds *float64   `json:"duration_seconds"`
	Fetched         int64      `json:"fetched"`
	Inserted        int64      `json:"inserted"`
	Updated         int64      `json:"updated"`
	Deleted         int64      `json:"deleted"`
	Unchanged       int64      `json:"unchanged"`
	Error           *string    `json:"error"`
}

func newSyncRun(r *model.SyncRun) SyncRun {
	out := SyncRun{
		ID: r.ID, Scope: string(r.Scope), Trigger: r.Trigger, JobName: optString(&r.JobName),
		Status: string(r.Status), StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Fetched: r.Counts.Fetched, Inserted: r.Counts.Inserted, Updated: r.Counts.Updated,
		Deleted: r.Counts.Deleted, Unchanged: r.Counts.Unchanged, Error: optString(&r.Error),
		Mode: string(r.Mode), FallbackReason: optString(&r.FallbackReason),
	}
	if out.Mode == "" {
		out.Mode = string(model.ModeFull)
	}
	if r.FinishedAt != nil {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		out.DurationSeconds = &d
	}
	return out
}

// ScopeStatus is what an operator checks first about one scope.
type ScopeStatus struct {
	Scope       string   `json:"scope" enum:"users,assets"`
	LastRun     *SyncRun `json:"last_run,omitempty" doc:"The latest run, whatever its outcome; absent before the first."`
	LastSuccess *SyncRun `json:"last_success,omitempty" doc:"The latest successful run; absent before the first."`
	// LastSuccessAgeSeconds is what alerts compare to the schedule.
	LastSuccessAgeSeconds *float64 `json:"last_success_age_seconds" doc:"Seconds since the latest successful run finished; null before the first."`
	LiveRows              int64    `json:"live_rows" doc:"Rows the mirror holds that exist in Snipe-IT."`
	DeletedRows           int64    `json:"deleted_rows" doc:"Rows the mirror keeps as soft-deleted."`
}

type listRunsInput struct {
	Paging
	Scope  string `query:"scope" enum:"users,assets" doc:"Only runs of this scope."`
	Status string `query:"status" enum:"running,succeeded,failed,skipped" doc:"Only runs that ended so (or are running)."`
}

type listRunsOutput struct {
	Link string `header:"Link" doc:"<URL>; rel=\"next\" when another page follows."`
	Body []SyncRun
}

// defaultRunsLimit is the page size of GET /sync/runs without limit: runs
// are paged always, the newest being what matters.
const defaultRunsLimit = 50

type syncStatusOutput struct {
	Body struct {
		Scopes []ScopeStatus `json:"scopes"`
	}
}

func (s *service) registerSync() {
	get(s, scopeRead, "list-sync-runs", tagSync, "/sync/runs", "List sync runs",
		func(ctx context.Context, in *listRunsInput) (*listRunsOutput, error) {
			p := in.page()
			if in.Limit == 0 {
				p.Limit = defaultRunsLimit
				in.Limit = defaultRunsLimit
			}
			runs, next, err := s.deps.Runs.ListRuns(ctx, model.RunFilter{Scope: model.Scope(in.Scope), Status: model.RunStatus(in.Status)}, p)
			if err != nil {
				return nil, err
			}
			out := &listRunsOutput{Body: make([]SyncRun, len(runs))}
			for i := range runs {
				out.Body[i] = newSyncRun(&runs[i])
			}
			if next != "" {
				out.Link = in.nextLink(next)
			}
			return out, nil
		},
		openToPublicReads,
		withErrors(http.StatusUnprocessableEntity),
		withDescription("Recorded sync runs, newest first, 50 a page unless limit says otherwise; "+
			"a Link header with rel=\"next\" gives the next page."))

	get(s, scopeRead, "get-sync-status", tagSync, "/sync/status", "Sync status per scope",
		func(ctx context.Context, _ *struct{}) (*syncStatusOutput, error) {
			sts, err := s.deps.Runs.ScopeStatuses(ctx)
			if err != nil {
				return nil, err
			}
			now := s.now()
			out := &syncStatusOutput{}
			out.Body.Scopes = make([]ScopeStatus, len(sts))
			for i, st := range sts {
				o := ScopeStatus{Scope: string(st.Scope), LiveRows: st.LiveRows, DeletedRows: st.DeletedRows}
				if st.LastRun != nil {
					r := newSyncRun(st.LastRun)
					o.LastRun = &r
				}
				if st.LastSuccess != nil {
					r := newSyncRun(st.LastSuccess)
					o.LastSuccess = &r
					finished := st.LastSuccess.StartedAt
					if st.LastSuccess.FinishedAt != nil {
						finished = *st.LastSuccess.FinishedAt
					}
					age := now.Sub(finished).Seconds()
					o.LastSuccessAgeSeconds = &age
				}
				out.Body.Scopes[i] = o
			}
			return out, nil
		},
		openToPublicReads,
		withDescription("Per scope: the latest run, the latest success and its age, and the mirror's row counts."))
}
