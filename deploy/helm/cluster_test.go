package helm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/kube/kubelettest"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/metrics/pushtest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

var crdsOnce sync.Once

// installMonitoringCRDs makes the API server serve ServiceMonitor and
// PrometheusRule, once per control plane.
func installMonitoringCRDs(t *testing.T, cp *kubetest.ControlPlane) {
	t.Helper()
	crdsOnce.Do(func() {
		raw, err := os.ReadFile(filepath.Join("testdata", "monitoring-crds.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cp.CreateObjects(context.Background(), "", raw); err != nil {
			t.Fatal(err)
		}
	})
	// A new CRD takes a moment to be served.
	eventually.NoError(t, 2*time.Minute, "the monitoring CRDs to be served", func() error {
		_, err := cp.Clientset().Discovery().ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
		return err
	})
}

// dryRunCreate sends every object of a rendered manifest to the API server
// as a server-side dry-run create with strict field validation, and
// returns the warnings it answered (PodSecurity's among them).
func dryRunCreate(t *testing.T, cp *kubetest.ControlPlane, ns, manifest string) []string {
	t.Helper()
	w := &kubetest.Warnings{}
	cfg := rest.CopyConfig(cp.Config())
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kubernetes.NewForConfigOrDie(cfg).Discovery()))
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		_, err = ri.Create(context.Background(), &u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("dry-run create %s %s: %v", gvk.Kind, u.GetName(), err)
		}
	}
	return w.All()
}

// TestPodTemplatesPassRestricted: every workload the chart can render (the
// bundled PostgreSQL and the helm test pod included) is accepted by a real
// API server in a namespace that enforces the restricted Pod Security
// Standard, with strict field validation and not one warning. No pod is
// ever created here, so the warnings on the templates are the proof.
func TestPodTemplatesPassRestricted(t *testing.T) {
	cp := kubetest.Get(t)
	installMonitoringCRDs(t, cp)
	h := helms(t)[0]
	for _, values := range ciValues(t) {
		t.Run(filepath.Base(values), func(t *testing.T) {
			ns := cp.CreateNamespace(t, "pss")
			out, err := h.run(t, "template", "r", chartDir, "--namespace", ns, "--kube-version", kubeVersion,
				"--api-versions", monitoringAPIs[0], "--api-versions", monitoringAPIs[1], "-f", values)
			if err != nil {
				t.Fatal(err)
			}
			if w := dryRunCreate(t, cp, ns, out); len(w) > 0 {
				t.Errorf("the API server warned:\n%s", strings.Join(w, "\n"))
			}
		})
	}
}

// chartEnv is one namespace with the chart's dependencies running: the
// Snipe-IT simulator, a fresh database, a Pushgateway and the kubelet
// stand-in.
type chartEnv struct {
	cp      *kubetest.ControlPlane
	ns      string
	helm    helmBinary
	client  kubernetes.Interface
	dbURL   string
	sim     *snipeittest.Server
	gateway string
	kubelet *kubelettest.Kubelet
	values  string // the values file
}

