package kube_test

import (
	"context"
	"errors"
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
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
)

var control = kubetest.NewShared(kubetest.Options{})

func TestMain(m *testing.M) {
	code := m.Run()
	control.Stop()
	os.Exit(code)
}

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
	cp := control.Get(t)
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
	client, err := kube.NewClient(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: c.ns, CronJob: "usersync"})
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
			launched, created, err := c.launcher(t).LaunchSync(ctx, model.ScopeUsers, "")
			if err != nil || !created {
				t.Fatalf("LaunchSync: %v, %v", created, err)
			}
			c.kubectl(t, "create", "job", "by-kubectl", "--from=cronjob/usersync")
			if w := c.warnings.All(); len(w) > 0 {
				t.Errorf("the API server warned about the launched Job: %q", w)
			}
			byKubectl, err := c.admin.BatchV1().Jobs(c.ns).Get(ctx, "by-kubectl", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ours, err := c.admin.BatchV1().Jobs(c.ns).Get(ctx, launched.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}

			// kubectl's Job, with the documented differences applied.
			want := normalized(byKubectl)
			want.Labels["usersync.io/scope"] = "users"
			want.Labels["usersync.io/trigger"] = "api"
			sc := syncContainerOf(t, want)
			if !cmp.Equal(sc.Args, []string{"--full"}) {
				t.Fatalf("kubectl's Job runs %q; the chart's args changed?", sc.Args)
			}
			sc.Args = []string{"--scope", "users"}
			for i := range sc.Env {
				if sc.Env[i].Name == "SYNC_TRIGGER" {
					sc.Env[i].Value = "api"
				}
			}
			if want.Spec.TTLSecondsAfterFinished == nil {
				want.Spec.TTLSecondsAfterFinished = ptr(int32(kube.DefaultJobTTL / time.Second))
			}
			if diff := cmp.Diff(want, normalized(ours)); diff != "" {
				t.Errorf("launched Job differs from kubectl's beyond the documented differences (-kubectl +launched):\n%s", diff)
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
		j, _, err := l.LaunchSync(ctx, scope, "")
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
				j, ok, err := l.LaunchSync(ctx, model.ScopeUsers, "")
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
		_, _, err = l.LaunchSync(ctx, model.ScopeUsers, "")
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
