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
// ErrNotConfigured, ErrDenied, ErrAdmissionDenied, ErrKubernetesUnavailable.
//
// The Lease also queues the webhook's launches (events.go): it counts the
// events received and those a launched Job covers.
//
// The RBAC usersapi needs, in the CronJob's namespace (testdata/rbac.yaml):
// get on the one CronJob (and on the incremental CronJob, when
// Config.IncrementalCronJob names one) and get, update on the one Lease (all
// by resourceNames); create, get, list on Jobs. RBAC cannot narrow create by
// name, so the chart confines the Jobs usersapi's ServiceAccount may create
// with a ValidatingAdmissionPolicy to exactly what newJob makes.
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/usersync/usersync/pkg/model"
)

// DefaultTimeout bounds one Launch, ListJobs or GetJob: a Kubernetes API
// that is down or hangs makes the caller fail after this long.
const DefaultTimeout = 5 * time.Second

// launchGrace is how long a Lease naming a Job that does not exist yet
// blocks other launches: the launch that wrote it is creating that Job
// (its own deadline is Config.Timeout), or died in between.
const launchGrace = 30 * time.Second

// maxClockSkew is more than the clocks of two usersapi replicas differ by.
// A Lease its writer acquired longer ago than launchGrace plus this, by the
// writer's clock, is stale at once — e.g. it names an API launch whose Job
// was deleted after its TTL — so no replica waits out launchGrace for it.
const maxClockSkew = 5 * time.Minute

// Config configures a Launcher.
type Config struct {
	// Client talks to the Kubernetes API; see NewClient.
	Client kubernetes.Interface
	// Namespace and CronJob name usersync's CronJob. Its Lease has the
	// CronJob's name.
	Namespace, CronJob string
	// IncrementalCronJob, when set, names a second CronJob in Namespace
	// that runs incremental syncs on its own schedule. Its Jobs are
	// listed with CronJob's and, while one is unfinished, block launches
	// as CronJob's do. Launches are always made from CronJob.
	IncrementalCronJob string
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// JobTTL is the ttlSecondsAfterFinished of a launched Job whose
	// template has none; 0 means DefaultJobTTL.
	JobTTL time.Duration
	// Now is this replica's clock, by which it judges how long a Lease has
	// named a Job that does not exist yet; nil means time.Now.
	Now func() time.Time
}

// Launcher starts sync Jobs from usersync's CronJob and lists them. It is
// safe for concurrent use, also across processes (replicas of usersapi).
type Launcher struct {
	client          kubernetes.Interface
	namespace, name string
	incremental     string // the incremental CronJob's name, or ""
	timeout, ttl    time.Duration
	now             func() time.Time

	mu sync.Mutex
	// sighting is the Lease version this Launcher last saw naming a Job
	// that did not exist, and when it first saw it, on its own clock.
	sighting leaseSighting
}

// leaseSighting is one version of the Lease as first seen by a Launcher.
type leaseSighting struct {
	version string // resourceVersion, holder and acquireTime
	at      time.Time
}

// LaunchOptions say what a launched Job syncs and who asked for it.
type LaunchOptions struct {
	// Scope is users, assets or all.
	Scope model.Scope
	// Incremental makes the run incremental (usersync --incremental);
	// false is a full pass of Scope.
	Incremental bool
	// Trigger is what asked: model.TriggerAPI (the default, when empty) or
	// model.TriggerWebhook. It is the Job's SYNC_TRIGGER and its trigger
	// label.
	Trigger string
	// IdempotencyKey, when set, makes a repeated launch with the same key
	// return the Job the first one started, while that Job exists.
	IdempotencyKey string
}

