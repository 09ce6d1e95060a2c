package kube

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncflags"
)

// chartCronJob is testdata/cronjob.yaml: the CronJob the chart renders.
func chartCronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	data, err := os.ReadFile("testdata/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cj := obj.(*batchv1.CronJob)
	cj.Namespace, cj.UID = "sync", "cronjob-uid"
	return cj
}

func TestNewJobIsKubectlsJobPlusTheDocumentedDifferences(t *testing.T) {
	for _, tt := range []struct {
		opts   LaunchOptions
		args   []string
		labels map[string]string
	}{
		{LaunchOptions{Scope: model.ScopeAssets, Trigger: "api"}, []string{"--scope", "assets"},
			map[string]string{LabelScope: "assets", LabelTrigger: "api"}},
		{LaunchOptions{Scope: model.ScopeUsers, Incremental: true, Trigger: "webhook"}, []string{"--scope", "users", "--incremental"},
			map[string]string{LabelScope: "users", LabelTrigger: "webhook", LabelMode: "incremental"}},
	} {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			checkNewJob(t, tt.opts, tt.args, tt.labels)
		})
	}
}

func checkNewJob(t *testing.T, opts LaunchOptions, args []string, labels map[string]string) {
	cj := chartCronJob(t)
	// A sidecar first: the sync container is found by name, not position.
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = append([]corev1.Container{{Name: "proxy", Image: "proxy", Args: []string{"--full"}}},
		cj.Spec.JobTemplate.Spec.Template.Spec.Containers...)
	cj.Spec.JobTemplate.Annotations = map[string]string{"team": "it", AnnotationInstantiate: "template-wins"}

	got, err := newJob(cj, "usersync-api-abc", opts, "digest", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// What kubectl's createJobFromCronJob makes, written out.
	want := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "usersync-api-abc", Namespace: "sync",
			Annotations: map[string]string{AnnotationInstantiate: "template-wins", "team": "it"},
			Labels:      cj.Spec.JobTemplate.Labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: "usersync", UID: "cronjob-uid", Controller: ptr(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	// The documented differences.
	want.Labels = labels
	for k, v := range cj.Spec.JobTemplate.Labels {
		want.Labels[k] = v
	}
	want.Annotations[AnnotationIdempotencyKey] = "digest"
	c := &want.Spec.Template.Spec.Containers[1]
	c.Args = args // was --full
	for i := range c.Env {
		if c.Env[i].Name == "SYNC_TRIGGER" {
			c.Env[i].Value = opts.Trigger // was schedule
		}
	}

	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Job (-want +got):\n%s", diff)
	}
	if got.OwnerReferences[0].BlockOwnerDeletion != nil {
		t.Error("blockOwnerDeletion is set: creating the Job would need update on cronjobs/finalizers")
	}
	if !cmp.Equal(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[1].Args, []string{"--full"}) {
		t.Error("newJob changed the CronJob's template")
	}
}

func TestNewJobTTL(t *testing.T) {
	cj := chartCronJob(t)
	job, err := newJob(cj, "j", LaunchOptions{Scope: model.ScopeUsers, Trigger: "api"}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := *job.Spec.TTLSecondsAfterFinished; got != 604800 {
		t.Errorf("ttl with the template's 604800 = %d, want it kept", got)
	}
	cj.Spec.JobTemplate.Spec.TTLSecondsAfterFinished = nil
	if job, err = newJob(cj, "j", LaunchOptions{Scope: model.ScopeUsers, Trigger: "api"}, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := job.Spec.TTLSecondsAfterFinished; got == nil || *got != 3600 {
		t.Errorf("ttl without one in the template = %v, want 3600", got)
	}
}

func TestNewJobWithoutTemplateLabelsKeepsThePodLabelsKubectlsJobGets(t *testing.T) {
	cj := chartCronJob(t)
	cj.Spec.JobTemplate.Labels = nil
	job, err := newJob(cj, "j", LaunchOptions{Scope: model.ScopeUsers, Trigger: "api"}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cj.Spec.JobTemplate.Spec.Template.Labels {
		if job.Labels[k] != v {
			t.Errorf("label %s = %q, want the pod template's %q (the API server's default for a Job without labels)", k, job.Labels[k], v)
		}
	}
}

func TestNewJobEnvAndCommand(t *testing.T) {
	cj := chartCronJob(t)
	c := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	c.Command = []string{"/usersync", "--scope=users", "--log-level", "debug"}
	c.Args = []string{"-scope", "all", "--full=true", "--allow-mass-delete"}
	c.Env = []corev1.EnvVar{{Name: "SYNC_TRIGGER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "x"}}}}
	job, err := newJob(cj, "j", LaunchOptions{Scope: model.ScopeUsers, Trigger: "api"}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := job.Spec.Template.Spec.Containers[0]
	if want := []string{"/usersync", "--log-level", "debug"}; !cmp.Equal(got.Command, want) {
		t.Errorf("command = %q, want %q", got.Command, want)
	}
	if want := []string{"--scope", "users", "--allow-mass-delete"}; !cmp.Equal(got.Args, want) {
		t.Errorf("args = %q, want %q", got.Args, want)
	}
	if want := []corev1.EnvVar{{Name: "SYNC_TRIGGER", Value: "api"}}; !cmp.Equal(got.Env, want) {
		t.Errorf("env = %v, want %v", got.Env, want)
	}
	if s, _ := syncflags.ModeOf(append(got.Command[1:], got.Args...)); s != model.ScopeUsers {
		t.Errorf("the Job's command line selects scope %s, want users", s)
	}
}

func TestNewJobWithoutSyncContainer(t *testing.T) {
	cj := chartCronJob(t)
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Name = "sync"
	_, err := newJob(cj, "j", LaunchOptions{Scope: model.ScopeUsers, Trigger: "api"}, "", time.Hour)
	if !errors.Is(err, model.ErrNotConfigured) || !strings.Contains(err.Error(), `"usersync"`) {
		t.Errorf("err = %v, want ErrNotConfigured naming the container", err)
	}
}

func TestJobNameIsAUniqueDNSLabel(t *testing.T) {
	label := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, cron := range []string{
		"usersync",
		strings.Repeat("a", 52), // the longest CronJob name the API server accepts
		strings.Repeat("b", 200),
		"my.sync-" + strings.Repeat("c", 46) + "-x",
		"Upper.Case",
		"-",
	} {
		seen := map[string]bool{}
		for range 1000 {
			name := jobName(cron, "webhook")
			if len(name) > 63 || !label.MatchString(name) {
				t.Fatalf("jobName(%q) = %q (%d characters): not a DNS label", cron, name, len(name))
			}
			if seen[name] {
				t.Fatalf("jobName(%q) repeated %q", cron, name)
			}
			seen[name] = true
		}
	}
	if got := jobName("usersync", "api"); !strings.HasPrefix(got, "usersync-api-") {
		t.Errorf("jobName(usersync, api) = %q, want usersync-api-…", got)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)
	mt := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	cond := func(typ batchv1.JobConditionType, at time.Duration) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: *mt(at)}
	}
	cj := chartCronJob(t) // args --full
	base := func() *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "j", CreationTimestamp: *mt(0)},
			Spec:       *cj.Spec.JobTemplate.Spec.DeepCopy(),
		}
	}
	tests := map[string]struct {
		edit func(*batchv1.Job)
		want model.SyncJob
	}{
		"scheduled, just created": {
			edit: func(*batchv1.Job) {},
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "pending"},
		},
		"manual from kubectl, pod pulling its image": {
			edit: func(j *batchv1.Job) {
				j.Annotations = map[string]string{AnnotationInstantiate: "manual"}
				j.Status = batchv1.JobStatus{StartTime: mt(time.Second), Active: 1, Ready: ptr(int32(0))}
			},
			want: model.SyncJob{Scope: "all", Trigger: "manual", State: "pending", StartedAt: ptr(t0.Add(time.Second))},
		},
		"from the API, running": {
			edit: func(j *batchv1.Job) {
				j.Annotations = map[string]string{AnnotationInstantiate: "manual"}
				j.Labels = map[string]string{LabelTrigger: "api", LabelScope: "assets"}
				j.Status = batchv1.JobStatus{StartTime: mt(time.Second), Active: 1, Ready: ptr(int32(1))}
			},
			want: model.SyncJob{Scope: "assets", Trigger: "api", State: "running", StartedAt: ptr(t0.Add(time.Second))},
		},
		"from a webhook, incremental": {
			edit: func(j *batchv1.Job) {
				j.Annotations = map[string]string{AnnotationInstantiate: "manual"}
				j.Labels = map[string]string{LabelTrigger: "webhook", LabelScope: "users", LabelMode: "incremental"}
			},
			want: model.SyncJob{Scope: "users", Incremental: true, Trigger: "webhook", State: "pending"},
		},
		"scheduled by an incremental CronJob (SYNC_INCREMENTAL)": {
			edit: func(j *batchv1.Job) {
				c := &j.Spec.Template.Spec.Containers[0]
				c.Env = append(c.Env, corev1.EnvVar{Name: "SYNC_INCREMENTAL", Value: "true"})
			},
			want: model.SyncJob{Scope: "all", Incremental: true, Trigger: "schedule", State: "pending"},
		},
		"SYNC_INCREMENTAL=true overridden by --incremental=false": {
			edit: func(j *batchv1.Job) {
				c := &j.Spec.Template.Spec.Containers[0]
				c.Env = append(c.Env, corev1.EnvVar{Name: "SYNC_INCREMENTAL", Value: "true"})
				c.Args = append(c.Args, "--incremental=false")
			},
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "pending"},
		},
		"kubectl's Job with --incremental": {
			edit: func(j *batchv1.Job) {
				j.Annotations = map[string]string{AnnotationInstantiate: "manual"}
				j.Spec.Template.Spec.Containers[0].Args = []string{"--scope=assets", "--incremental"}
			},
			want: model.SyncJob{Scope: "assets", Incremental: true, Trigger: "manual", State: "pending"},
		},
		"a trigger label without the instantiate annotation is the schedule's": {
			edit: func(j *batchv1.Job) { j.Labels = map[string]string{LabelTrigger: "api"} },
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "pending"},
		},
		"succeeded": {
			edit: func(j *batchv1.Job) {
				j.Status = batchv1.JobStatus{StartTime: mt(time.Second), CompletionTime: mt(time.Minute), Succeeded: 1,
					Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, time.Minute), cond(batchv1.JobComplete, time.Minute)}}
			},
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "succeeded",
				StartedAt: ptr(t0.Add(time.Second)), FinishedAt: ptr(t0.Add(time.Minute))},
		},
		"failed": {
			edit: func(j *batchv1.Job) {
				j.Status = batchv1.JobStatus{StartTime: mt(time.Second), Failed: 2,
					Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget, 2*time.Minute), cond(batchv1.JobFailed, 2*time.Minute)}}
			},
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "failed",
				StartedAt: ptr(t0.Add(time.Second)), FinishedAt: ptr(t0.Add(2 * time.Minute))},
		},
		"a failed pod, retried": {
			edit: func(j *batchv1.Job) {
				j.Status = batchv1.JobStatus{StartTime: mt(time.Second), Failed: 1, Ready: ptr(int32(0))}
			},
			want: model.SyncJob{Scope: "all", Trigger: "schedule", State: "running", StartedAt: ptr(t0.Add(time.Second))},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			j := base()
			tt.edit(j)
			tt.want.Name, tt.want.CreatedAt = "j", t0
			if diff := cmp.Diff(tt.want, summarize(j)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
