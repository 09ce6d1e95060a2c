package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/syncflags"
)

// fakeCluster is a fake clientset holding the chart's CronJob and its
// Lease in namespace "sync".
func fakeCluster(t *testing.T, objs ...runtime.Object) (*fake.Clientset, *Launcher) {
	t.Helper()
	cj := chartCronJob(t)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "usersync", Namespace: "sync"}}
	client := fake.NewClientset(append([]runtime.Object{cj, lease}, objs...)...)
	l, err := NewLauncher(Config{Client: client, Namespace: "sync", CronJob: "usersync"})
	if err != nil {
		t.Fatal(err)
	}
	return client, l
}

// ownedJob is a Job of the chart's CronJob in the given state.
func ownedJob(name string, created time.Time, state model.JobState, annotations map[string]string) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "sync", CreationTimestamp: metav1.NewTime(created), Annotations: annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "usersync",
			UID: "cronjob-uid", Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
	}}
	switch state {
	case model.JobSucceeded:
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	case model.JobFailed:
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	case model.JobRunning:
		j.Status.Active, j.Status.Ready = 1, ptr(int32(1))
	}
	return j
}

func TestLaunchCreatesAJobAndRefusesWhileItRuns(t *testing.T) {
	client, l := fakeCluster(t)
	ctx := context.Background()
	job, created, err := l.LaunchSync(ctx, model.ScopeUsers, false, "")
	if err != nil || !created {
		t.Fatalf("LaunchSync = %v, %v", created, err)
	}
	if job.Scope != "users" || job.Trigger != "api" || job.State != "pending" || !strings.HasPrefix(job.Name, "usersync-api-") {
		t.Errorf("launched %+v", job)
	}
	stored, err := client.BatchV1().Jobs("sync").Get(ctx, job.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job is not stored: %v", err)
	}
	if got := stored.Spec.Template.Spec.Containers[0].Args; !strings.HasPrefix(strings.Join(got, " "), "--scope users") {
		t.Errorf("stored args %q", got)
	}
	lease, _ := client.CoordinationV1().Leases("sync").Get(ctx, "usersync", metav1.GetOptions{})
	if h := lease.Spec.HolderIdentity; h == nil || *h != job.Name {
		t.Errorf("Lease holder = %v, want %s", h, job.Name)
	}

	_, _, err = l.LaunchSync(ctx, model.ScopeAssets, false, "")
	if !errors.Is(err, model.ErrConflict) || !strings.Contains(err.Error(), job.Name) {
		t.Errorf("second launch: %v, want ErrConflict naming %s", err, job.Name)
	}
}

func TestLaunchBlockedOnlyByUnfinishedJobsOfThisCronJob(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	foreign := ownedJob("other-cron-job", t0, model.JobRunning, nil)
	foreign.OwnerReferences[0].UID = "another-cronjob"
	orphan := ownedJob("orphan", t0, model.JobRunning, nil)
	orphan.OwnerReferences = nil
	tests := map[string]struct {
		jobs     []runtime.Object
		conflict string // the Job named in the conflict, "" for none
	}{
		"none":                         {},
		"a succeeded and a failed one": {jobs: []runtime.Object{ownedJob("s", t0, model.JobSucceeded, nil), ownedJob("f", t0, model.JobFailed, nil)}},
		"other Jobs running":           {jobs: []runtime.Object{foreign, orphan}},
		"a scheduled one pending":      {jobs: []runtime.Object{ownedJob("scheduled", t0, model.JobPending, nil)}, conflict: "scheduled"},
		"a kubectl one running": {
			jobs:     []runtime.Object{ownedJob("manual", t0, model.JobRunning, map[string]string{AnnotationInstantiate: "manual"})},
			conflict: "manual",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, l := fakeCluster(t, tt.jobs...)
			_, created, err := l.LaunchSync(context.Background(), model.ScopeAll, false, "")
			if tt.conflict == "" {
				if err != nil || !created {
					t.Errorf("LaunchSync = %v, %v; want a new Job", created, err)
				}
				return
			}
			if !errors.Is(err, model.ErrConflict) || !strings.Contains(err.Error(), "sync Job "+tt.conflict+" ") {
				t.Errorf("LaunchSync: %v; want ErrConflict naming %s", err, tt.conflict)
			}
		})
	}
}

