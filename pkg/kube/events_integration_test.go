package kube_test

import (
	"errors"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
)

func (c *cluster) webhookJobs(t *testing.T) []batchv1.Job {
	t.Helper()
	list, err := c.admin.BatchV1().Jobs(c.ns).List(testCtx(t), metav1.ListOptions{LabelSelector: kube.LabelTrigger + "=webhook"})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestReplicasCountingAndLaunchingEventsStartOneJob: four replicas (each
// its own client) count events at once, then launch at once, as their
// webhook queues do after the debounce, on a real API server: one Job
// covers them all. An event counted
// after that Job was created makes exactly one more Job, and only once the
// first has finished.
func TestReplicasCountingAndLaunchingEventsStartOneJob(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	replicas := make([]*kube.Launcher, 4)
	for i := range replicas {
		replicas[i] = c.launcher(t)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
		others  []error
	)
	start, counted := make(chan struct{}), make(chan struct{})
	var counting sync.WaitGroup
	for _, l := range replicas {
		wg.Add(1)
		counting.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 5 {
				if err := l.RecordEvents(ctx, 1); err != nil {
					mu.Lock()
					others = append(others, err)
					mu.Unlock()
				}
			}
			counting.Done()
			<-counted
			j, ok, err := l.LaunchPending(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && ok:
				created = append(created, j.Name)
			case err == nil, errors.Is(err, model.ErrConflict):
			default:
				others = append(others, err)
			}
		}()
	}
	close(start)
	counting.Wait()
	close(counted)
	wg.Wait()
	if len(created) != 1 || len(others) > 0 {
		t.Fatalf("%d replicas created a Job (%q), other errors %v; want exactly one", len(created), created, others)
	}
	// Every replica retries until nothing is pending: still one Job.
	for _, l := range replicas {
		if _, ok, err := l.LaunchPending(ctx); ok || (err != nil && !errors.Is(err, model.ErrConflict)) {
			t.Fatalf("a retry launched %v (%v)", ok, err)
		}
	}
	if n, err := replicas[0].PendingEvents(ctx); err != nil || n != 0 {
		t.Errorf("PendingEvents = %d, %v; want 0: the Job covers all 20", n, err)
	}

	// An event after the Job was created: pending, refused while the Job
	// runs, one more Job after it.
	if err := replicas[1].RecordEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.cp.SetJobStatus(ctx, c.ns, created[0], kubetest.JobRunning); err != nil {
		t.Fatal(err)
	}
	for _, l := range replicas {
		if _, _, err := l.LaunchPending(ctx); !errors.Is(err, model.ErrConflict) {
			t.Fatalf("LaunchPending while the Job runs: %v, want ErrConflict", err)
		}
	}
	if err := c.cp.SetJobStatus(ctx, c.ns, created[0], kubetest.JobSucceeded); err != nil {
		t.Fatal(err)
	}
	made := 0
	for _, l := range replicas {
		_, ok, err := l.LaunchPending(ctx)
		if err != nil && !errors.Is(err, model.ErrConflict) {
			t.Fatal(err)
		}
		if ok {
			made++
		}
	}
	if jobs := c.webhookJobs(t); made != 1 || len(jobs) != 2 {
		t.Errorf("after the Job finished: %d launches created a Job, %d webhook Jobs exist; want one more, two in all", made, len(jobs))
	}
}

// TestIncrementalCronJobBlocksLaunches gives the service account get on a
// second, incremental CronJob (as the chart does when its incremental
// schedule is on): while that CronJob's Job runs, neither the API nor the
// webhook launches, and GET /sync/jobs lists the Job.
func TestIncrementalCronJobBlocksLaunches(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	cj, err := c.admin.BatchV1().CronJobs(c.ns).Get(ctx, "usersync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inc := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "usersync-incremental", Namespace: c.ns}, Spec: *cj.Spec.DeepCopy()}
	inc.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args = []string{"--scope", "all", "--incremental"}
	if inc, err = c.admin.BatchV1().CronJobs(c.ns).Create(ctx, inc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "usersync-api-incremental", Namespace: c.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"cronjobs"},
			ResourceNames: []string{inc.Name}, Verbs: []string{"get"}}}}
	if _, err := c.admin.RbacV1().Roles(c.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: c.ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "usersync-api", Namespace: c.ns}}}
	if _, err := c.admin.RbacV1().RoleBindings(c.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The CronJob controller's Job (none runs here: made by hand).
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "usersync-incremental-29000001", Namespace: c.ns,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: inc.Name, UID: inc.UID, Controller: ptr(true)}}},
		Spec: *inc.Spec.JobTemplate.Spec.DeepCopy()}
	if _, err := c.admin.BatchV1().Jobs(c.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.cp.SetJobStatus(ctx, c.ns, job.Name, kubetest.JobRunning); err != nil {
		t.Fatal(err)
	}

	l := c.launcherFor(t, c.cp.TokenConfig(c.token), kube.Config{IncrementalCronJob: inc.Name})
	if _, _, err := l.LaunchSync(ctx, model.ScopeUsers, true, ""); !errors.Is(err, model.ErrConflict) {
		t.Errorf("LaunchSync while the incremental CronJob's Job runs: %v, want ErrConflict", err)
	}
	if err := l.RecordEvents(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.LaunchPending(ctx); !errors.Is(err, model.ErrConflict) {
		t.Errorf("LaunchPending while the incremental CronJob's Job runs: %v, want ErrConflict", err)
	}
	jobs, err := l.ListSyncJobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Name != job.Name || !jobs[0].Incremental || jobs[0].Trigger != model.TriggerSchedule {
		t.Errorf("ListSyncJobs = %+v, %v; want the incremental CronJob's Job", jobs, err)
	}
	if err := c.cp.SetJobStatus(ctx, c.ns, job.Name, kubetest.JobSucceeded); err != nil {
		t.Fatal(err)
	}
	if _, created, err := l.LaunchPending(ctx); err != nil || !created {
		t.Errorf("LaunchPending once it finished = %v, %v", created, err)
	}
}
