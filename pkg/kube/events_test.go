package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/usersync/usersync/pkg/model"
)

// webhookJobs lists the Jobs the webhook launched.
func webhookJobs(t *testing.T, client *fake.Clientset) []batchv1.Job {
	t.Helper()
	list, err := client.BatchV1().Jobs("sync").List(context.Background(), metav1.ListOptions{LabelSelector: LabelTrigger + "=webhook"})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func pending(t *testing.T, l *Launcher) int64 {
	t.Helper()
	n, err := l.PendingEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLaunchPendingLaunchesOneIncrementalJobForTheEventsCounted(t *testing.T) {
	client, l := fakeCluster(t)
	ctx := context.Background()
	if _, created, err := l.LaunchPending(ctx); err != nil || created {
		t.Fatalf("LaunchPending without events = %v, %v; want nothing", created, err)
	}
	for range 3 {
		if err := l.RecordEvents(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	if n := pending(t, l); n != 6 {
		t.Errorf("PendingEvents = %d, want 6", n)
	}
	job, created, err := l.LaunchPending(ctx)
	if err != nil || !created {
		t.Fatalf("LaunchPending = %v, %v", created, err)
	}
	if job.Scope != model.ScopeAll || !job.Incremental || job.Trigger != model.TriggerWebhook {
		t.Errorf("the Job: %+v, want an incremental sync of all triggered by the webhook", job)
	}
	if n := pending(t, l); n != 0 {
		t.Errorf("PendingEvents after the launch = %d, want 0", n)
	}
	if _, created, err := l.LaunchPending(ctx); err != nil || created {
		t.Errorf("LaunchPending again = %v, %v; want nothing: the Job covers every event", created, err)
	}
	if n := len(webhookJobs(t, client)); n != 1 {
		t.Errorf("%d webhook Jobs, want 1", n)
	}
}

// TestEventsWhileAJobRunsWaitForIt: an event counted while a Job runs
// stays pending (ErrConflict) and makes exactly one more Job once that
// Job has finished.
func TestEventsWhileAJobRunsWaitForIt(t *testing.T) {
	client, l := fakeCluster(t, ownedJob("usersync-29000000", time.Now(), model.JobRunning, nil))
	ctx := context.Background()
	if err := l.RecordEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.LaunchPending(ctx); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("LaunchPending while a Job runs: %v, want ErrConflict", err)
	}
	if n := pending(t, l); n != 1 {
		t.Errorf("PendingEvents after the refusal = %d, want 1", n)
	}
	if _, err := client.BatchV1().Jobs("sync").UpdateStatus(ctx, ownedJob("usersync-29000000", time.Now(), model.JobSucceeded, nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, created, err := l.LaunchPending(ctx); err != nil || !created {
		t.Fatalf("LaunchPending after the Job finished = %v, %v", created, err)
	}
	if _, created, err := l.LaunchPending(ctx); err != nil || created {
		t.Errorf("a second LaunchPending = %v, %v; want nothing", created, err)
	}
}

// TestLaunchPendingFailingToCreateKeepsTheEvents: the Job create fails
// after the Lease marked the events covered; they are pending again.
func TestLaunchPendingFailingToCreateKeepsTheEvents(t *testing.T) {
	client, l := fakeCluster(t)
	ctx := context.Background()
	fail := true
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, rbacForbidden("create", "jobs")
		}
		return false, nil, nil
	})
	if err := l.RecordEvents(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.LaunchPending(ctx); !errors.Is(err, model.ErrDenied) {
		t.Fatalf("LaunchPending: %v, want ErrDenied", err)
	}
	if n := pending(t, l); n != 4 {
		t.Errorf("PendingEvents after the failed create = %d, want 4", n)
	}
	fail = false
	if _, created, err := l.LaunchPending(ctx); err != nil || !created {
		t.Errorf("LaunchPending once creates work = %v, %v", created, err)
	}
}

// TestIncrementalCronJobsJobsBlockAndAreListed: with IncrementalCronJob
// set, that CronJob's unfinished Job blocks launches (the webhook's and
// the API's) and its Jobs are listed and found; without the CronJob in
// the cluster everything works as with CronJob alone.
func TestIncrementalCronJobsJobsBlockAndAreListed(t *testing.T) {
	inc := chartCronJob(t)
	inc.Name, inc.UID = "usersync-incremental", "incremental-uid"
	inc.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args = []string{"--scope", "all", "--incremental"}
	job := ownedJob("usersync-incremental-29000001", time.Now(), model.JobRunning, nil)
	job.OwnerReferences[0].Name, job.OwnerReferences[0].UID = inc.Name, inc.UID
	job.Spec = *inc.Spec.JobTemplate.Spec.DeepCopy()
	client, _ := fakeCluster(t, inc, job)
	l, err := NewLauncher(Config{Client: client, Namespace: "sync", CronJob: "usersync", IncrementalCronJob: inc.Name})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.RecordEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.LaunchPending(ctx); !errors.Is(err, model.ErrConflict) {
		t.Errorf("LaunchPending while the incremental CronJob's Job runs: %v, want ErrConflict", err)
	}
	if _, _, err := l.LaunchSync(ctx, model.ScopeUsers, false, ""); !errors.Is(err, model.ErrConflict) {
		t.Errorf("LaunchSync while the incremental CronJob's Job runs: %v, want ErrConflict", err)
	}
	jobs, err := l.ListSyncJobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Name != job.Name || !jobs[0].Incremental || jobs[0].Trigger != model.TriggerSchedule {
		t.Errorf("ListSyncJobs = %+v, %v; want the incremental CronJob's scheduled incremental Job", jobs, err)
	}
	if _, err := l.GetSyncJob(ctx, job.Name); err != nil {
		t.Errorf("GetSyncJob of the incremental CronJob's Job: %v", err)
	}

	// Not installed (the chart's incremental schedule is off).
	client, _ = fakeCluster(t)
	l, err = NewLauncher(Config{Client: client, Namespace: "sync", CronJob: "usersync", IncrementalCronJob: "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := l.LaunchSync(ctx, model.ScopeUsers, true, ""); err != nil || !created {
		t.Errorf("LaunchSync without the incremental CronJob = %v, %v", created, err)
	}
}