func TestLaunchWithIdempotencyKey(t *testing.T) {
	client, l := fakeCluster(t)
	ctx := context.Background()
	first, created, err := l.LaunchSync(ctx, model.ScopeAssets, false, "key-1")
	if err != nil || !created {
		t.Fatalf("first: %v, %v", created, err)
	}
	again, created, err := l.LaunchSync(ctx, model.ScopeAssets, false, "key-1")
	if err != nil || created || again.Name != first.Name {
		t.Errorf("repeat with the same key = %s, created %v, %v; want %s again", again.Name, created, err, first.Name)
	}
	if _, _, err := l.LaunchSync(ctx, model.ScopeUsers, false, "key-1"); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("the same key for another scope: %v, want ErrInvalid", err)
	}
	if _, _, err := l.LaunchSync(ctx, model.ScopeAssets, false, "key-2"); !errors.Is(err, model.ErrConflict) {
		t.Errorf("another key while the first Job runs: %v, want ErrConflict", err)
	}
	stored, _ := client.BatchV1().Jobs("sync").Get(ctx, first.Name, metav1.GetOptions{})
	if got := stored.Annotations[AnnotationIdempotencyKey]; got != keyDigest("key-1") || strings.Contains(got, "key-1") {
		t.Errorf("idempotency annotation %q, want the key's digest", got)
	}
	// Finished, the Job still answers for its key.
	stored.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if _, err := client.BatchV1().Jobs("sync").UpdateStatus(ctx, stored, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	again, created, err = l.LaunchSync(ctx, model.ScopeAssets, false, "key-1")
	if err != nil || created || again.Name != first.Name || again.State != model.JobSucceeded {
		t.Errorf("repeat after the Job finished = %+v, created %v, %v", again, created, err)
	}
}

// TestLaunchRespectsALeaseHeldByAConcurrentLaunch: a Lease naming a Job
// that does not exist yet blocks launches until this launcher has seen it,
// unchanged, for the grace on its own clock — whatever the writer's clock
// said — unless the writer's acquireTime is older than any skew explains.
func TestLaunchRespectsALeaseHeldByAConcurrentLaunch(t *testing.T) {
	now := time.Now()
	tests := map[string]struct {
		acquired time.Time     // by the writer's clock
		after    time.Duration // on this launcher's clock, since it first saw the Lease
		conflict bool
	}{
		"fresh: another launch is creating its Job":                          {acquired: now.Add(-time.Second), conflict: true},
		"written by a replica whose clock is 45 s behind: still fresh":       {acquired: now.Add(-45 * time.Second), conflict: true},
		"written by a replica whose clock is 45 s ahead: still fresh":        {acquired: now.Add(45 * time.Second), conflict: true},
		"seen unchanged for less than the grace":                             {acquired: now.Add(-45 * time.Second), after: launchGrace - time.Second, conflict: true},
		"seen unchanged for the grace: that launch died":                     {acquired: now.Add(-45 * time.Second), after: launchGrace},
		"acquired longer ago than grace and any clock skew: stale at once":   {acquired: now.Add(-launchGrace - maxClockSkew)},
		"written by a replica whose clock is far ahead, seen for the grace":  {acquired: now.Add(time.Hour), after: launchGrace},
		"a week-old Lease whose Job's TTL ran out does not delay the launch": {acquired: now.Add(-7 * 24 * time.Hour)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			lease := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "usersync", Namespace: "sync"},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("usersync-api-other"),
					AcquireTime: &metav1.MicroTime{Time: tt.acquired}, LeaseDurationSeconds: ptr(int32(30))},
			}
			client, l := fakeCluster(t)
			clock := now
			l.now = func() time.Time { return clock }
			if _, err := client.CoordinationV1().Leases("sync").Update(context.Background(), lease, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if tt.after > 0 {
				if _, _, err := l.LaunchSync(context.Background(), model.ScopeUsers, false, ""); !errors.Is(err, model.ErrConflict) {
					t.Fatalf("first sight of the Lease: %v, want a conflict", err)
				}
				clock = clock.Add(tt.after)
			}
			_, _, err := l.LaunchSync(context.Background(), model.ScopeUsers, false, "")
			if tt.conflict != errors.Is(err, model.ErrConflict) {
				t.Errorf("LaunchSync: %v, want conflict %v", err, tt.conflict)
			}
			if tt.conflict && err != nil && !strings.Contains(err.Error(), "usersync-api-other") {
				t.Errorf("the conflict does not name the Job being started: %v", err)
			}
		})
	}
}

