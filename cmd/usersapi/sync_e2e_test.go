package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
	"github.com/usersync/usersync/pkg/postgres"
)

func post(t *testing.T, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return apitest.Do(t, http.MethodPost, url, token, header...)
}

type started struct {
	Status string `json:"status"`
	Job    string `json:"job"`
}

// syncCluster is a namespace holding the chart's CronJob and RBAC objects
// (pkg/kube/testdata) and a kubeconfig that is usersapi's service account.
type syncCluster struct {
	cp         *kubetest.ControlPlane
	ns         string
	kubeconfig string
}

func newSyncCluster(t *testing.T) *syncCluster {
	t.Helper()
	cp := kubetest.Get(t)
	c := &syncCluster{cp: cp, ns: cp.CreateNamespace(t, "usersapi")}
	var manifests []byte
	for _, f := range []string{"cronjob.yaml", "rbac.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "pkg", "kube", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(append(manifests, "\n---\n"...), data...)
	}
	manifests = bytes.ReplaceAll(manifests, []byte("namespace: usersync\n"), []byte("namespace: "+c.ns+"\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cp.CreateObjects(ctx, c.ns, manifests); err != nil {
		t.Fatal(err)
	}
	// usersapi runs with what the kubelet would mount for its pod: a
	// TokenRequest token of its service account, and nothing more.
	token, err := cp.ServiceAccountToken(ctx, c.ns, "usersync-api")
	if err != nil {
		t.Fatal(err)
	}
	c.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(c.kubeconfig, token, c.ns); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *syncCluster) setJob(t *testing.T, name string, phase kubetest.JobPhase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.cp.SetJobStatus(ctx, c.ns, name, phase); err != nil {
		t.Fatal(err)
	}
}

// recordRun writes the sync_runs row usersync writes when its Job starts.
func recordRun(t *testing.T, dbURL string, scope model.Scope, job string) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.StartRun(ctx, scope, model.TriggerAPI, job); err != nil {
		t.Fatal(err)
	}
}