// NewLauncher returns a Launcher for cfg. It does not contact the API.
func NewLauncher(cfg Config) (*Launcher, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.CronJob == "" {
		return nil, fmt.Errorf("%w: kube launcher needs a client, a namespace and a CronJob name", model.ErrInvalid)
	}
	l := &Launcher{client: cfg.Client, namespace: cfg.Namespace, name: cfg.CronJob, incremental: cfg.IncrementalCronJob,
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

// LaunchSync is Launch of a run of scope, full or incremental, triggered
// by the API.
func (l *Launcher) LaunchSync(ctx context.Context, scope model.Scope, incremental bool, idempotencyKey string) (model.SyncJob, bool, error) {
	return l.Launch(ctx, LaunchOptions{Scope: scope, Incremental: incremental, Trigger: model.TriggerAPI,
		IdempotencyKey: idempotencyKey})
}

// Launch creates a Job from the CronJob as opts say and returns it with
// created true. With an idempotency key it first looks for the Job an
// earlier request with the same key made, and returns that one (created
// false) while it exists; the same key for another scope or mode is
// ErrInvalid. While any Job of the CronJob is unfinished it returns
// ErrConflict naming that Job.
//
// Check and create are made safe against concurrent launches (other
// requests, other replicas) by the Lease named like the CronJob: a launch
// reads the Lease, then lists the Jobs, and only if none is unfinished
// writes its new Job's name into the Lease — an update conditional on the
// Lease's resourceVersion, which the API server grants to one writer only
// — and then creates the Job. A launch that reads a Lease naming a Job
// that is not in its list is racing one that won and has not created its
// Job yet: ErrConflict too, until this Launcher has seen that same version
// of the Lease for launchGrace on its own clock (the writer died between
// the two steps). Judging by the writer's acquireTime instead would let a
// replica whose clock runs ahead of the writer's by the grace take over a
// launch in progress; only a Lease older than that by more than
// maxClockSkew is judged by it. So of any two launches the later one to update the
// Lease has seen the earlier one's Job (or its name in the Lease), and
// refuses.
func (l *Launcher) Launch(ctx context.Context, opts LaunchOptions) (model.SyncJob, bool, error) {
	return l.launch(ctx, opts, false)
}

// launch is Launch; with forEvents it launches only while the Lease counts
// events no Job covers yet (else it returns created false and no error),
// and the Lease update that claims the launch also marks every event
// counted so far as covered (see LaunchPending).
func (l *Launcher) launch(ctx context.Context, opts LaunchOptions, forEvents bool) (model.SyncJob, bool, error) {
	scope := opts.Scope
	if !validScope(scope) {
		return model.SyncJob{}, false, fmt.Errorf("%w: scope %q: want users, assets or all", model.ErrInvalid, scope)
	}
	if opts.Trigger == "" {
		opts.Trigger = model.TriggerAPI
	}
	if opts.Trigger != model.TriggerAPI && opts.Trigger != model.TriggerWebhook {
		return model.SyncJob{}, false, fmt.Errorf("%w: trigger %q: want %s or %s", model.ErrInvalid, opts.Trigger,
			model.TriggerAPI, model.TriggerWebhook)
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
	if opts.IdempotencyKey != "" {
		digest = keyDigest(opts.IdempotencyKey)
	}
	leases := l.client.CoordinationV1().Leases(l.namespace)
	for range 5 {
		lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if err != nil {
			return model.SyncJob{}, false, l.apiError(err, "get", "leases", l.name)
		}
		events := countEvents(lease)
		if forEvents && events.pending() == 0 {
			return model.SyncJob{}, false, nil
		}
		jobs, err := l.syncJobs(ctx, cj)
		if err != nil {
			return model.SyncJob{}, false, err
		}
		if digest != "" {
			if i := slices.IndexFunc(jobs, func(j batchv1.Job) bool { return j.Annotations[AnnotationIdempotencyKey] == digest }); i >= 0 {
				prev := summarize(&jobs[i])
				if prev.Scope != scope || prev.Incremental != opts.Incremental {
					return model.SyncJob{}, false, fmt.Errorf("%w: this Idempotency-Key started Job %s, a sync of %s (%s), not of %s (%s)",
						model.ErrInvalid, prev.Name, prev.Scope, modeName(prev.Incremental), scope, modeName(opts.Incremental))
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

		name := jobName(cj.Name, opts.Trigger)
		lease.Spec.HolderIdentity = &name
		lease.Spec.AcquireTime = &metav1.MicroTime{Time: l.now()}
		lease.Spec.LeaseDurationSeconds = ptr(int32(launchGrace / time.Second))
		if forEvents {
			setCount(lease, AnnotationEventsLaunched, events.received)
		}
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue // another launch won the Lease: look again
		}
		if err != nil {
			return model.SyncJob{}, false, l.apiError(err, "update", "leases", l.name)
		}
		job, err := newJob(cj, name, opts, digest, l.ttl)
		if err != nil {
			l.releaseLease(name, forEvents, events.launched)
			return model.SyncJob{}, false, err
		}
		created, err := l.client.BatchV1().Jobs(l.namespace).Create(ctx, job, metav1.CreateOptions{})
		if err != nil {
			l.releaseLease(name, forEvents, events.launched)
			return model.SyncJob{}, false, l.apiError(err, "create", "jobs", "")
		}
		return summarize(created), true, nil
	}
	return model.SyncJob{}, false, fmt.Errorf("%w: other requests are starting a sync; try again shortly", model.ErrConflict)
}

// pendingLaunch returns the Job name the Lease holds when that Job is not
// among jobs and the Lease is fresh: another launch is creating it. Fresh
// means this Launcher first saw this version of the Lease less than the
// Lease's duration ago, on its own clock: replicas' clocks differ.
func (l *Launcher) pendingLaunch(lease *coordinationv1.Lease, jobs []batchv1.Job) string {
	spec := lease.Spec
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" {
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
	now := l.now()
	if spec.AcquireTime != nil && now.Sub(spec.AcquireTime.Time) >= grace+maxClockSkew {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	version := lease.ResourceVersion + "/" + holder + "/"
	if spec.AcquireTime != nil {
		version += spec.AcquireTime.UTC().Format(time.RFC3339Nano)
	}
	if l.sighting.version != version {
		l.sighting = leaseSighting{version: version, at: now}
	}
	if now.Sub(l.sighting.at) >= grace {
		return ""
	}
	return holder
}

// releaseLease clears the Lease after a failed create of the Job name, so
// the next launch need not wait out launchGrace, and, for a launch of
// events, counts the events it had marked as covered as pending again
// (launched back to its value before). It retries on conflicts (an event
// counted meanwhile) and gives up when another launch holds the Lease by
// now. Best effort: if it fails, the grace clears the Lease later, and
// the events' recorder counts them again (see LaunchPending).
func (l *Launcher) releaseLease(name string, forEvents bool, launched int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.namespace)
	_ = retry.RetryOnConflict(leaseRetry, func() error {
		lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != name {
			return err
		}
		lease.Spec.HolderIdentity, lease.Spec.AcquireTime = nil, nil
		if forEvents {
			setCount(lease, AnnotationEventsLaunched, launched)
		}
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
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
	jobs, err := l.syncJobs(ctx, cj)
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

// GetSyncJob returns one of the CronJobs' Jobs; a Job that does not exist
// or is not theirs is ErrNotFound.
func (l *Launcher) GetSyncJob(ctx context.Context, name string) (model.SyncJob, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cj, err := l.cronJob(ctx)
	if err != nil {
		return model.SyncJob{}, err
	}
	owners, err := l.owners(ctx, cj)
	if err != nil {
		return model.SyncJob{}, err
	}
	job, err := l.client.BatchV1().Jobs(l.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && !ownedBy(job, owners...)) {
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

// owners are the UIDs of cj and of the incremental CronJob, when one is
// configured and exists: one that does not (the chart's incremental
// schedule is off) has no Jobs to list.
func (l *Launcher) owners(ctx context.Context, cj *batchv1.CronJob) ([]types.UID, error) {
	if l.incremental == "" {
		return []types.UID{cj.UID}, nil
	}
	inc, err := l.client.BatchV1().CronJobs(l.namespace).Get(ctx, l.incremental, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return []types.UID{cj.UID}, nil
	}
	if err != nil {
		return nil, l.apiError(err, "get", "cronjobs", l.incremental)
	}
	return []types.UID{cj.UID, inc.UID}, nil
}

// syncJobs lists the namespace's Jobs and keeps those cj or the
// incremental CronJob controls. It does not select by label: a label the
// template lost in an upgrade must not hide a Job that still runs.
func (l *Launcher) syncJobs(ctx context.Context, cj *batchv1.CronJob) ([]batchv1.Job, error) {
	owners, err := l.owners(ctx, cj)
	if err != nil {
		return nil, err
	}
	list, err := l.client.BatchV1().Jobs(l.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, l.apiError(err, "list", "jobs", "")
	}
	return slices.DeleteFunc(list.Items, func(j batchv1.Job) bool { return !ownedBy(&j, owners...) }), nil
}

// errNoContainer says the CronJob's template lacks the sync container.
func errNoContainer(cj *batchv1.CronJob) error {
	return fmt.Errorf("%w: CronJob %s/%s has no container named %q",
		model.ErrNotConfigured, cj.Namespace, cj.Name, ContainerName)
}

// rbacRefusal matches the message of the API server's authorizer when it
// refuses a request (k8s.io/apiserver's forbiddenMessage): a 403 without it
// comes from admission — a ResourceQuota, a LimitRange, a policy or a
// webhook — after RBAC allowed the call.
var rbacRefusal = regexp.MustCompile(`User ".*" cannot \S+ (resource|path) `)

// admissionRefusal matches what the API server says when a
// ValidatingAdmissionPolicy or an admission webhook denies a request with
// the status reason Invalid or BadRequest.
var admissionRefusal = regexp.MustCompile(`ValidatingAdmissionPolicy '[^']*' with binding '[^']*' denied request|admission webhook "[^"]*" denied the request`)

// apiError wraps an error of the Kubernetes API with the sentinel its
// kind maps to, saying which call failed: by the status reason, and for a
// 403 or 422 by whether authorization or admission refused; without a
// status, by whether the TLS handshake failed verification (usersapi's
// configuration, not a passing outage) or no answer came. A lease that is
// missing is a configuration error like a missing CronJob.
func (l *Launcher) apiError(err error, verb, resource, name string) error {
	call := verb + " " + resource
	if name != "" {
		call += " " + name
	}
	call += " in namespace " + l.namespace
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err) && rbacRefusal.MatchString(err.Error()):
		return fmt.Errorf("%w: usersapi may not %s (RBAC; see the Role in docs/sync-on-demand.md): %w", model.ErrDenied, call, err)
	case apierrors.IsForbidden(err), (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) && admissionRefusal.MatchString(err.Error()):
		return fmt.Errorf("%w: the Kubernetes API's admission refused to %s (a ResourceQuota, LimitRange, admission policy or webhook; see docs/sync-on-demand.md): %w",
			model.ErrAdmissionDenied, call, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: the Kubernetes API did not accept usersapi's credentials (%s): %w", model.ErrDenied, call, err)
	case apierrors.IsNotFound(err) && resource == "leases":
		return fmt.Errorf("%w: Lease %s/%s does not exist; it serialises launches and is created with the CronJob",
			model.ErrNotConfigured, l.namespace, name)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: the Kubernetes API refused to %s: %w", model.ErrNotConfigured, call, err)
	case !errors.As(err, &status) && tlsMisconfigured(err):
		return fmt.Errorf("%w: usersapi cannot verify the Kubernetes API's certificate, or the API refused its client certificate (%s; check KUBECONFIG or the pod's service-account CA): %w",
			model.ErrNotConfigured, call, err)
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

// tlsMisconfigured reports whether err is a TLS handshake that failed
// verification — an unknown authority, a wrong host name, an expired or
// otherwise unusable certificate, on either side — which retrying cannot
// fix.
func tlsMisconfigured(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		host      x509.HostnameError
		invalid   x509.CertificateInvalidError
		alert     tls.AlertError
	)
	if errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid) {
		return true
	}
	// The server's refusal of a client certificate: bad_certificate (42)
	// to certificate_unknown (46), and unknown_ca (48).
	return errors.As(err, &alert) && (alert >= 42 && alert <= 46 || alert == 48)
}
