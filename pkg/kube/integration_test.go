package kube_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cluster is one test's namespace holding what the chart creates for sync
// on demand (testdata), seen by the admin and by usersapi's service account.
type cluster struct {
	cp    *kubetest.ControlPlane
	ns    string
	admin kubernetes.Interface
	// token is a TokenRequest token of the service account usersync-api.
	token string
	// warnings collects the API server's warnings to the service account.
	warnings *kubetest.Warnings
}

// manifests returns testdata's CronJob and RBAC objects for namespace ns.
func manifests(t *testing.T, ns string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{"testdata/cronjob.yaml", "testdata/rbac.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, "\n---\n"...)
		all = append(all, data...)
	}
	// The RoleBinding's subject names the namespace.
	return []byte(strings.ReplaceAll(string(all), "namespace: usersync\n", "namespace: "+ns+"\n"))
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cp := kubetest.Get(t)
	c := &cluster{cp: cp, ns: cp.CreateNamespace(t, "sync"), admin: cp.Clientset(), warnings: &kubetest.Warnings{}}
	if _, err := cp.CreateObjects(testCtx(t), c.ns, manifests(t, c.ns)); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.token, err = cp.ServiceAccountToken(testCtx(t), c.ns, "usersync-api"); err != nil {
		t.Fatal(err)
	}
	return c
}

// launcher is a Launcher acting as the service account, with its own
// client: as another replica of usersapi would be.
func (c *cluster) launcher(t *testing.T) *kube.Launcher {
	t.Helper()
	cfg := c.cp.TokenConfig(c.token)
	cfg.WarningHandler = c.warnings
	return c.launcherFor(t, cfg, kube.Config{})
}

