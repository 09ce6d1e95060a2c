package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersync/usersync/pkg/model"
)

// SyncLauncher starts sync Jobs from usersync's CronJob and lists them.
// *kube.Launcher satisfies it. Its errors carry model.ErrConflict (a sync
// Job is unfinished), ErrInvalid, ErrNotConfigured, ErrDenied or
// ErrKubernetesUnavailable.
type SyncLauncher interface {
	// LaunchSync creates a Job of scope (users, assets or all), full or
	// incremental, and returns it with created true; with an idempotency
	// key used before, it returns that request's Job with created false
	// (ErrInvalid when that Job is of another scope or mode).
	LaunchSync(ctx context.Context, scope model.Scope, incremental bool, idempotencyKey string) (job model.SyncJob, created bool, err error)
	// ListSyncJobs returns the CronJob's Jobs, newest first. The API
	// calls it at most once per Deps.JobsCacheTTL (see jobCache).
	ListSyncJobs(ctx context.Context) ([]model.SyncJob, error)
}

// errSyncOff answers every sync-job operation when usersapi runs without
// SYNC_CRONJOB.
var errSyncOff = fmt.Errorf("%w: SYNC_CRONJOB is unset", model.ErrNotConfigured)

// SyncJob is a Kubernetes Job that runs usersync, with the runs it recorded.
type SyncJob struct {
	Name       string     `json:"name" doc:"The Job's name."`
	Scope      string     `json:"scope" enum:"users,assets,all"`
	Mode       string     `json:"mode" enum:"full,incremental" doc:"full: every row of the scope; incremental: what changed since the last run (usersync --incremental)."`
	Trigger    string     `json:"trigger" enum:"schedule,manual,api,webhook" doc:"schedule: a CronJob's schedule (SYNC_CRONJOB's or SYNC_INCREMENTAL_CRONJOB's); manual: kubectl create job --from=cronjob/…; api: POST /sync/*; webhook: Snipe-IT's webhook."`
	State      string     `json:"state" enum:"pending,running,succeeded,failed"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at" doc:"When the Job started; null while it waits."`
	FinishedAt *time.Time `json:"finished_at" doc:"When the Job succeeded or failed; null before."`
	Runs       []SyncRun  `json:"runs" doc:"The sync_runs rows the Job recorded, one per scope it synced, oldest first (none before usersync starts)."`
}

func newSyncJob(j *model.SyncJob, runs []SyncRun) SyncJob {
	if runs == nil {
		runs = []SyncRun{}
	}
	mode := model.ModeFull
	if j.Incremental {
		mode = model.ModeIncremental
	}
	return SyncJob{Name: j.Name, Scope: string(j.Scope), Mode: string(mode), Trigger: j.Trigger, State: string(j.State),
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, Runs: runs}
}

type startSyncInput struct {
	Mode           string `query:"mode" enum:"full,incremental" default:"full" doc:"full reads every row of the scope; incremental reads what changed since the last run (usersync --incremental, which falls back to a full pass when it cannot)."`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeating a request with the same key returns the Job the first one started, for as long as that Job exists, instead of starting another."`
	path           string
}

// Resolve implements huma.Resolver to keep the request path, from which
// Location is made (BASE_PATH included).
func (in *startSyncInput) Resolve(ctx huma.Context) []error {
	in.path = ctx.URL().Path
	return nil
}

type startSyncOutput struct {
	Location string `header:"Location" doc:"The Job: GET /sync/jobs/{name}."`
	Body     struct {
		Status string `json:"status" doc:"What was scheduled, in the original service's words."`
		Job    string `json:"job" doc:"The name of the Kubernetes Job that runs the sync."`
	}
}

type listSyncJobsOutput struct {
	Body []SyncJob
}

// getSyncJobInput's pattern is what a Job name may be: a DNS subdomain
// that also fits a label value (the job-name label of its pods).
type getSyncJobInput struct {
	Name string `path:"name" maxLength:"63" pattern:"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" doc:"The Job's name."`
}

type getSyncJobOutput struct {
	Body SyncJob
}

// syncStarts are the three POST operations and the original service's
// answers to them.
var syncStarts = []struct {
	scope              model.Scope
	id, path, status   string
	summary, describes string
}{
	{model.ScopeUsers, "start-users-sync", "/sync/users", "users sync scheduled", "Sync users now", "users"},
	{model.ScopeAssets, "start-assets-sync", "/sync/assets", "assets sync scheduled", "Sync assets now", "assets"},
	{model.ScopeAll, "start-full-sync", "/sync/all", "full sync scheduled (assets + users)", "Sync users and assets now", "users and assets"},
}

// Outcomes of a sync trigger, as usersapi_sync_triggers_total counts them.
const (
	outcomeAccepted  = "accepted"
	outcomeConflict  = "conflict"
	outcomeFailed    = "failed"
	outcomeForbidden = "forbidden"
)

