// Package kube starts usersync's syncs as Kubernetes Jobs and reads them
// back, with client-go. A Job is made from the CronJob's jobTemplate as
// `kubectl create job --from=cronjob/<name>` makes it (see newJob for the
// documented differences), so scheduled, manual and API runs share one
// definition and one history: the Jobs the CronJob controls.
//
// Launch refuses while any of those Jobs is unfinished, whatever started
// it. Two launches racing are serialised through a Lease named like the
// CronJob (see Launch); usersync's advisory lock in PostgreSQL stays the
// last guard, against a scheduled run starting at the same moment.
//
// Every call is bounded (Config.Timeout) and its errors carry the model
// sentinels the API maps to statuses: ErrConflict, ErrNotFound,
// ErrNotConfigured, ErrDenied, ErrKubernetesUnavailable.
//
// The RBAC usersapi needs, in the CronJob's namespace (testdata/rbac.yaml):
// get on the one CronJob and get, update on the one Lease (both by
// resourceNames); create, get, list on Jobs.
package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/usersync/usersync/pkg/model"
)

// DefaultTimeout bounds one Launch, ListJobs or GetJob: a Kubernetes API
// that is down or hangs makes the caller fail after this long.
const DefaultTimeout = 5 * time.Second

// launchGrace is how long a Lease naming a Job that does not exist yet
// blocks other launches: the launch that wrote it is creating that Job
// (its own deadline is Config.Timeout), or died in between.
const launchGrace = 30 * time.Second

// Config configures a Launcher.
type Config struct {
	// Client talks to the Kubernetes API; see NewClient.
	Client kubernetes.Interface
	// Namespace and CronJob name usersync's CronJob. Its Lease has the
	// CronJob's name.
	Namespace, CronJob string
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// JobTTL is the ttlSecondsAfterFinished of a launched Job whose
	// template has none; 0 means DefaultJobTTL.
	JobTTL time.Duration
	// Now is the clock of the Lease; nil means time.Now.
	Now func() time.Time
}

// Launcher starts sync Jobs from usersync's CronJob and lists them. It is
// safe for concurrent use, also across processes (replicas of usersapi).
type Launcher struct {
	client          kubernetes.Interface
	namespace, name string
	timeout, ttl    time.Duration
	now             func() time.Time
}