// TestLaunchOptions: an incremental or webhook launch makes the Job the
// contract describes, and GET /sync/jobs's summary shows its mode and
// trigger.
func TestLaunchOptions(t *testing.T) {
	for _, opts := range []LaunchOptions{
		{Scope: model.ScopeUsers},
		{Scope: model.ScopeAssets, Incremental: true},
		{Scope: model.ScopeAll, Trigger: model.TriggerWebhook},
		{Scope: model.ScopeUsers, Incremental: true, Trigger: model.TriggerWebhook},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			client, l := fakeCluster(t)
			ctx := context.Background()
			job, created, err := l.Launch(ctx, opts)
			if err != nil || !created {
				t.Fatalf("Launch = %v, %v", created, err)
			}
			trigger := opts.Trigger
			if trigger == "" {
				trigger = model.TriggerAPI
			}
			want := model.SyncJob{Name: job.Name, Scope: opts.Scope, Incremental: opts.Incremental, Trigger: trigger, State: model.JobPending}
			if diff := cmp.Diff(want, job); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(job.Name, "usersync-"+trigger+"-") {
				t.Errorf("Job name %q, want usersync-%s-…", job.Name, trigger)
			}
			stored, err := client.BatchV1().Jobs("sync").Get(ctx, job.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stored.Spec.Template.Spec.Containers[0].Args, syncflags.Args(opts.Scope, opts.Incremental); !cmp.Equal(got, want) {
				t.Errorf("args %q, want %q", got, want)
			}
			if got := stored.Labels[LabelMode]; (got == "incremental") != opts.Incremental || (got != "" && got != "incremental") {
				t.Errorf("mode label %q with incremental %v", got, opts.Incremental)
			}
			if listed, err := l.ListSyncJobs(ctx); err != nil || len(listed) != 1 || listed[0] != job {
				t.Errorf("ListSyncJobs = %+v, %v; want the launched Job", listed, err)
			}
		})
	}
	t.Run("an unknown trigger is refused", func(t *testing.T) {
		_, l := fakeCluster(t)
		if _, _, err := l.Launch(context.Background(), LaunchOptions{Scope: model.ScopeUsers, Trigger: "schedule"}); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("Launch with trigger schedule: %v, want ErrInvalid", err)
		}
	})
	t.Run("an idempotency key reused for another mode is refused", func(t *testing.T) {
		_, l := fakeCluster(t)
		ctx := context.Background()
		if _, _, err := l.Launch(ctx, LaunchOptions{Scope: model.ScopeUsers, Incremental: true, IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := l.Launch(ctx, LaunchOptions{Scope: model.ScopeUsers, IdempotencyKey: "k"})
		if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "a sync of users (incremental), not of users (full)") {
			t.Errorf("Launch: %v, want ErrInvalid saying both modes", err)
		}
	})
}

func TestLaunchReleasesTheLeaseWhenTheCreateFails(t *testing.T) {
	client, l := fakeCluster(t)
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, rbacForbidden("create", "jobs")
	})
	_, _, err := l.LaunchSync(context.Background(), model.ScopeUsers, false, "")
	if !errors.Is(err, model.ErrDenied) {
		t.Fatalf("LaunchSync: %v, want ErrDenied", err)
	}
	lease, _ := client.CoordinationV1().Leases("sync").Get(context.Background(), "usersync", metav1.GetOptions{})
	if lease.Spec.HolderIdentity != nil {
		t.Errorf("the Lease still names %s: the next launch would wait out the grace for a Job that never came", *lease.Spec.HolderIdentity)
	}
}

