package model

import (
	"errors"
	"time"
)

// ScopeAll names both scopes, as a request or a Job's --scope says it; a
// run (one sync_runs row) always has one scope of Scopes.
const ScopeAll Scope = "all"

// What started a sync run or Job, as sync_runs and the Jobs record it.
const (
	TriggerSchedule = "schedule" // the CronJob's schedule
	TriggerManual   = "manual"   // kubectl create job --from=cronjob/…
	TriggerAPI      = "api"      // POST /sync/*
	TriggerWebhook  = "webhook"  // a Snipe-IT webhook, through the API
	TriggerCLI      = "cli"      // usersync run by hand
)

// Triggers lists every trigger a run may record.
var Triggers = []string{TriggerSchedule, TriggerManual, TriggerAPI, TriggerWebhook, TriggerCLI}

// JobState is where a sync Job is in its life.
type JobState string

// The states of a sync Job. A Job is unfinished until it succeeded or
// failed.
const (
	JobPending   JobState = "pending"   // created; no pod has started yet
	JobRunning   JobState = "running"   // a pod runs (or has just ended)
	JobSucceeded JobState = "succeeded" // the Job completed
	JobFailed    JobState = "failed"    // the Job failed for good
)

// Finished reports whether a Job in state s has ended.
func (s JobState) Finished() bool { return s == JobSucceeded || s == JobFailed }

// SyncJob is one Kubernetes Job made from usersync's CronJob, whoever
// started it.
type SyncJob struct {
	Name string
	// Scope is users, assets or all.
	Scope Scope
	// Incremental is true of a Job that runs usersync --incremental (its
	// mode is "incremental"), false of a full run.
	Incremental bool
	// Trigger is TriggerSchedule, TriggerManual, TriggerAPI or
	// TriggerWebhook.
	Trigger    string
	State      JobState
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Sentinel errors of sync on demand; the API answers each with 503 and a
// problem that says what an operator must do.
var (
	// ErrNotConfigured: sync on demand is switched off (no SYNC_CRONJOB) or
	// its Kubernetes objects are missing or unusable (no such CronJob, no
	// container named usersync).
	ErrNotConfigured = errors.New("sync on demand is not configured")
	// ErrDenied: the Kubernetes API refused usersapi's own credentials
	// (RBAC forbids the call, or the token is not accepted). Unlike
	// ErrForbidden, it is about usersapi, not about the client.
	ErrDenied = errors.New("denied by the Kubernetes API")
	// ErrAdmissionDenied: RBAC allowed usersapi's call, but the Kubernetes
	// API's admission refused the object — a ResourceQuota or LimitRange,
	// the chart's ValidatingAdmissionPolicy, another policy or a webhook.
	// An operator must act (raise the quota, fix the policy or template).
	ErrAdmissionDenied = errors.New("refused by Kubernetes admission")
	// ErrKubernetesUnavailable: the Kubernetes API did not answer in time
	// or answered that it cannot serve now; trying again later may succeed.
	ErrKubernetesUnavailable = errors.New("the Kubernetes API is unavailable")
)