// NewLauncher returns a Launcher for cfg. It does not contact the API.
func NewLauncher(cfg Config) (*Launcher, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.CronJob == "" {
		return nil, fmt.Errorf("%w: kube launcher needs a client, a namespace and a CronJob name", model.ErrInvalid)
	}
	l := &Launcher{client: cfg.Client, namespace: cfg.Namespace, name: cfg.CronJob,
		timeout: cfg.Timeout, ttl: cfg.JobTTL, now: cfg.Now}
	if l.timeout == 0 {
		l.timeout = DefaultTimeout
	}
	if l.ttl == 0 {
		l.ttl = DefaultJobTTL
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// LaunchSync creates a Job of scope from the CronJob and returns it with
// created true. With an idempotency key it first looks for the Job an
// earlier request with the same key made, and returns that one (created
// false) while it exists; the same key for another scope is ErrInvalid.
// While any Job of the CronJob is unfinished it returns ErrConflict naming
// that Job.
//
// Check and create are made safe against concurrent launches (other
// requests, other replicas) by the Lease named like the CronJob: a launch
// reads the Lease, then lists the Jobs, and only if none is unfinished
// writes its new Job's name into the Lease — an update conditional on the
// Lease's resourceVersion, which the API server grants to one writer only
// — and then creates the Job. A launch that reads a Lease naming a Job
// that is not in its list, written less than launchGrace ago, is racing
// one that won and has not created its Job yet: ErrConflict too. So of any
// two launches the later one to update the Lease has seen the earlier
// one's Job (or its name in the Lease), and refuses.
func (l *Launcher) LaunchSync(ctx context.Context, scope model.Scope, idempotencyKey string) (model.SyncJob, bool, error) {
	if !validScope(scope) {
		return model.SyncJob{}, false, fmt.Errorf("%w: scope %q: want users, assets or all", model.ErrInvalid, scope)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cj, err := l.cronJob(ctx)
	if err != nil {
		return model.SyncJob{}, false, err
	}
	if syncContainer(&cj.Spec.JobTemplate.Spec.Template.Spec) == nil {
		return model.SyncJob{}, false, errNoContainer(cj)
	}
	digest := ""
	if idempotencyKey != "" {
		digest = keyDigest(idempotencyKey)
	}
	leases := l.client.CoordinationV1().Leases(l.namespace)
	for range 5 {
		lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if err != nil {
			return model.SyncJob{}, false, l.apiError(err, "get", "leases", l.name)
		}
		jobs, err := l.ownedJobs(ctx, cj.UID)
		if err != nil {
			return model.SyncJob{}, false, err
		}
		if digest != "" {
			if i := slices.IndexFunc(jobs, func(j batchv1.Job) bool { return j.Annotations[AnnotationIdempotencyKey] == digest }); i >= 0 {
				prev := summarize(&jobs[i])
				if prev.Scope != scope {
					return model.SyncJob{}, false, fmt.Errorf("%w: this Idempotency-Key started Job %s of scope %s, not %s",
						model.ErrInvalid, prev.Name, prev.Scope, scope)
				}
				return prev, false, nil
			}
		}
		for i := range jobs {
			if s := summarize(&jobs[i]); !s.State.Finished() {
				return model.SyncJob{}, false, fmt.Errorf("%w: sync Job %s (scope %s, trigger %s) is %s; try again when it has finished",
					model.ErrConflict, s.Name, s.Scope, s.Trigger, s.State)
			}
		}
		if pending := l.pendingLaunch(lease, jobs); pending != "" {
			return model.SyncJob{}, false, fmt.Errorf("%w: sync Job %s is being started by another request; try again when it has finished",
				model.ErrConflict, pending)
		}

		name := jobName(cj.Name)
		lease.Spec.HolderIdentity = &name
		lease.Spec.AcquireTime = &metav1.MicroTime{Time: l.now()}
		lease.Spec.LeaseDurationSeconds = ptr(int32(launchGrace / time.Second))
		updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue // another launch won the Lease: look again
		}
		if err != nil {
			return model.SyncJob{}, false, l.apiError(err, "update", "leases", l.name)
		}
		job, err := newJob(cj, name, scope, digest, l.ttl)
		if err != nil {
			return model.SyncJob{}, false, err
		}
		created, err := l.client.BatchV1().Jobs(l.namespace).Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			l.releaseLease(updated)
			return model.SyncJob{}, false, l.apiError(err, "create", "jobs", "")
		}
		return summarize(created), true, nil
	}
	return model.SyncJob{}, false, fmt.Errorf("%w: other requests are starting a sync; try again shortly", model.ErrConflict)
}

// pendingLaunch returns the Job name the Lease holds when that Job is not
// among jobs and the Lease is fresh: another launch is creating it.
func (l *Launcher) pendingLaunch(lease *coordinationv1.Lease, jobs []batchv1.Job) string {
	spec := lease.Spec
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" || spec.AcquireTime == nil {
		return ""
	}
	holder := *spec.HolderIdentity
	if slices.ContainsFunc(jobs, func(j batchv1.Job) bool { return j.Name == holder }) {
		return ""
	}
	grace := launchGrace
	if spec.LeaseDurationSeconds != nil {
		grace = time.Duration(*spec.LeaseDurationSeconds) * time.Second
	}
	if l.now().Sub(spec.AcquireTime.Time) >= grace {
		return ""
	}
	return holder
}

// releaseLease clears the Lease after a failed create, so the next launch
// need not wait out launchGrace. Best effort: if it fails, the grace does
// the same later.
func (l *Launcher) releaseLease(lease *coordinationv1.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lease.Spec.HolderIdentity, lease.Spec.AcquireTime = nil, nil
	_, _ = l.client.CoordinationV1().Leases(l.namespace).Update(ctx, lease, metav1.UpdateOptions{})
}