// rbacForbidden is the API server's answer when RBAC refuses a call, as
// its authorizer words it.
func rbacForbidden(verb, resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "x",
		fmt.Errorf(`User "system:serviceaccount:sync:usersync-api" cannot %s resource %q in API group "" in the namespace "sync"`, verb, resource))
}

func TestLaunchErrors(t *testing.T) {
	refuse := func(verb, resource string, err error) func(*fake.Clientset) {
		return func(c *fake.Clientset) {
			c.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, err
			})
		}
	}
	forbidden := func(verb, resource string) func(*fake.Clientset) {
		return refuse(verb, resource, rbacForbidden(verb, resource))
	}
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	tests := map[string]struct {
		edit func(*fake.Clientset)
		want error
		text string
	}{
		"no CronJob": {
			edit: func(c *fake.Clientset) {
				_ = c.Tracker().Delete(batchv1.SchemeGroupVersion.WithResource("cronjobs"), "sync", "usersync")
			},
			want: model.ErrNotConfigured, text: "CronJob sync/usersync does not exist",
		},
		"no Lease": {
			edit: func(c *fake.Clientset) {
				_ = c.Tracker().Delete(coordinationv1.SchemeGroupVersion.WithResource("leases"), "sync", "usersync")
			},
			want: model.ErrNotConfigured, text: "Lease sync/usersync does not exist",
		},
		"RBAC forbids reading the CronJob": {edit: forbidden("get", "cronjobs"), want: model.ErrDenied, text: "may not get cronjobs usersync"},
		"RBAC forbids listing Jobs":        {edit: forbidden("list", "jobs"), want: model.ErrDenied, text: "may not list jobs"},
		"RBAC forbids the Lease":           {edit: forbidden("update", "leases"), want: model.ErrDenied, text: "may not update leases"},
		"a ResourceQuota is exhausted: admission, not RBAC": {
			edit: refuse("create", "jobs", apierrors.NewForbidden(jobs, "usersync-api-x",
				errors.New("exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=5, limited: count/jobs.batch=5"))),
			want: model.ErrAdmissionDenied, text: "exceeded quota",
		},
		"a ValidatingAdmissionPolicy denies the Job (reason Forbidden)": {
			edit: refuse("create", "jobs", apierrors.NewForbidden(jobs, "usersync-api-x",
				errors.New("ValidatingAdmissionPolicy 'p' with binding 'p' denied request: no"))),
			want: model.ErrAdmissionDenied, text: "ValidatingAdmissionPolicy 'p'",
		},
		"a ValidatingAdmissionPolicy denies the Job (reason Invalid)": {
			edit: refuse("create", "jobs", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "usersync-api-x",
				field.ErrorList{field.Invalid(field.NewPath(""), nil, "ValidatingAdmissionPolicy 'p' with binding 'p' denied request: no")})),
			want: model.ErrAdmissionDenied, text: "admission refused",
		},
		"the template makes an invalid Job": {
			edit: refuse("create", "jobs", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "usersync-api-x",
				field.ErrorList{field.Required(field.NewPath("spec", "template", "spec", "containers"), "")})),
			want: model.ErrNotConfigured, text: "refused to create jobs",
		},
		"the API server's certificate is not trusted": {
			edit: refuse("get", "cronjobs", &url.Error{Op: "Get", URL: "https://k", Err: &tls.CertificateVerificationError{
				Err: x509.UnknownAuthorityError{}}}),
			want: model.ErrNotConfigured, text: "cannot verify the Kubernetes API's certificate",
		},
		"the API server refuses the client certificate": {
			edit: refuse("get", "cronjobs", &url.Error{Op: "Get", URL: "https://k", Err: tls.AlertError(42)}),
			want: model.ErrNotConfigured, text: "cannot verify",
		},
		"a connection refused is unavailable": {
			edit: refuse("get", "cronjobs", &url.Error{Op: "Get", URL: "https://k", Err: syscall.ECONNREFUSED}),
			want: model.ErrKubernetesUnavailable,
		},
		"the API server is overloaded": {
			edit: func(c *fake.Clientset) {
				c.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewTooManyRequests("slow down", 1)
				})
			},
			want: model.ErrKubernetesUnavailable,
		},
		"the template lost its sync container": {
			edit: func(c *fake.Clientset) {
				cj, _ := c.BatchV1().CronJobs("sync").Get(context.Background(), "usersync", metav1.GetOptions{})
				cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Name = "main"
				_, _ = c.BatchV1().CronJobs("sync").Update(context.Background(), cj, metav1.UpdateOptions{})
			},
			want: model.ErrNotConfigured, text: `no container named "usersync"`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			client, l := fakeCluster(t)
			tt.edit(client)
			_, _, err := l.LaunchSync(context.Background(), model.ScopeUsers, false, "")
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("LaunchSync: %v; want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestListAndGetSyncJobs(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	foreign := ownedJob("foreign", t0, model.JobRunning, nil)
	foreign.OwnerReferences[0].UID = "another"
	_, l := fakeCluster(t,
		ownedJob("old", t0, model.JobSucceeded, nil),
		ownedJob("newest", t0.Add(2*time.Hour), model.JobRunning, map[string]string{AnnotationInstantiate: "manual"}),
		ownedJob("middle", t0.Add(time.Hour), model.JobFailed, nil),
		foreign)
	ctx := context.Background()
	jobs, err := l.ListSyncJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name+":"+string(j.State)+":"+j.Trigger)
	}
	if got, want := strings.Join(names, " "), "newest:running:manual middle:failed:schedule old:succeeded:schedule"; got != want {
		t.Errorf("ListSyncJobs = %s, want %s", got, want)
	}
	if j, err := l.GetSyncJob(ctx, "middle"); err != nil || j.State != model.JobFailed {
		t.Errorf("GetSyncJob(middle) = %+v, %v", j, err)
	}
	for _, name := range []string{"foreign", "absent"} {
		if _, err := l.GetSyncJob(ctx, name); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("GetSyncJob(%s): %v, want ErrNotFound", name, err)
		}
	}
}