func TestSyncOnDemandEndToEnd(t *testing.T) {
	c := newSyncCluster(t)
	dbURL := seedDatabase(t, genUsers(20), nil)
	p := startAPI(t, "DATABASE_URL="+dbURL, "BASE_PATH=/api", "API_TOKENS_FILE="+writeTokenFile(t),
		"SYNC_CRONJOB=usersync", "SYNC_NAMESPACE="+c.ns, "KUBECONFIG="+c.kubeconfig)
	launch := func(path string, header ...string) (int, started, http.Header, string) {
		t.Helper()
		resp, body := post(t, p.Base+path, syncToken, header...)
		var s started
		if resp.StatusCode == http.StatusAccepted {
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, s, resp.Header, string(body)
	}

	code, first, header, body := launch("/api/sync/users")
	if code != http.StatusAccepted || first.Status != "users sync scheduled" || first.Job == "" {
		t.Fatalf("POST /api/sync/users = %d %s", code, body)
	}
	if loc := header.Get("Location"); loc != "/api/sync/jobs/"+first.Job {
		t.Errorf("Location = %q", loc)
	}
	job, err := c.cp.Clientset().BatchV1().Jobs(c.ns).Get(context.Background(), first.Job, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job is not in Kubernetes: %v", err)
	}
	if args := job.Spec.Template.Spec.Containers[0].Args; strings.Join(args, " ") != "--scope users" {
		t.Errorf("the Job runs usersync %q", args)
	}

	t.Run("a read token cannot start a sync", func(t *testing.T) {
		if resp, body := post(t, p.Base+"/api/sync/users", readToken); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with a read token = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("409 names the running Job", func(t *testing.T) {
		code, _, _, body := launch("/api/sync/assets")
		if code != http.StatusConflict || !strings.Contains(body, "sync Job "+first.Job+" (scope users, trigger api)") {
			t.Errorf("second POST = %d %s, want 409 naming %s", code, body, first.Job)
		}
	})

	t.Run("20 concurrent POSTs start one Job", func(t *testing.T) {
		c.setJob(t, first.Job, kubetest.JobSucceeded)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			codes = map[int]int{}
		)
		start := make(chan struct{})
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, _ := post(t, p.Base+"/api/sync/all", syncToken)
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if codes[http.StatusAccepted] != 1 || codes[http.StatusConflict] != 19 {
			t.Errorf("20 concurrent POSTs answered %v, want one 202 and nineteen 409", codes)
		}
	})

	jobs := func() []map[string]any {
		t.Helper()
		resp, body := get(t, p.Base+"/api/sync/jobs", readToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/sync/jobs = %d %s", resp.StatusCode, body)
		}
		var out []map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("a completed Job, then a failed one, do not block", func(t *testing.T) {
		// Newest first, to the second: both may have been made in the same one.
		all := jobs()
		if len(all) != 2 || (all[0]["name"] != first.Job && all[1]["name"] != first.Job) {
			t.Fatalf("jobs = %v", all)
		}
		second := all[0]
		if second["name"] == first.Job {
			second = all[1]
		}
		if second["scope"] != "all" || second["state"] != "pending" {
			t.Fatalf("the Job of the concurrent POSTs: %v", second)
		}
		c.setJob(t, second["name"].(string), kubetest.JobRunning)
		c.setJob(t, second["name"].(string), kubetest.JobFailed)
		code, third, _, body := launch("/api/sync/assets")
		if code != http.StatusAccepted || third.Status != "assets sync scheduled" {
			t.Fatalf("POST after a failed Job = %d %s", code, body)
		}
		c.setJob(t, third.Job, kubetest.JobSucceeded)
	})

	t.Run("GET /sync/jobs joins the runs each Job recorded", func(t *testing.T) {
		recordRun(t, dbURL, model.ScopeUsers, first.Job)
		all := jobs()
		states := map[string]string{}
		for _, j := range all {
			states[j["name"].(string)] = j["state"].(string) + " " + j["trigger"].(string)
		}
		if len(all) != 3 || states[first.Job] != "succeeded api" {
			t.Errorf("jobs: %v", states)
		}
		resp, body := get(t, p.Base+"/api/sync/jobs/"+first.Job, readToken)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"job_name":"`+first.Job+`"`)) ||
			!bytes.Contains(body, []byte(`"state":"succeeded"`)) {
			t.Errorf("GET /api/sync/jobs/%s = %d %s", first.Job, resp.StatusCode, body)
		}
		if resp, body := get(t, p.Base+"/api/sync/jobs/usersync-elsewhere", readToken); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET of a Job that is not the CronJob's = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("Idempotency-Key returns the same Job", func(t *testing.T) {
		code1, a, _, body1 := launch("/api/sync/users", "Idempotency-Key", "retry-1")
		code2, b, _, body2 := launch("/api/sync/users", "Idempotency-Key", "retry-1")
		if code1 != http.StatusAccepted || code2 != http.StatusAccepted || a.Job != b.Job {
			t.Errorf("the same key twice: %d %s, then %d %s", code1, body1, code2, body2)
		}
		c.setJob(t, a.Job, kubetest.JobSucceeded)
		if code, c, _, body := launch("/api/sync/users", "Idempotency-Key", "retry-1"); code != http.StatusAccepted || c.Job != a.Job {
			t.Errorf("the key after its Job finished: %d %s, want the same Job", code, body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, body := get(t, p.Base+"/metrics", "")
		for _, want := range []string{
			`usersapi_sync_triggers_total{outcome="accepted",scope="all"} 1`,
			`usersapi_sync_triggers_total{outcome="conflict",scope="all"} 19`,
			`usersapi_sync_triggers_total{outcome="conflict",scope="assets"} 1`,
			`usersapi_kubernetes_request_duration_seconds_count{code="201",verb="POST"}`,
			`usersapi_kubernetes_request_duration_seconds_count{code="200",verb="PUT"}`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if bytes.Contains(body, []byte("rest_client_")) {
			t.Error("client-go's global metrics are exported")
		}
	})

	// The API server goes away, then hangs: a POST answers 503 within the
	// 5 s bound, reads and readiness do not notice.
	for _, outage := range []string{"stopped", "hanging"} {
		t.Run("Kubernetes "+outage, func(t *testing.T) {
			if outage == "stopped" {
				c.cp.StopAPIServer()
			} else if err := c.cp.PauseAPIServer(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if outage == "stopped" {
					if err := c.cp.StartAPIServer(); err != nil {
						t.Fatal(err)
					}
				} else if err := c.cp.ResumeAPIServer(); err != nil {
					t.Fatal(err)
				}
			})
			start := time.Now()
			resp, body := post(t, p.Base+"/api/sync/users", syncToken)
			took := time.Since(start)
			if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("the Kubernetes API is unavailable")) {
				t.Errorf("POST with Kubernetes %s = %d %s", outage, resp.StatusCode, body)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			// 5 s, plus what a loaded machine adds to answering.
			if took > 7*time.Second {
				t.Errorf("POST with Kubernetes %s took %v, want it bounded by the 5 s timeout", outage, took)
			}
			if resp, body := get(t, p.Base+"/api/users/1", readToken); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /api/users/1 with Kubernetes %s = %d %s", outage, resp.StatusCode, body)
			}
			if resp, _ := get(t, p.Base+"/readyz", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("/readyz with Kubernetes %s = %d, want 200", outage, resp.StatusCode)
			}
		})
	}

	t.Run("without the RoleBinding: a clear problem, logged", func(t *testing.T) {
		ctx := context.Background()
		if err := c.cp.Clientset().RbacV1().RoleBindings(c.ns).Delete(ctx, "usersync-api", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var (
			resp *http.Response
			body []byte
		)
		eventually.Until(t, 30*time.Second, "RBAC to refuse", func() bool {
			resp, body = post(t, p.Base+"/api/sync/users", syncToken)
			return resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusAccepted
		})
		re := regexp.MustCompile(`denied by the Kubernetes API: usersapi may not \w+ \w+.* in namespace ` + c.ns)
		if resp.StatusCode != http.StatusServiceUnavailable || !re.Match(body) {
			t.Errorf("POST without the RoleBinding = %d %s, want 503 saying what was denied", resp.StatusCode, body)
		}
		// The log is flushed every 200 ms.
		eventually.Until(t, 30*time.Second, "the refusal logged with its reason", func() bool {
			return p.Logs.Index(`"msg":"request failed"`) >= 0 && p.Logs.Index("is forbidden: User") >= 0
		})
		_, metrics := get(t, p.Base+"/metrics", "")
		if !regexp.MustCompile(`usersapi_sync_triggers_total\{outcome="forbidden",scope="users"\} [1-9]`).Match(metrics) {
			t.Error("the refusal is not counted as forbidden")
		}
	})

	if strings.Contains(p.Logs.String(), syncToken) || strings.Contains(p.Logs.String(), readToken) {
		t.Error("a token appears in the log")
	}
}

func TestSyncOnDemandOff(t *testing.T) {
	dbURL := seedDatabase(t, genUsers(3), nil)
	p := startAPI(t, "DATABASE_URL="+dbURL, "API_TOKENS_FILE="+writeTokenFile(t))
	for _, r := range []struct{ method, path string }{{"POST", "/sync/all"}, {"GET", "/sync/jobs"}} {
		var (
			resp *http.Response
			body []byte
		)
		if r.method == "POST" {
			resp, body = post(t, p.Base+r.path, syncToken)
		} else {
			resp, body = get(t, p.Base+r.path, syncToken)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("sync on demand is not configured")) {
			t.Errorf("%s %s without SYNC_CRONJOB = %d %s", r.method, r.path, resp.StatusCode, body)
		}
	}
}

// TestKubernetesIsNotNeededToStart points usersapi at an API server that
// is not there: it starts, is ready and serves reads.
func TestKubernetesIsNotNeededToStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: sync}}]
current-context: x
`, addr)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := seedDatabase(t, genUsers(3), nil)
	p := startAPI(t, "DATABASE_URL="+dbURL, "API_TOKENS_FILE="+writeTokenFile(t), "SYNC_CRONJOB=usersync", "KUBECONFIG="+kubeconfig)
	if resp, _ := get(t, p.Base+"/readyz", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
	if resp, _ := get(t, p.Base+"/users/1", readToken); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /users/1 = %d", resp.StatusCode)
	}
	if resp, body := post(t, p.Base+"/sync/users", syncToken); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /sync/users = %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(p.Logs.String(), `"msg":"sync on demand","namespace":"sync"`) {
		t.Errorf("the namespace does not come from the kubeconfig:\n%s", p.Logs)
	}
}

func TestSyncOnDemandConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	noTokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(noTokens, []byte("# every token was removed\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "DATABASE_URL=postgres://x@127.0.0.1:1/x"
	tests := map[string][]string{
		"a token file without a token":           {db, "API_TOKENS_FILE=" + noTokens},
		"SYNC_CRONJOB outside a cluster":         {db, "PUBLIC_READS=true", "SYNC_CRONJOB=usersync"},
		"SYNC_CRONJOB with a missing kubeconfig": {db, "PUBLIC_READS=true", "SYNC_CRONJOB=usersync", "KUBECONFIG=" + filepath.Join(dir, "absent")},
	}
	assertExit2(t, tests)
}