// launcherFor is a Launcher of the test's CronJob with its own client of
// cfg, configured further by lc (its client, namespace and CronJob are
// set here).
func (c *cluster) launcherFor(t *testing.T, cfg *rest.Config, lc kube.Config) *kube.Launcher {
	t.Helper()
	client, err := kube.NewClient(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lc.Client, lc.Namespace, lc.CronJob = client, c.ns, "usersync"
	l, err := kube.NewLauncher(lc)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// kubectl runs kubectl as the service account in the test's namespace.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.cp.WriteKubeconfig(kubeconfig, c.token, c.ns); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command(path, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("kubectl %s warned:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}

// normalized strips what differs between any two Jobs made from one
// CronJob: names, uids, timestamps, versions, and the labels and selector
// the API server derives from the Job's uid and name.
func normalized(j *batchv1.Job) *batchv1.Job {
	j = j.DeepCopy()
	j.ObjectMeta = metav1.ObjectMeta{Labels: j.Labels, Annotations: j.Annotations, OwnerReferences: j.OwnerReferences}
	derived := []string{"batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name", "job-name"}
	for _, k := range derived {
		delete(j.Labels, k)
		delete(j.Spec.Template.Labels, k)
	}
	j.Spec.Selector = nil
	j.Status = batchv1.JobStatus{}
	return j
}

func TestJobEqualsKubectlsExceptTheDocumentedDifferences(t *testing.T) {
	for _, variant := range []string{"the chart's CronJob", "a template without ttl or Job labels"} {
		t.Run(variant, func(t *testing.T) {
			c := newCluster(t)
			ctx := testCtx(t)
			if variant != "the chart's CronJob" {
				cj, err := c.admin.BatchV1().CronJobs(c.ns).Get(ctx, "usersync", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cj.Spec.JobTemplate.Spec.TTLSecondsAfterFinished = nil
				cj.Spec.JobTemplate.Labels = nil
				if _, err := c.admin.BatchV1().CronJobs(c.ns).Update(ctx, cj, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			c.kubectl(t, "create", "job", "by-kubectl", "--from=cronjob/usersync")
			if err := c.cp.SetJobStatus(ctx, c.ns, "by-kubectl", kubetest.JobSucceeded); err != nil {
				t.Fatal(err)
			}
			byKubectl, err := c.admin.BatchV1().Jobs(c.ns).Get(ctx, "by-kubectl", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			l := c.launcher(t)
			for _, opts := range []kube.LaunchOptions{
				{Scope: model.ScopeUsers},
				{Scope: model.ScopeAll, Incremental: true, Trigger: model.TriggerWebhook},
			} {
				launched, created, err := l.Launch(ctx, opts)
				if err != nil || !created {
					t.Fatalf("Launch(%+v): %v, %v", opts, created, err)
				}
				if w := c.warnings.All(); len(w) > 0 {
					t.Errorf("the API server warned about the launched Job: %q", w)
				}
				ours, err := c.admin.BatchV1().Jobs(c.ns).Get(ctx, launched.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}

				// kubectl's Job, with the documented differences applied.
				want := normalized(byKubectl)
				want.Labels["usersync.io/scope"] = string(opts.Scope)
				trigger := opts.Trigger
				if trigger == "" {
					trigger = "api"
				}
				want.Labels["usersync.io/trigger"] = trigger
				sc := syncContainerOf(t, want)
				if !cmp.Equal(sc.Args, []string{"--full"}) {
					t.Fatalf("kubectl's Job runs %q; the chart's args changed?", sc.Args)
				}
				sc.Args = []string{"--scope", string(opts.Scope)}
				if opts.Incremental {
					want.Labels["usersync.io/mode"] = "incremental"
					sc.Args = append(sc.Args, "--incremental")
				}
				for i := range sc.Env {
					if sc.Env[i].Name == "SYNC_TRIGGER" {
						sc.Env[i].Value = trigger
					}
				}
				if want.Spec.TTLSecondsAfterFinished == nil {
					want.Spec.TTLSecondsAfterFinished = ptr(int32(kube.DefaultJobTTL / time.Second))
				}
				if diff := cmp.Diff(want, normalized(ours)); diff != "" {
					t.Errorf("%+v: launched Job differs from kubectl's beyond the documented differences (-kubectl +launched):\n%s", opts, diff)
				}
				if err := c.cp.SetJobStatus(ctx, c.ns, launched.Name, kubetest.JobSucceeded); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func syncContainerOf(t *testing.T, j *batchv1.Job) *corev1.Container {
	t.Helper()
	for i, c := range j.Spec.Template.Spec.Containers {
		if c.Name == "usersync" {
			return &j.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("no usersync container")
	return nil
}

func TestServiceAccountHasLeastPrivilege(t *testing.T) {
	c := newCluster(t)
	sa := kubernetes.NewForConfigOrDie(c.cp.TokenConfig(c.token))
	tests := []struct {
		verb, group, resource, sub, name, ns string
		allowed                              bool
	}{
		{"get", "batch", "cronjobs", "", "usersync", "", true},
		{"create", "batch", "jobs", "", "", "", true},
		{"get", "batch", "jobs", "", "any", "", true},
		{"list", "batch", "jobs", "", "", "", true},
		{"get", "coordination.k8s.io", "leases", "", "usersync", "", true},
		{"update", "coordination.k8s.io", "leases", "", "usersync", "", true},

		{"get", "", "secrets", "", "usersync-database", "", false},
		{"list", "", "secrets", "", "", "", false},
		{"create", "", "pods", "", "", "", false},
		{"create", "", "pods", "exec", "any", "", false},
		{"get", "", "pods", "log", "any", "", false},
		{"list", "batch", "cronjobs", "", "", "", false},
		{"get", "batch", "cronjobs", "", "another", "", false},
		{"create", "batch", "cronjobs", "", "", "", false},
		{"update", "batch", "cronjobs", "", "usersync", "", false},
		{"patch", "batch", "cronjobs", "", "usersync", "", false},
		{"delete", "batch", "cronjobs", "", "usersync", "", false},
		{"update", "batch", "cronjobs", "finalizers", "usersync", "", false},
		{"update", "batch", "jobs", "", "any", "", false},
		{"patch", "batch", "jobs", "status", "any", "", false},
		{"delete", "batch", "jobs", "", "any", "", false},
		{"update", "apps", "deployments", "", "usersync-api", "", false},
		{"patch", "apps", "deployments", "", "usersync-api", "", false},
		{"create", "coordination.k8s.io", "leases", "", "", "", false},
		{"update", "coordination.k8s.io", "leases", "", "another", "", false},
		{"delete", "coordination.k8s.io", "leases", "", "usersync", "", false},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", "", "", false},
		{"create", "batch", "jobs", "", "", "default", false},
	}
	for _, tt := range tests {
		ns := tt.ns
		if ns == "" {
			ns = c.ns
		}
		review, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(testCtx(t), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: tt.verb, Group: tt.group, Resource: tt.resource, Subresource: tt.sub, Name: tt.name,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != tt.allowed {
			t.Errorf("can %s %s.%s/%s %q in %s: %v, want %v", tt.verb, tt.resource, tt.group, tt.sub, tt.name, ns,
				review.Status.Allowed, tt.allowed)
		}
	}
	// The same through kubectl, as an operator would check it.
	for _, q := range []struct{ args, want string }{
		{"get secrets", "no"}, {"create pods", "no"}, {"patch cronjobs/usersync", "no"},
		{"update deployments", "no"}, {"create jobs", "yes"},
	} {
		out := c.kubectlCanI(t, strings.Fields(q.args)...)
		if out != q.want {
			t.Errorf("kubectl auth can-i %s = %q, want %q", q.args, out, q.want)
		}
	}
}

// kubectlCanI runs kubectl auth can-i, whose exit status is 1 for "no".
func (c *cluster) kubectlCanI(t *testing.T, args ...string) string {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.cp.WriteKubeconfig(kubeconfig, c.token, c.ns); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig, "auth", "can-i"}, args...)...).Output()
	return strings.TrimSpace(string(out))
}

func TestLaunchLifecycle(t *testing.T) {
	c := newCluster(t)
	l := c.launcher(t)
	ctx := testCtx(t)
	launch := func(scope model.Scope) (model.SyncJob, error) {
		t.Helper()
		j, _, err := l.LaunchSync(ctx, scope, false, "")
		return j, err
	}
	wantConflict := func(naming string) {
		t.Helper()
		_, err := launch(model.ScopeAll)
		if !errors.Is(err, model.ErrConflict) || !strings.Contains(err.Error(), "sync Job "+naming+" ") {
			t.Fatalf("launch: %v, want a conflict naming %s", err, naming)
		}
	}
	setStatus := func(name string, phase kubetest.JobPhase) {
		t.Helper()
		if err := c.cp.SetJobStatus(ctx, c.ns, name, phase); err != nil {
			t.Fatal(err)
		}
	}

	first, err := launch(model.ScopeUsers)
	if err != nil {
		t.Fatal(err)
	}
	wantConflict(first.Name)
	setStatus(first.Name, kubetest.JobRunning)
	wantConflict(first.Name)
	setStatus(first.Name, kubetest.JobSucceeded)

	second, err := launch(model.ScopeAssets)
	if err != nil {
		t.Fatalf("launch after the first Job completed: %v", err)
	}
	setStatus(second.Name, kubetest.JobFailed)
	third, err := launch(model.ScopeAll)
	if err != nil {
		t.Fatalf("launch after a failed Job: %v", err)
	}
	setStatus(third.Name, kubetest.JobSucceeded)

	// A Job as the CronJob controller makes it blocks a launch.
	cj, err := c.admin.BatchV1().CronJobs(c.ns).Get(ctx, "usersync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: "usersync-29000000", Labels: cj.Spec.JobTemplate.Labels,
			Annotations:     map[string]string{"batch.kubernetes.io/cronjob-scheduled-timestamp": "2025-02-19T08:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	if _, err := c.admin.BatchV1().Jobs(c.ns).Create(ctx, scheduled, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantConflict("usersync-29000000")
	setStatus("usersync-29000000", kubetest.JobSucceeded)

	// So does one from kubectl.
	c.kubectl(t, "create", "job", "by-hand", "--from=cronjob/usersync")
	wantConflict("by-hand")
	setStatus("by-hand", kubetest.JobFailed)

	// A Job of no CronJob neither blocks nor shows.
	plain := scheduled.DeepCopy()
	plain.Name, plain.OwnerReferences, plain.Annotations = "unrelated", nil, nil
	if _, err := c.admin.BatchV1().Jobs(c.ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	jobs, err := l.ListSyncJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Name] = string(j.Scope) + " " + j.Trigger + " " + string(j.State)
		if j.StartedAt == nil || j.FinishedAt == nil || j.FinishedAt.Before(j.CreatedAt.Add(-time.Second)) {
			t.Errorf("%s: created %v, started %v, finished %v", j.Name, j.CreatedAt, j.StartedAt, j.FinishedAt)
		}
	}
	want := map[string]string{
		first.Name:          "users api succeeded",
		second.Name:         "assets api failed",
		third.Name:          "all api succeeded",
		"usersync-29000000": "all schedule succeeded",
		"by-hand":           "all manual failed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListSyncJobs (-want +got):\n%s", diff)
	}
	for i := 1; i < len(jobs); i++ {
		if jobs[i].CreatedAt.After(jobs[i-1].CreatedAt) {
			t.Errorf("not newest first: %s (%v) after %s (%v)", jobs[i].Name, jobs[i].CreatedAt, jobs[i-1].Name, jobs[i-1].CreatedAt)
		}
	}
	if j, err := l.GetSyncJob(ctx, second.Name); err != nil || j.State != model.JobFailed {
		t.Errorf("GetSyncJob(%s) = %+v, %v", second.Name, j, err)
	}
	if _, err := l.GetSyncJob(ctx, "unrelated"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("GetSyncJob of a Job of no CronJob: %v, want ErrNotFound", err)
	}
}

// TestConcurrentLaunchesStartOneJob races 20 launches, each through its own
// client as separate replicas would, several times over.
func TestConcurrentLaunchesStartOneJob(t *testing.T) {
	c := newCluster(t)
	const racers = 20
	launchers := make([]*kube.Launcher, racers)
	for i := range launchers {
		launchers[i] = c.launcher(t)
	}
	ctx := testCtx(t)
	for round := range 3 {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created []string
			others  []error
		)
		start := make(chan struct{})
		for _, l := range launchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				j, ok, err := l.LaunchSync(ctx, model.ScopeUsers, false, "")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && ok:
					created = append(created, j.Name)
				case errors.Is(err, model.ErrConflict):
				default:
					others = append(others, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(created) != 1 || len(others) > 0 {
			t.Fatalf("round %d: %d launches created a Job (%q), other errors %v; want exactly one", round, len(created), created, others)
		}
		jobs, err := c.admin.BatchV1().Jobs(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "usersync.io/trigger=api"})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != round+1 {
			t.Fatalf("round %d: %d API Jobs exist, want %d", round, len(jobs.Items), round+1)
		}
		if err := c.cp.SetJobStatus(ctx, c.ns, created[0], kubetest.JobSucceeded); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWithoutTheRoleBindingLaunchIsDenied(t *testing.T) {
	c := newCluster(t)
	l := c.launcher(t)
	ctx := testCtx(t)
	if err := c.admin.RbacV1().RoleBindings(c.ns).Delete(ctx, "usersync-api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The authorizer's cache follows within moments.
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for {
		_, _, err = l.LaunchSync(ctx, model.ScopeUsers, false, "")
		if errors.Is(err, model.ErrDenied) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Which call is refused first depends on how far the authorizer's cache
	// has got; each names itself.
	if !errors.Is(err, model.ErrDenied) || !regexp.MustCompile(`usersapi may not \w+ \w+ .*in namespace `+c.ns).MatchString(err.Error()) {
		t.Errorf("LaunchSync without the RoleBinding: %v, want ErrDenied saying what", err)
	}
	if _, err := l.ListSyncJobs(ctx); !errors.Is(err, model.ErrDenied) {
		t.Errorf("ListSyncJobs without the RoleBinding: %v, want ErrDenied", err)
	}
}

// TestRefusalsAreClassified: on a real API server, RBAC, admission
// (a ResourceQuota, a ValidatingAdmissionPolicy) and a client that cannot
// verify the server's certificate each give their own sentinel, and none
// of them is "unavailable, try again".
func TestRefusalsAreClassified(t *testing.T) {
	t.Run("an exhausted ResourceQuota is admission, not RBAC", func(t *testing.T) {
		c := newCluster(t)
		ctx := testCtx(t)
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "jobs"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}},
		}
		created, err := c.admin.CoreV1().ResourceQuotas(c.ns).Create(ctx, quota, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No quota controller runs here: write the usage it would.
		created.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}}
		if _, err := c.admin.CoreV1().ResourceQuotas(c.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.launcher(t).LaunchSync(ctx, model.ScopeUsers, false, "")
		if !errors.Is(err, model.ErrAdmissionDenied) || errors.Is(err, model.ErrDenied) || !strings.Contains(err.Error(), "exceeded quota") {
			t.Errorf("LaunchSync over quota: %v, want ErrAdmissionDenied naming the quota", err)
		}
	})

	t.Run("a ValidatingAdmissionPolicy's denial is admission, not RBAC", func(t *testing.T) {
		c := newCluster(t)
		ctx := testCtx(t)
		name := c.ns + ".deny-jobs.usersync.io"
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs"}},
					}}}},
				MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "this-test",
					Expression: fmt.Sprintf("request.namespace == %q", c.ns)}},
				Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "no Jobs here"}},
			},
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
		}
		if _, err := c.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			_ = c.admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = c.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
		})
		l := c.launcher(t)
		// The API server starts enforcing a new policy within moments.
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			var created bool
			var job model.SyncJob
			job, created, err = l.LaunchSync(ctx, model.ScopeUsers, false, "")
			if created {
				// Not enforced yet: let the next launch through.
				if err := c.cp.SetJobStatus(ctx, c.ns, job.Name, kubetest.JobSucceeded); err != nil {
					t.Fatal(err)
				}
				continue
			}
			break
		}
		if !errors.Is(err, model.ErrAdmissionDenied) || !strings.Contains(err.Error(), "no Jobs here") {
			t.Errorf("LaunchSync against a denying policy: %v, want ErrAdmissionDenied with the policy's message", err)
		}
	})

	t.Run("a certificate the client cannot verify is misconfiguration, not an outage", func(t *testing.T) {
		c := newCluster(t)
		cfg := c.cp.TokenConfig(c.token)
		other := kubetest.Run(t, kubetest.Options{}) // another control plane: another CA
		cfg.CAData = other.CACert()
		_, _, err := c.launcherFor(t, cfg, kube.Config{}).LaunchSync(testCtx(t), model.ScopeUsers, false, "")
		if !errors.Is(err, model.ErrNotConfigured) || errors.Is(err, model.ErrKubernetesUnavailable) ||
			!strings.Contains(err.Error(), "cannot verify the Kubernetes API's certificate") {
			t.Errorf("LaunchSync with a CA that did not sign the server's certificate: %v, want ErrNotConfigured", err)
		}
	})
}