// TestTimeoutBoundsAHangingAPIServer uses a real client against a server
// that accepts connections and never answers: the fake clientset ignores
// contexts.
func TestTimeoutBoundsAHangingAPIServer(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	reg := prometheus.NewRegistry()
	client, err := NewClient(&rest.Config{Host: srv.URL}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLauncher(Config{Client: client, Namespace: "sync", CronJob: "usersync", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = l.LaunchSync(context.Background(), model.ScopeUsers, false, "")
	if !errors.Is(err, model.ErrKubernetesUnavailable) {
		t.Errorf("LaunchSync: %v, want ErrKubernetesUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("LaunchSync took %v with a 300ms timeout", d)
	}
	if n := testutil.CollectAndCount(reg, "usersapi_kubernetes_request_duration_seconds"); n != 1 {
		t.Errorf("%d series observed, want 1 (GET, code 0)", n)
	}
}

func TestClientMetricsByVerbAndCode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, tt := range []struct {
		host string
		want string
	}{{srv.URL, "GET 404"}, {closed, "GET 0"}} {
		reg := prometheus.NewRegistry()
		client, err := NewClient(&rest.Config{Host: tt.host}, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.BatchV1().CronJobs("sync").Get(context.Background(), "usersync", metav1.GetOptions{}); err == nil {
			t.Fatal("the request succeeded")
		}
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 {
			t.Fatalf("gathered %v, %v", mfs, err)
		}
		var got []string
		for _, m := range mfs[0].Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			got = append(got, fmt.Sprintf("%s %s", l["verb"], l["code"]))
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s: observed %q, want %s", tt.host, got, tt.want)
		}
	}
}

func TestLoadClientConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: sync}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cc, err := LoadClientConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cc.REST.Host != "https://127.0.0.1:6443" || cc.REST.BearerToken != "secret" || cc.Namespace != "sync" {
		t.Errorf("loaded host %q, namespace %q", cc.REST.Host, cc.Namespace)
	}
	if _, err := LoadClientConfig(filepath.Join(dir, "absent")); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("a missing kubeconfig: %v, want ErrInvalid", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := LoadClientConfig(""); !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "KUBECONFIG") {
		t.Errorf("outside a cluster without KUBECONFIG: %v, want ErrInvalid", err)
	}
}