func newChartEnv(t *testing.T, h helmBinary) *chartEnv {
	t.Helper()
	cp := kubetest.Get(t)
	installMonitoringCRDs(t, cp)
	bin := binaries(t)
	e := &chartEnv{cp: cp, ns: cp.CreateNamespace(t, "chart-"+h.name), client: cp.Clientset(),
		dbURL: pgtest.NewDatabase(t), gateway: pushtest.Start(t)}
	e.helm = h
	e.helm.kubeconfig = cp.KubeconfigPath()
	e.sim = snipeittest.Start(t, snipeittest.Config{
		Data:       snipeittest.Generate(snipeittest.GenerateConfig{Users: 150, Assets: 90, Seed: 5}),
		MaxResults: 50,
	})
	e.kubelet = kubelettest.Start(t, kubelettest.Config{
		Client: e.client, Namespace: e.ns,
		Binaries: map[string]string{"/usersync": filepath.Join(bin, "usersync"), "/usersapi": filepath.Join(bin, "usersapi")},
		BaseEnv:  []string{"PATH=" + os.Getenv("PATH")},
		Logf:     t.Logf,
	})
	values := map[string]any{
		"snipeit":          map[string]any{"url": e.sim.URL(), "token": e.sim.Token(), "rateLimit": 0},
		"externalDatabase": map[string]any{"url": e.dbURL},
		"sync": map[string]any{"schedule": "15 7,19 * * 1-5", "timeZone": "Europe/Berlin",
			"extraEnv":    []any{map[string]any{"name": "SNIPEIT_RETRY_BACKOFF", "value": "10ms"}},
			"incremental": map[string]any{"enabled": true}},
		"metrics": map[string]any{"pushgatewayURL": e.gateway,
			"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true}},
		"api": map[string]any{"replicas": 2, "basePath": "/api",
			"ingress": map[string]any{"enabled": true, "className": "nginx", "hosts": []any{"users.example.com"},
				"tls": []any{map[string]any{"secretName": "users-tls", "hosts": []any{"users.example.com"}}}}},
		"networkPolicy": map[string]any{"enabled": true},
	}
	raw, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	e.values = filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(e.values, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// helmRun runs helm against the control plane in the env's namespace.
func (e *chartEnv) helmRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.helm.run(t, append(args, "--namespace", e.ns)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitJob waits until the Job is complete, and fails the test with its
// runs' output when it failed.
func (e *chartEnv) waitJob(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	eventually.Until(t, 2*time.Minute, "job "+name+" to finish", func() bool {
		j, err := e.client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		job = j
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	if job.Status.Succeeded != 1 {
		var out strings.Builder
		for _, r := range e.kubelet.Runs(name) {
			fmt.Fprintf(&out, "--- %s (err %v)\n%s\n", strings.Join(r.Args, " "), r.Err, r.Output)
		}
		t.Fatalf("job %s failed: %+v\n%s", name, job.Status.Conditions, out.String())
	}
	return job
}

// syncRun is a sync_runs row.
type syncRun struct {
	Scope, Trigger, JobName, Status string
}

// queryRows runs a query on the env's database and collects its rows.
func queryRows[T any](t *testing.T, e *chartEnv, collect pgx.RowToFunc[T], sql string, args ...any) []T {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, collect)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runModes are what sync_runs recorded for a Job's runs, as
// "scope trigger mode fallback_reason status".
func (e *chartEnv) runModes(t *testing.T, job string) []string {
	t.Helper()
	return queryRows(t, e, pgx.RowTo[string], `SELECT concat_ws(' ', scope, trigger, mode, coalesce(fallback_reason, '-'), status)
		FROM sync_runs WHERE job_name = $1 ORDER BY scope`, job)
}

func (e *chartEnv) syncRuns(t *testing.T) []syncRun {
	t.Helper()
	return queryRows(t, e, pgx.RowToStructByPos[syncRun], `SELECT scope, trigger, coalesce(job_name, ''), status FROM sync_runs ORDER BY id`)
}

// startAPI runs usersapi exactly as the chart's Deployment declares it
// (env, secrets, mounted tokens), with two differences a process here
// needs: it listens on a loopback port, and it reaches the API server with
// a kubeconfig holding a token of the chart's ServiceAccount instead of
// the in-cluster mount of the same token.
func (e *chartEnv) startAPI(t *testing.T) *apitest.Process {
	t.Helper()
	ctx := context.Background()
	dep, err := e.client.AppsV1().Deployments(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := dep.Spec.Template.Spec
	token, err := e.cp.ServiceAccountToken(ctx, e.ns, spec.ServiceAccountName)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := e.cp.WriteKubeconfig(kubeconfig, token, e.ns); err != nil {
		t.Fatal(err)
	}
	cmd, cleanup, err := e.kubelet.Command(ctx, "r-usersync-api-test", e.ns, "uid", dep.Spec.Template.Labels,
		dep.Spec.Template.Annotations, &spec, "usersapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	var env []string
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "LISTEN_ADDR=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "KUBECONFIG="+kubeconfig)
	if !slices.Contains(env, "SYNC_CRONJOB=r-usersync") || !slices.Contains(env, "SYNC_NAMESPACE="+e.ns) ||
		!slices.Contains(env, "SYNC_INCREMENTAL_CRONJOB=r-usersync-incremental") {
		t.Fatalf("the Deployment does not point usersapi at its CronJob: %v", env)
	}
	return startUsersapi(t, env)
}

// request sends an authenticated request and returns the status and body.
func request(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	resp, body := apitest.Do(t, method, url, token)
	return resp.StatusCode, body
}

// releaseObjects lists every namespaced object labelled as the release's,
// as "Kind/name", with the owner uids of each.
func releaseObjects(t *testing.T, cp *kubetest.ControlPlane, ns string) map[string][]string {
	t.Helper()
	cfg := cp.Config()
	dyn := dynamic.NewForConfigOrDie(cfg)
	lists, err := kubernetes.NewForConfigOrDie(cfg).Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).Namespace(ns).List(context.Background(),
				metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=r"})
			if err != nil {
				continue // e.g. a kind that cannot be listed by label here
			}
			for _, it := range items.Items {
				var owners []string
				for _, o := range it.GetOwnerReferences() {
					owners = append(owners, string(o.UID))
				}
				out[r.Kind+"/"+it.GetName()] = owners
			}
		}
	}
	return out
}

// TestChartOnAPIServer installs the chart on a real kube-apiserver with
// Helm 3 and Helm 4 and runs what it declares: the migration hook migrates
// a fresh database, a Job made with kubectl from the CronJob runs a real
// usersync --full against the simulator, usersapi runs as the Deployment
// configures it and its POST /sync/users makes a Job that runs, helm test
// passes; an upgrade keeps the generated tokens; an uninstall leaves
// nothing behind but what is kept (the API tokens, the Job policies); a
// reinstall under the same name adopts them and works as the first install.
func TestChartOnAPIServer(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kubectl is not installed")
		}
		t.Skip("kubectl is not installed")
	}
	for _, h := range helms(t) {
		t.Run(h.name, func(t *testing.T) {
			e := newChartEnv(t, h)
			ctx := context.Background()

			// Install, validated by the server first.
			e.helmRun(t, "install", "r", chartDir, "-f", e.values, "--dry-run=server")
			e.helmRun(t, "install", "r", chartDir, "-f", e.values, "--timeout", "3m")

			// The migration hook ran before anything else and is gone.
			if runs := e.kubelet.Runs("r-usersync-migrate"); len(runs) != 1 || runs[0].Err != nil {
				t.Fatalf("migration hook runs: %+v", runs)
			}
			if runs := e.syncRuns(t); len(runs) != 0 {
				t.Fatalf("sync_runs after the migration: %v, want an empty table", runs)
			}
			eventually.Until(t, 2*time.Minute, "the hook's Job and Secret to be deleted", func() bool {
				_, errJob := e.client.BatchV1().Jobs(e.ns).Get(ctx, "r-usersync-migrate", metav1.GetOptions{})
				_, errSecret := e.client.CoreV1().Secrets(e.ns).Get(ctx, "r-usersync-migrate", metav1.GetOptions{})
				return apierrors.IsNotFound(errJob) && apierrors.IsNotFound(errSecret)
			})

			e.checkInstalledObjects(t)

			// A manual sync, as an operator starts one.
			out, err := exec.Command(kubectl, "--kubeconfig", e.cp.KubeconfigPath(), "-n", e.ns,
				"create", "job", "--from=cronjob/r-usersync", "manual-1").CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl create job: %v\n%s", err, out)
			}
			e.waitJob(t, "manual-1")
			runs := e.syncRuns(t)
			want := []syncRun{{"users", "manual", "manual-1", "succeeded"}, {"assets", "manual", "manual-1", "succeeded"}}
			slices.SortFunc(runs, func(a, b syncRun) int { return strings.Compare(b.Scope, a.Scope) })
			if !slices.Equal(runs, want) {
				t.Fatalf("sync_runs after kubectl's Job = %v, want %v", runs, want)
			}

			// A Job of the incremental CronJob, named as the CronJob
			// controller names them: an incremental run of both scopes,
			// recorded as scheduled.
			scheduled := fmt.Sprintf("r-usersync-incremental-%d", time.Now().Unix()/60)
			out, err = exec.Command(kubectl, "--kubeconfig", e.cp.KubeconfigPath(), "-n", e.ns,
				"create", "job", "--from=cronjob/r-usersync-incremental", scheduled).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl create job: %v\n%s", err, out)
			}
			e.waitJob(t, scheduled)
			if r := e.kubelet.Runs(scheduled); len(r) != 1 || !slices.Contains(r[0].Env, "SYNC_INCREMENTAL=true") {
				t.Errorf("the incremental CronJob's Job ran without SYNC_INCREMENTAL=true: %+v", r)
			}
			if got, want := e.runModes(t, scheduled), []string{"assets schedule incremental - succeeded", "users schedule incremental - succeeded"}; !slices.Equal(got, want) {
				t.Errorf("sync_runs of the incremental CronJob's Job = %q, want %q", got, want)
			}

			// usersapi as the Deployment runs it.
			api := e.startAPI(t)
			secret, err := e.client.CoreV1().Secrets(e.ns).Get(ctx, "r-usersync-api-tokens", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			readToken, syncToken := string(secret.Data["read"]), string(secret.Data["sync"])
			if code, body := request(t, "GET", api.Base+"/api/users?limit=1", readToken); code != 200 || !bytes.HasPrefix(body, []byte("[{")) {
				t.Fatalf("GET /api/users?limit=1 = %d %s", code, body)
			}

			e.syncOnDemand(t, api, readToken, syncToken)

			// helm test, its pod run by the kubelet stand-in against this API.
			e.kubelet.SetRewrite("r-usersync-api."+e.ns+".svc:80", strings.TrimPrefix(api.Base, "http://"))
			e.helmRun(t, "test", "r", "--timeout", "2m")
			if runs := e.kubelet.Runs("r-usersync-test"); len(runs) != 1 || runs[0].Err != nil || !strings.Contains(runs[0].Output, "user(s)") {
				t.Fatalf("helm test pod runs: %+v", runs)
			}

			// The metrics the dashboard and alerts use are all there.
			exposed := exposedSeries{}
			exposed.add(pushtest.Scrape(t, e.gateway))
			exposed.add(pushtest.Scrape(t, api.Base))
			checkShippedMetrics(t, exposed, nil)
			// Every run pushed as this installation: the chart's instance.
			for _, g := range pushtest.Groups(t, e.gateway) {
				if g["job"] == "usersync" && g["instance"] != e.ns+"/r" {
					t.Errorf("a usersync push grouped as %v, want instance %q", g, e.ns+"/r")
				}
			}
			if _, ok := pushtest.Value(pushtest.Scrape(t, e.gateway), "usersync_last_success_timestamp_seconds",
				map[string]string{"job": "usersync", "instance": e.ns + "/r", "scope": "users"}); !ok {
				t.Errorf("no usersync_last_success_timestamp_seconds{instance=%q} on the Pushgateway", e.ns+"/r")
			}

			// Upgrade: the migration hook runs again, the tokens stay.
			e.helmRun(t, "upgrade", "r", chartDir, "-f", e.values, "--set", "api.replicas=1", "--timeout", "3m")
			if runs := e.kubelet.Runs("r-usersync-migrate"); len(runs) != 2 || runs[1].Err != nil {
				t.Fatalf("migration hook runs after the upgrade: %d", len(runs))
			}
			after, err := e.client.CoreV1().Secrets(e.ns).Get(ctx, "r-usersync-api-tokens", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(after.Data["read"]) != readToken || string(after.Data["sync"]) != syncToken ||
				!strings.Contains(string(after.Data["tokens"]), "read:"+readToken) {
				t.Fatal("helm upgrade changed the generated API tokens")
			}
			if _, err := e.client.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("replicas=1 after the upgrade and the PodDisruptionBudget is still there (%v)", err)
			}

			// Uninstall: nothing is left but Jobs owned by the deleted
			// CronJob, which the garbage collector (not running here)
			// removes in a cluster.
			cj, err := e.client.BatchV1().CronJobs(e.ns).Get(ctx, "r-usersync", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			inc, err := e.client.BatchV1().CronJobs(e.ns).Get(ctx, "r-usersync-incremental", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := api.Stop(t); err != nil {
				t.Errorf("usersapi stopped with %v", err)
			}
			e.helmRun(t, "uninstall", "r", "--wait", "--timeout", "2m")
			for obj, owners := range releaseObjects(t, e.cp, e.ns) {
				kept := obj == "Secret/r-usersync-api-tokens" // helm.sh/resource-policy: keep
				ownedByACronJob := slices.Equal(owners, []string{string(cj.UID)}) || slices.Equal(owners, []string{string(inc.UID)})
				if !kept && (!strings.HasPrefix(obj, "Job/") || !ownedByACronJob) {
					t.Errorf("helm uninstall left %s (owners %v)", obj, owners)
				}
			}
			// The cluster-scoped Job policies and bindings stay (kept): deleting
			// the last binding whose parameter is a CronJob would stop the API
			// server's CronJob informer for good (kubernetes/kubernetes#130887).
			// Left behind, they refuse no one's Job.
			r := releasePolicies(e.cp, "r", e.ns)
			for _, name := range []string{r.policy, r.labelPolicy} {
				if _, err := e.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{}); err != nil {
					t.Errorf("helm uninstall deleted ValidatingAdmissionPolicy %s: %v", name, err)
				}
				if _, err := e.client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); err != nil {
					t.Errorf("helm uninstall deleted ValidatingAdmissionPolicyBinding %s: %v", name, err)
				}
			}
			if err := r.createAsAdmin(plainJob(nil)); err != nil {
				t.Errorf("an admin's Job in the namespace after helm uninstall: %v", err)
			}

			// Reinstall under the same name: Helm adopts the kept policies; the
			// migration hook, an admin's Job from the CronJob and the API's
			// launch are admitted, and the policies confine the API as before.
			e.helmRun(t, "install", "r", chartDir, "-f", e.values, "--timeout", "3m")
			if runs := e.kubelet.Runs("r-usersync-migrate"); len(runs) != 3 || runs[2].Err != nil {
				t.Fatalf("migration hook runs after the reinstall: %+v", runs)
			}
			manifest := e.helmRun(t, "get", "manifest", "r")
			for _, name := range []string{r.policy, r.labelPolicy} {
				if strings.Count(manifest, "name: "+name+"\n") != 2 {
					t.Errorf("the reinstalled release does not manage policy and binding %s", name)
				}
			}
			out, err = exec.Command(kubectl, "--kubeconfig", e.cp.KubeconfigPath(), "-n", e.ns,
				"create", "job", "--from=cronjob/r-usersync", "manual-2").CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl create job after the reinstall: %v\n%s", err, out)
			}
			e.waitJob(t, "manual-2")
			r = installedForPolicy(t, e.cp, "r", e.ns) // the ServiceAccount is a new one
			api = e.startAPI(t)
			code, body := request(t, "POST", api.Base+"/api/sync/users", syncToken)
			var accepted struct{ Job string }
			if code != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.Job == "" {
				t.Fatalf("POST /api/sync/users after the reinstall = %d %s", code, body)
			}
			job := e.waitJob(t, accepted.Job)
			r.deniesAttacks(t, asSent(job))
		})
	}
}

// syncOnDemand: POST /sync/users makes a Job from the CronJob with the
// chart's RBAC; it runs a users sync recorded with trigger api, and
// GET /sync/jobs shows both Jobs succeeded, with their runs and triggers.
func (e *chartEnv) syncOnDemand(t *testing.T, api *apitest.Process, readToken, syncToken string) {
	t.Helper()
	code, body := request(t, "POST", api.Base+"/api/sync/users", syncToken)
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/sync/users = %d %s", code, body)
	}
	var accepted struct{ Status, Job string }
	if err := json.Unmarshal(body, &accepted); err != nil || accepted.Job == "" || accepted.Status != "users sync scheduled" {
		t.Fatalf("POST /api/sync/users answered %s (%v)", body, err)
	}
	e.waitJob(t, accepted.Job)
	runs := e.syncRuns(t)
	if last := runs[len(runs)-1]; last != (syncRun{"users", "api", accepted.Job, "succeeded"}) {
		t.Fatalf("the API's sync run = %+v", last)
	}
	code, body = request(t, "GET", api.Base+"/api/sync/jobs", readToken)
	if code != 200 {
		t.Fatalf("GET /api/sync/jobs = %d %s", code, body)
	}
	var jobs []struct {
		Name, Trigger, State string
		Runs                 []struct{ Scope, Trigger, Status string } `json:"runs"`
	}
	if err := json.Unmarshal(body, &jobs); err != nil {
		// The list may be wrapped in an object.
		var wrapped struct {
			Jobs json.RawMessage `json:"jobs"`
		}
		if err2 := json.Unmarshal(body, &wrapped); err2 != nil || json.Unmarshal(wrapped.Jobs, &jobs) != nil {
			t.Fatalf("GET /api/sync/jobs: %v\n%s", err, body)
		}
	}
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Name] = fmt.Sprintf("%s %s %d runs", j.Trigger, j.State, len(j.Runs))
	}
	want := map[string]string{"manual-1": "manual succeeded 2 runs", accepted.Job: "api succeeded 1 runs"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("GET /sync/jobs: %s is %q, want %q\n%s", name, got[name], w, body)
		}
	}
}