// TestReplicasWhoseClocksDifferStartOneJob: replica A, whose clock is 45 s
// behind B's, wins the Lease and is slow to create its Job; B, launching
// meanwhile, must not take A's acquireTime for stale (by B's clock it is
// older than the grace) and start a second Job. Once B has seen that Lease
// unchanged for the grace on its own clock, A counts as dead.
func TestReplicasWhoseClocksDifferStartOneJob(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)

	// A's client holds its Job create until the test lets it go.
	release := make(chan struct{})
	holding := make(chan struct{}, 1)
	cfgA := c.cp.TokenConfig(c.token)
	cfgA.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/jobs") {
				holding <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return rt.RoundTrip(r)
		})
	})
	a := c.launcherFor(t, cfgA, kube.Config{Timeout: time.Minute,
		Now: func() time.Time { return time.Now().Add(-45 * time.Second) }})
	var skewB time.Duration
	var mu sync.Mutex
	b := c.launcherFor(t, c.cp.TokenConfig(c.token), kube.Config{
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skewB) }})

	type result struct {
		job model.SyncJob
		err error
	}
	done := make(chan result, 1)
	go func() {
		j, _, err := a.LaunchSync(ctx, model.ScopeUsers, false, "")
		done <- result{j, err}
	}()
	<-holding // A holds the Lease and is creating its Job

	if _, _, err := b.LaunchSync(ctx, model.ScopeAssets, false, ""); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("B launched while A was creating its Job: %v; want a conflict", err)
	}
	close(release)
	ra := <-done
	if ra.err != nil {
		t.Fatalf("A's launch: %v", ra.err)
	}
	jobs, err := c.admin.BatchV1().Jobs(c.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 {
		t.Fatalf("%d Jobs (%v), want A's alone", len(jobs.Items), err)
	}

	// A dies between writing the Lease and creating its Job (the Lease as
	// A writes it, by A's clock): B waits out the grace on its own clock,
	// then launches.
	if err := c.cp.SetJobStatus(ctx, c.ns, ra.job.Name, kubetest.JobSucceeded); err != nil {
		t.Fatal(err)
	}
	lease, err := c.admin.CoordinationV1().Leases(c.ns).Get(ctx, "usersync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.HolderIdentity = ptr("usersync-api-died0000")
	lease.Spec.AcquireTime = &metav1.MicroTime{Time: time.Now().Add(-45 * time.Second)}
	if _, err := c.admin.CoordinationV1().Leases(c.ns).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.LaunchSync(ctx, model.ScopeAssets, false, ""); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("B launched at first sight of A's fresh Lease: %v; want a conflict", err)
	}
	mu.Lock()
	skewB = 31 * time.Second
	mu.Unlock()
	if _, created, err := b.LaunchSync(ctx, model.ScopeAssets, false, ""); err != nil || !created {
		t.Fatalf("B after seeing A's Lease unchanged for the grace: %v, %v; want a new Job", created, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTestdataDecodes keeps testdata in the API's typed shape: a field
// misspelt there would be dropped silently by the API server.
func TestTestdataDecodes(t *testing.T) {
	for _, doc := range strings.Split(string(manifests(t, "x")), "\n---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		strict := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
		if _, _, err := strict.Decode([]byte(doc), nil, nil); err != nil {
			t.Errorf("%v in\n%s", err, doc)
		}
	}
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func ptr[T any](v T) *T { return &v }