// ListSyncJobs returns the CronJob's Jobs — scheduled, from kubectl, from
// the API — newest first. Creation times have a resolution of a second;
// Jobs made within the same one are ordered by name, descending.
func (l *Launcher) ListSyncJobs(ctx context.Context) ([]model.SyncJob, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cj, err := l.cronJob(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := l.ownedJobs(ctx, cj.UID)
	if err != nil {
		return nil, err
	}
	out := make([]model.SyncJob, len(jobs))
	for i := range jobs {
		out[i] = summarize(&jobs[i])
	}
	slices.SortFunc(out, func(a, b model.SyncJob) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// GetSyncJob returns one of the CronJob's Jobs; a Job that does not exist
// or is not the CronJob's is ErrNotFound.
func (l *Launcher) GetSyncJob(ctx context.Context, name string) (model.SyncJob, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cj, err := l.cronJob(ctx)
	if err != nil {
		return model.SyncJob{}, err
	}
	job, err := l.client.BatchV1().Jobs(l.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && !ownedBy(job, cj.UID)) {
		return model.SyncJob{}, fmt.Errorf("%w: no sync Job %q", model.ErrNotFound, name)
	}
	if err != nil {
		return model.SyncJob{}, l.apiError(err, "get", "jobs", name)
	}
	return summarize(job), nil
}

// cronJob reads the CronJob; its absence is ErrNotConfigured.
func (l *Launcher) cronJob(ctx context.Context) (*batchv1.CronJob, error) {
	cj, err := l.client.BatchV1().CronJobs(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: CronJob %s/%s does not exist (SYNC_NAMESPACE, SYNC_CRONJOB)",
			model.ErrNotConfigured, l.namespace, l.name)
	}
	if err != nil {
		return nil, l.apiError(err, "get", "cronjobs", l.name)
	}
	return cj, nil
}

// ownedJobs lists the namespace's Jobs and keeps those the CronJob
// controls. It does not select by label: a label the template lost in an
// upgrade must not hide a Job that still runs.
func (l *Launcher) ownedJobs(ctx context.Context, uid types.UID) ([]batchv1.Job, error) {
	list, err := l.client.BatchV1().Jobs(l.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, l.apiError(err, "list", "jobs", "")
	}
	return slices.DeleteFunc(list.Items, func(j batchv1.Job) bool { return !ownedBy(&j, uid) }), nil
}

// errNoContainer says the CronJob's template lacks the sync container.
func errNoContainer(cj *batchv1.CronJob) error {
	return fmt.Errorf("%w: CronJob %s/%s has no container named %q",
		model.ErrNotConfigured, cj.Namespace, cj.Name, ContainerName)
}

// apiError wraps an error of the Kubernetes API with the sentinel its
// kind maps to, saying which call failed. A lease that is missing is a
// configuration error like a missing CronJob.
func (l *Launcher) apiError(err error, verb, resource, name string) error {
	call := verb + " " + resource
	if name != "" {
		call += " " + name
	}
	call += " in namespace " + l.namespace
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: usersapi may not %s (RBAC; see the Role in docs/sync-on-demand.md): %w", model.ErrDenied, call, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: the Kubernetes API did not accept usersapi's credentials (%s): %w", model.ErrDenied, call, err)
	case apierrors.IsNotFound(err) && resource == "leases":
		return fmt.Errorf("%w: Lease %s/%s does not exist; it serialises launches and is created with the CronJob",
			model.ErrNotConfigured, l.namespace, name)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: the Kubernetes API refused to %s: %w", model.ErrNotConfigured, call, err)
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %s: %w", model.ErrConflict, call, err)
	case !errors.As(err, &status), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		// No answer (refused, reset, timed out), or one saying "not now".
		return fmt.Errorf("%w: %s: %w", model.ErrKubernetesUnavailable, call, err)
	default:
		return fmt.Errorf("%s: %w", call, err)
	}
}