// checkInstalledObjects: what the values asked for is on the API server.
func (e *chartEnv) checkInstalledObjects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cj, err := e.client.BatchV1().CronJobs(e.ns).Get(ctx, "r-usersync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.Schedule != "15 7,19 * * 1-5" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Europe/Berlin" ||
		cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob spec: %q %v %s", cj.Spec.Schedule, cj.Spec.TimeZone, cj.Spec.ConcurrencyPolicy)
	}
	dep, err := e.client.AppsV1().Deployments(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment: %v %v", err, dep)
	}
	if _, err := e.client.CoreV1().Services(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	ing, err := e.client.NetworkingV1().Ingresses(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{})
	if err != nil || ing.Spec.Rules[0].Host != "users.example.com" || ing.Spec.Rules[0].HTTP.Paths[0].Path != "/api" ||
		*ing.Spec.IngressClassName != "nginx" {
		t.Errorf("Ingress: %v %+v", err, ing)
	}
	inc, err := e.client.BatchV1().CronJobs(e.ns).Get(ctx, "r-usersync-incremental", metav1.GetOptions{})
	if err != nil || inc.Spec.Schedule != "2-59/5 * * * *" || inc.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("incremental CronJob: %v %+v", err, inc)
	}
	role, err := e.client.RbacV1().Roles(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{})
	if err != nil || len(role.Rules) == 0 || !slices.Equal(role.Rules[0].ResourceNames, []string{"r-usersync", "r-usersync-incremental"}) {
		t.Errorf("Role: %v %+v", err, role)
	}
	if _, err := e.client.RbacV1().RoleBindings(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := e.client.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "r-usersync-api", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	for _, np := range []string{"r-usersync-api", "r-usersync-sync"} {
		if _, err := e.client.NetworkingV1().NetworkPolicies(e.ns).Get(ctx, np, metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
	}
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(ctx, "r-usersync-dashboard", metav1.GetOptions{})
	if err != nil || cm.Labels["grafana_dashboard"] != "1" || !strings.Contains(cm.Data["usersync.json"], `"uid": "usersync"`) {
		t.Errorf("dashboard ConfigMap: %v", err)
	}
	dyn := dynamic.NewForConfigOrDie(e.cp.Config())
	for _, r := range []string{"servicemonitors", "prometheusrules"} {
		gvr := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: r}
		list, err := dyn.Resource(gvr).Namespace(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Errorf("%s: %v, %d items; want the chart's one", r, err, len(list.Items))
		}
	}
	// The hook is recorded in the release.
	hooks := e.helmRun(t, "get", "hooks", "r")
	sc := bufio.NewScanner(strings.NewReader(hooks))
	var hookKinds []string
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "kind: ") {
			hookKinds = append(hookKinds, strings.TrimPrefix(l, "kind: "))
		}
	}
	slices.Sort(hookKinds)
	if !slices.Equal(hookKinds, []string{"Job", "Pod", "Secret"}) {
		t.Errorf("release hooks = %v, want the migration Job and its Secret, and the test Pod", hookKinds)
	}
}