func (s *service) registerSyncJobs() {
	triggers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersapi_sync_triggers_total",
		Help: "POST /sync/* requests by scope and outcome: accepted (a Job started, or an idempotent repeat), " +
			"conflict (a sync Job was unfinished), forbidden (Kubernetes RBAC refused usersapi), failed (anything else).",
	}, []string{"scope", "outcome"})
	for _, st := range syncStarts {
		for _, o := range []string{outcomeAccepted, outcomeConflict, outcomeFailed, outcomeForbidden} {
			triggers.WithLabelValues(string(st.scope), o)
		}
	}
	if s.deps.Registry != nil {
		s.deps.Registry.MustRegister(triggers)
	}

	for _, st := range syncStarts {
		operation(s, http.MethodPost, scopeSync, st.id, tagSync, st.path, st.summary,
			func(ctx context.Context, in *startSyncInput) (*startSyncOutput, error) {
				job, err := s.launch(ctx, st.scope, in.Mode == string(model.ModeIncremental), in.IdempotencyKey)
				triggers.WithLabelValues(string(st.scope), triggerOutcome(err)).Inc()
				if err != nil {
					return nil, err
				}
				out := &startSyncOutput{Location: path.Join(path.Dir(in.path), "jobs", job.Name)}
				out.Body.Status, out.Body.Job = st.status, job.Name
				return out, nil
			},
			func(op *huma.Operation) { op.DefaultStatus = http.StatusAccepted },
			withErrors(http.StatusConflict, http.StatusUnprocessableEntity),
			withDescription("Starts a sync of "+st.describes+" as a Kubernetes Job made from usersync's CronJob "+
				"(the same image, configuration and history as scheduled runs) and answers 202 with the Job's name "+
				"and its Location; mode=incremental makes it an incremental run. 409 names the sync Job that is unfinished, "+
				"whatever its scope, mode or trigger (SYNC_INCREMENTAL_CRONJOB's included); 422 for an Idempotency-Key "+
				"used before for another scope or mode; 503 when "+
				"sync on demand is not configured, Kubernetes refuses usersapi, or does not answer within 5 s."))
	}

	get(s, scopeRead, "list-sync-jobs", tagSync, "/sync/jobs", "List sync Jobs",
		func(ctx context.Context, _ *struct{}) (*listSyncJobsOutput, error) {
			if s.jobs == nil {
				return nil, errSyncOff
			}
			jobs, err := s.jobs.list(ctx)
			if err != nil {
				return nil, err
			}
			runs, err := s.runsOfJobs(ctx, jobs...)
			if err != nil {
				return nil, err
			}
			out := &listSyncJobsOutput{Body: make([]SyncJob, len(jobs))}
			for i := range jobs {
				out.Body[i] = newSyncJob(&jobs[i], runs[jobs[i].Name])
			}
			return out, nil
		},
		withDescription("The Jobs of usersync's CronJob, and of its incremental CronJob when SYNC_INCREMENTAL_CRONJOB "+
			"names one, that Kubernetes still keeps (their history limits and "+
			"the Jobs' ttlSecondsAfterFinished decide how many), scheduled, from kubectl, from POST /sync/* and from the webhook, "+
			"newest first, each with the sync_runs rows it recorded. The Jobs come from a list of them that is "+
			"at most SYNC_JOBS_CACHE_TTL (5 s) old. Needs a token even with PUBLIC_READS."))

	get(s, scopeRead, "get-sync-job", tagSync, "/sync/jobs/{name}", "Get a sync Job",
		func(ctx context.Context, in *getSyncJobInput) (*getSyncJobOutput, error) {
			if s.jobs == nil {
				return nil, errSyncOff
			}
			job, err := s.jobs.get(ctx, in.Name)
			if err != nil {
				return nil, err
			}
			runs, err := s.runsOfJobs(ctx, job)
			if err != nil {
				return nil, err
			}
			return &getSyncJobOutput{Body: newSyncJob(&job, runs[job.Name])}, nil
		},
		withErrors(http.StatusNotFound, http.StatusUnprocessableEntity),
		withDescription("One Job of usersync's CronJob with the sync_runs rows it recorded; 404 for a Job "+
			"that does not exist or is not the CronJob's. Its state is at most SYNC_JOBS_CACHE_TTL (5 s) old. "+
			"Needs a token even with PUBLIC_READS."))
}

// launch starts a sync Job through the launcher, if there is one.
func (s *service) launch(ctx context.Context, scope model.Scope, incremental bool, key string) (model.SyncJob, error) {
	if s.deps.Launcher == nil {
		return model.SyncJob{}, errSyncOff
	}
	job, created, err := s.deps.Launcher.LaunchSync(ctx, scope, incremental, key)
	if err != nil {
		return model.SyncJob{}, err
	}
	s.jobs.launched()
	if created {
		s.log.InfoContext(ctx, "sync job started", "job", job.Name, "scope", string(scope), "incremental", incremental,
			"request_id", RequestID(ctx))
	}
	return job, nil
}

// triggerOutcome classifies a launch's result for the trigger metric.
func triggerOutcome(err error) string {
	switch {
	case err == nil:
		return outcomeAccepted
	case errors.Is(err, model.ErrConflict):
		return outcomeConflict
	case errors.Is(err, model.ErrDenied):
		return outcomeForbidden
	default:
		return outcomeFailed
	}
}

// runsOfJobs reads the runs the jobs recorded, by Job name.
func (s *service) runsOfJobs(ctx context.Context, jobs ...model.SyncJob) (map[string][]SyncRun, error) {
	names := make([]string, len(jobs))
	for i := range jobs {
		names[i] = jobs[i].Name
	}
	runs, err := s.deps.Runs.RunsOfJobs(ctx, names)
	if err != nil {
		return nil, err
	}
	byJob := make(map[string][]SyncRun, len(jobs))
	for i := range runs {
		byJob[runs[i].JobName] = append(byJob[runs[i].JobName], newSyncRun(&runs[i]))
	}
	return byJob, nil
}
