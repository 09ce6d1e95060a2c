package kube

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncflags"
)

// Names the Jobs carry. The first two are Kubernetes'; the usersync.io
// ones are this package's.
const (
	// AnnotationInstantiate marks a Job made by hand from a CronJob; kubectl
	// create job --from=cronjob/… sets it to "manual", and so does Launch.
	AnnotationInstantiate = "cronjob.kubernetes.io/instantiate"
	// ContainerName is the name of the sync container in the CronJob's pod
	// template: the one whose args and env a launched Job changes.
	ContainerName = "usersync"
	// LabelScope is the scope a launched Job syncs: users, assets or all.
	LabelScope = "usersync.io/scope"
	// LabelTrigger is what launched a Job: api or webhook.
	LabelTrigger = "usersync.io/trigger"
	// LabelMode is "incremental" on a launched incremental Job, and absent
	// on a full one.
	LabelMode = "usersync.io/mode"
	// ModeIncremental is LabelMode's value.
	ModeIncremental = "incremental"
	// AnnotationIdempotencyKey holds the SHA-256 (hex) of the request's
	// Idempotency-Key, never the key itself.
	AnnotationIdempotencyKey = "usersync.io/idempotency-key"
)

// DefaultJobTTL is how long a launched Job (and its pod and logs) stays
// after it finished when the CronJob's template sets no
// ttlSecondsAfterFinished: long enough to read GET /sync/jobs the next day.
const DefaultJobTTL = 7 * 24 * time.Hour

// newJob makes the Job for one launch exactly as `kubectl create job
// --from=cronjob/<name>` does (k8s.io/kubectl pkg/cmd/create/create_job.go,
// createJobFromCronJob) — the template's labels and annotations, the
// instantiate annotation, a controller owner reference to the CronJob
// without blockOwnerDeletion, the template's spec — and then applies the
// documented differences: the sync container's mode flags
// (syncflags.Args in place of the template's), SYNC_TRIGGER, the scope,
// trigger and mode labels, the idempotency annotation, and a
// ttlSecondsAfterFinished when the template has none. The chart's
// ValidatingAdmissionPolicy accepts exactly these differences: change one
// here, change it there (deploy/helm/usersync/templates/api-job-policy.yaml).
//
// blockOwnerDeletion stays unset as kubectl leaves it: setting it needs
// update on cronjobs/finalizers where the OwnerReferencesPermissionEnforcement
// admission plugin runs, a right usersapi has no other use for. Without it
// a foreground deletion of the CronJob does not wait for its Jobs; the
// garbage collector still deletes them.
func newJob(cj *batchv1.CronJob, name string, opts LaunchOptions, keyDigest string, ttl time.Duration) (*batchv1.Job, error) {
	annotations := map[string]string{AnnotationInstantiate: "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	if keyDigest != "" {
		annotations[AnnotationIdempotencyKey] = keyDigest
	}
	// kubectl passes the template's labels on; the API server then
	// defaults a Job without labels to its pod template's. Adding ours to
	// an empty set would skip that default, so apply it here.
	labels := map[string]string{}
	src := cj.Spec.JobTemplate.Labels
	if len(src) == 0 {
		src = cj.Spec.JobTemplate.Spec.Template.Labels
	}
	for k, v := range src {
		labels[k] = v
	}
	labels[LabelScope] = string(opts.Scope)
	labels[LabelTrigger] = opts.Trigger
	if opts.Incremental {
		labels[LabelMode] = ModeIncremental
	}

	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Labels:      labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: batchv1.SchemeGroupVersion.String(),
				Kind:       "CronJob",
				Name:       cj.Name,
				UID:        cj.UID,
				Controller: ptr(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	c := syncContainer(&job.Spec.Template.Spec)
	if c == nil {
		return nil, errNoContainer(cj)
	}
	if len(c.Command) > 1 {
		c.Command = append(c.Command[:1:1], syncflags.WithoutModeFlags(c.Command[1:])...)
	}
	// Flags first: Go's flag package stops at the first argument that is
	// not one.
	c.Args = append(syncflags.Args(opts.Scope, opts.Incremental), syncflags.WithoutModeFlags(c.Args)...)
	setEnv(c, syncflags.EnvTrigger, opts.Trigger)
	if job.Spec.TTLSecondsAfterFinished == nil {
		job.Spec.TTLSecondsAfterFinished = ptr(int32(ttl / time.Second))
	}
	return job, nil
}

// syncContainer finds the container named ContainerName, wherever it is in
// the list.
func syncContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == ContainerName {
			return &spec.Containers[i]
		}
	}
	return nil
}