// TestLongReleaseName: a release name of 53 characters, the longest Helm
// accepts, renders objects the API server accepts (names, label values,
// DNS labels: a server-side dry run of each), and the names Kubernetes
// derives from them at run time fit too: the StatefulSet's pods'
// controller-revision-hash and pod-name labels, both CronJobs' Jobs and
// their job-name label, the API's launched Jobs.
func TestLongReleaseName(t *testing.T) {
	cp := kubetest.Get(t)
	installMonitoringCRDs(t, cp)
	h := helms(t)[0]
	release := "identity-mirror-production-eu-west-1-snipeit-it-asset"[:53]
	if len(release) != 53 {
		t.Fatalf("release name of %d characters", len(release))
	}
	ns := cp.CreateNamespace(t, "long")
	out, err := h.run(t, "template", release, chartDir, "--namespace", ns, "--kube-version", kubeVersion,
		"--api-versions", monitoringAPIs[0], "--api-versions", monitoringAPIs[1],
		"-f", "usersync/ci/default-values.yaml", "-f", "usersync/ci/monitoring-values.yaml",
		"--set", "postgresql.enabled=true", "--set", "externalDatabase.existingSecret=",
		"--set", "api.jobPolicy=always", "--set", "api.autoscaling.enabled=true",
		"--set", "networkPolicy.enabled=true", "--set", "api.ingress.enabled=true", "--set", "api.ingress.hosts={users.example.com}",
		"--set", "sync.incremental.enabled=true", "--set", "api.webhook.enabled=true",
		"--set", "api.webhook.ingress.enabled=true", "--set", "api.webhook.ingress.hosts={hooks.example.com}")
	if err != nil {
		t.Fatal(err)
	}
	if w := dryRunCreate(t, cp, ns, out); len(w) > 0 {
		t.Errorf("the API server warned:\n%s", strings.Join(w, "\n"))
	}
	ms, err := parseManifests(out)
	if err != nil {
		t.Fatal(err)
	}
	label := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	fits := func(what, value string) {
		t.Helper()
		if len(value) > 63 || !label.MatchString(value) {
			t.Errorf("%s %q (%d characters) is not a valid label value or DNS label", what, value, len(value))
		}
	}
	var sts string
	var cronJobs []string
	for _, o := range ms {
		switch o.kind() {
		case "StatefulSet":
			sts = o.name()
		case "CronJob":
			cronJobs = append(cronJobs, o.name())
		case "Job", "Service":
			fits(o.kind()+" name", o.name())
		}
	}
	if sts == "" || len(cronJobs) != 2 {
		t.Fatalf("no StatefulSet, or not the two CronJobs, in %v", ms.kinds())
	}
	// The sync CronJob, which the API launches from: the other ends in
	// -incremental.
	i := slices.IndexFunc(cronJobs, func(n string) bool { return !strings.HasSuffix(n, "-incremental") })
	if i < 0 || !strings.HasSuffix(cronJobs[1-i], "-incremental") {
		t.Fatalf("CronJobs %v: want the sync CronJob and the incremental one", cronJobs)
	}
	cronJob := cronJobs[i]
	// The StatefulSet controller labels each pod controller-revision-hash:
	// <name>-<hash>, the hash up to 10 characters, and
	// statefulset.kubernetes.io/pod-name: <name>-<ordinal>.
	fits("controller-revision-hash", sts+"-"+strings.Repeat("9", 10))
	fits("statefulset.kubernetes.io/pod-name", sts+"-0")
	// The CronJob controller names Jobs <cronjob>-<minutes since the epoch>,
	// and the job-name label carries it.
	for _, cj := range cronJobs {
		fits("a scheduled Job's name", fmt.Sprintf("%s-%d", cj, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()/60))
		if len(cj) > 52 {
			t.Errorf("CronJob name %q is longer than the 52 characters the API server accepts", cj)
		}
	}
	// The launcher cuts the CronJob's name to fit its suffix; exercised on
	// the API server.
	client := cp.Clientset()
	if _, err := cp.CreateObjects(context.Background(), ns, []byte(out)); err != nil {
		t.Fatal(err)
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: cronJob}}
	if _, err := client.CoordinationV1().Leases(ns).Get(context.Background(), cronJob, metav1.GetOptions{}); err != nil {
		if _, err := client.CoordinationV1().Leases(ns).Create(context.Background(), lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: ns, CronJob: cronJob})
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := l.Launch(context.Background(), kube.LaunchOptions{Scope: "users", Trigger: "webhook"})
	if err != nil {
		t.Fatalf("launch from the long-named CronJob: %v", err)
	}
	fits("a launched Job's name", j.Name)
}