// setEnv sets the container's variable name to value, replacing a value
// or a reference the template had.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// jobName makes a Job name that is a valid DNS label (at most 63
// characters, which Job names must be for the job-name label of their
// pods) whatever the CronJob's name: the CronJob's name, cut to fit, then
// the trigger (api, webhook) and eight random characters.
func jobName(cronJob, trigger string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	suffix := "-" + trigger + "-" + string(b[:])
	prefix := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '-' // '.' is valid in a CronJob's name, not in a label
		}
	}, cronJob)
	if len(prefix) > 63-len(suffix) {
		prefix = prefix[:63-len(suffix)]
	}
	prefix = strings.Trim(prefix, "-")
	if prefix == "" {
		prefix = "sync"
	}
	return prefix + suffix
}

// keyDigest is what AnnotationIdempotencyKey holds for key.
func keyDigest(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// ownedBy reports whether a CronJob with one of uids controls job — true
// of its scheduled Jobs and of those made from it by kubectl or Launch.
func ownedBy(job *batchv1.Job, uids ...types.UID) bool {
	ref := metav1.GetControllerOf(job)
	return ref != nil && ref.Kind == "CronJob" && slices.Contains(uids, ref.UID)
}

// summarize derives what GET /sync/jobs shows from a Job.
func summarize(job *batchv1.Job) model.SyncJob {
	scope, incremental := jobMode(job)
	s := model.SyncJob{
		Name:        job.Name,
		Scope:       scope,
		Incremental: incremental,
		Trigger:     jobTrigger(job),
		State:       jobState(job),
		CreatedAt:   job.CreationTimestamp.Time,
	}
	if t := job.Status.StartTime; t != nil {
		s.StartedAt = ptr(t.Time)
	}
	if t := job.Status.CompletionTime; t != nil {
		s.FinishedAt = ptr(t.Time)
	} else if s.State.Finished() {
		for _, c := range job.Status.Conditions {
			if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
				s.FinishedAt = ptr(c.LastTransitionTime.Time)
			}
		}
	}
	return s
}

// jobTrigger tells who made a Job: a Job made by hand carries the
// instantiate annotation, and of those Launch's carry its trigger label;
// the CronJob controller's carry neither.
func jobTrigger(job *batchv1.Job) string {
	if job.Annotations[AnnotationInstantiate] != "manual" {
		return model.TriggerSchedule
	}
	switch t := job.Labels[LabelTrigger]; t {
	case model.TriggerAPI, model.TriggerWebhook:
		return t
	}
	return model.TriggerManual
}

// jobMode is the scope and mode labels of a launched Job, else what the
// sync container's command line and SYNC_INCREMENTAL select (a Job of the
// schedule or from kubectl).
func jobMode(job *batchv1.Job) (model.Scope, bool) {
	if s := model.Scope(job.Labels[LabelScope]); validScope(s) {
		return s, job.Labels[LabelMode] == ModeIncremental
	}
	c := syncContainer(&job.Spec.Template.Spec)
	if c == nil {
		return model.ScopeUsers, false
	}
	var args []string
	if len(c.Command) > 1 {
		args = append(args, c.Command[1:]...)
	}
	scope, incremental := syncflags.ModeOf(append(args, c.Args...))
	if !incremental {
		// usersync reads the variable when no flag says (flags win).
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == syncflags.EnvIncremental })
		if i >= 0 && !slices.ContainsFunc(append(args, c.Args...), isIncrementalFlag) {
			incremental, _ = strconv.ParseBool(c.Env[i].Value)
		}
	}
	return scope, incremental
}

// isIncrementalFlag reports whether arg sets --incremental.
func isIncrementalFlag(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	return strings.HasPrefix(arg, "-") && name == syncflags.Incremental
}

// modeName says incremental or full.
func modeName(incremental bool) string {
	if incremental {
		return "incremental"
	}
	return "full"
}

func validScope(s model.Scope) bool {
	return slices.Contains([]model.Scope{model.ScopeUsers, model.ScopeAssets, model.ScopeAll}, s)
}

// jobState reads a Job's conditions and pod counts.
func jobState(job *batchv1.Job) model.JobState {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return model.JobSucceeded
		case batchv1.JobFailed:
			return model.JobFailed
		}
	}
	st := job.Status
	ready := st.Ready != nil && *st.Ready > 0
	if ready || (st.Ready == nil && st.Active > 0) || st.Succeeded > 0 || st.Failed > 0 {
		return model.JobRunning
	}
	return model.JobPending
}

func ptr[T any](v T) *T { return &v }
