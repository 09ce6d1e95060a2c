package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/usersync/pkg/api/apitest"
	"github.com/usersync/usersync/pkg/binarytest"
	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube/kubelettest"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/postgres/pgtest"
	"github.com/usersync/usersync/pkg/snipeit/snipeittest"
)

const webhookSecret = "e2e-webhook-secret-0123456789"

// checkoutMessage is what Snipe-IT's general webhook posts for an asset
// checkout.
const checkoutMessage = `{"text":":arrow_up: :computer: Asset checked out","attachments":[{"fields":[` +
	`{"title":"To","value":"<https:\/\/snipe.example.test\/users\/7|Ann Example>","short":true}],` +
	`"title":"Laptop (A-1)","title_link":"https:\/\/snipe.example.test\/hardware\/1"}],"username":"Snipe-Bot"}`

func writeSecretFile(t *testing.T, secrets ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhook-secrets")
	if err := os.WriteFile(path, []byte(strings.Join(secrets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postBody posts body to url as Snipe-IT does.
func postBody(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// webhookJobs are the namespace's Jobs the webhook launched.
func (c *syncCluster) webhookJobs(t *testing.T) []batchv1.Job {
	t.Helper()
	list, err := c.cp.Clientset().BatchV1().Jobs(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "usersync.io/trigger=webhook"})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestWebhookEndToEnd runs two usersapi replicas against a real API server
// (no kubelet: the test sets the Jobs' states): a burst of 50 messages
// split between them makes one incremental Job; a message while that Job
// runs makes exactly one more, after it; wrong secrets, oversized and
// malformed bodies get 404 (as an unknown path), 413 and 400.
func TestWebhookEndToEnd(t *testing.T) {
	c := newSyncCluster(t)
	dbURL := seedDatabase(t, genUsers(5), nil)
	secretFile := writeSecretFile(t, webhookSecret)
	env := []string{"DATABASE_URL=" + dbURL, "BASE_PATH=/api", "API_TOKENS_FILE=" + writeTokenFile(t),
		"SYNC_CRONJOB=usersync", "SYNC_NAMESPACE=" + c.ns, "KUBECONFIG=" + c.kubeconfig,
		"WEBHOOK_SECRET_FILE=" + secretFile, "WEBHOOK_DEBOUNCE=1s"}
	replicas := []*apitest.Process{startAPI(t, env...), startAPI(t, env...)}
	hook := func(p *apitest.Process) string { return p.Base + "/api/webhooks/snipeit/" + webhookSecret }

	t.Run("a wrong secret is an unknown path", func(t *testing.T) {
		unknown, unknownBody := postBody(t, replicas[0].Base+"/api/webhooks/snipeit-nope", checkoutMessage)
		for _, path := range []string{"/api/webhooks/snipeit/" + strings.ToUpper(webhookSecret), "/api/webhooks/snipeit/",
			"/api/webhooks/snipeit/" + webhookSecret[:16]} {
			resp, body := postBody(t, replicas[0].Base+path, checkoutMessage)
			if resp.StatusCode != http.StatusNotFound || body != unknownBody {
				t.Errorf("POST %s = %d %s, want %d %s", path, resp.StatusCode, body, unknown.StatusCode, unknownBody)
			}
			for _, h := range []http.Header{resp.Header, unknown.Header} {
				h.Del("Date")
				h.Del("X-Request-Id")
			}
			if diff := cmp.Diff(unknown.Header, resp.Header); diff != "" {
				t.Errorf("POST %s: headers (-unknown path +wrong secret):\n%s", path, diff)
			}
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		if resp, body := postBody(t, hook(replicas[0]), strings.Repeat("x", 1<<20)); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a 1 MiB body = %d %s, want 413", resp.StatusCode, body)
		}
		if resp, body := postBody(t, hook(replicas[0]), `{"text":`); resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(body, "not a Snipe-IT webhook message") {
			t.Errorf("malformed JSON = %d %s, want 400 saying why", resp.StatusCode, body)
		}
	})

	var first string
	t.Run("a burst of 50 across two replicas makes one Job", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make(chan int, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := postBody(t, hook(replicas[i%2]), checkoutMessage)
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != http.StatusAccepted {
				t.Fatalf("a message answered %d, want 202", code)
			}
		}
		eventually.Until(t, 30*time.Second, "the webhook's Job", func() bool { return len(c.webhookJobs(t)) > 0 })
		// Both replicas' debounce and a retry have passed: still one.
		time.Sleep(4 * time.Second)
		jobs := c.webhookJobs(t)
		if len(jobs) != 1 {
			t.Fatalf("%d webhook Jobs, want 1", len(jobs))
		}
		first = jobs[0].Name
		if args := strings.Join(jobs[0].Spec.Template.Spec.Containers[0].Args, " "); args != "--scope all --incremental" {
			t.Errorf("the Job runs usersync %s", args)
		}
	})

	t.Run("a message while the Job runs makes one more Job after it", func(t *testing.T) {
		c.setJob(t, first, kubetest.JobRunning)
		if resp, body := postBody(t, hook(replicas[1]), checkoutMessage); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST = %d %s", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Second) // the debounce and retries: the Job still runs
		if n := len(c.webhookJobs(t)); n != 1 {
			t.Fatalf("%d webhook Jobs while the first runs, want 1", n)
		}
		c.setJob(t, first, kubetest.JobSucceeded)
		eventually.Until(t, 30*time.Second, "the queued Job", func() bool { return len(c.webhookJobs(t)) == 2 })
		time.Sleep(4 * time.Second)
		if n := len(c.webhookJobs(t)); n != 2 {
			t.Errorf("%d webhook Jobs, want exactly one more", n)
		}
	})

	t.Run("GET /sync/jobs shows mode and trigger", func(t *testing.T) {
		resp, body := get(t, replicas[0].Base+"/api/sync/jobs/"+first, readToken)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"mode":"incremental"`)) ||
			!bytes.Contains(body, []byte(`"trigger":"webhook"`)) || !bytes.Contains(body, []byte(`"scope":"all"`)) {
			t.Errorf("GET /api/sync/jobs/%s = %d %s", first, resp.StatusCode, body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		accepted, created := 0, 0
		for _, p := range replicas {
			a, _ := strconv.Atoi(metricValue(t, p.Base, `usersapi_webhook_events_total{result="accepted"}`))
			c, _ := strconv.Atoi(metricValue(t, p.Base, `usersapi_webhook_launches_total{result="created"}`))
			accepted, created = accepted+a, created+c
		}
		if accepted != 51 || created != 2 {
			t.Errorf("accepted %v, created %v; want 51 and 2", accepted, created)
		}
	})

	// Rotation: the file gets a second secret, then loses the first; the
	// replica follows within its 10 s check, without a restart. The test
	// message probes it without starting a Job.
	t.Run("secret rotation", func(t *testing.T) {
		const next = "e2e-webhook-secret-rotated-987"
		status := func(secret string) int {
			resp, _ := postBody(t, replicas[0].Base+"/api/webhooks/snipeit/"+secret, `{"text":"Oh hai! It works!"}`)
			return resp.StatusCode
		}
		rewrite := func(content string) {
			t.Helper()
			// Kubernetes swaps a symlink to a new file: a new inode, a new mtime.
			tmp := secretFile + ".new"
			if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, secretFile); err != nil {
				t.Fatal(err)
			}
		}
		rewrite(webhookSecret + "\n" + next + "\n")
		eventually.Until(t, 30*time.Second, "the new secret to be accepted", func() bool { return status(next) == http.StatusOK })
		if code := status(webhookSecret); code != http.StatusOK {
			t.Errorf("the old secret during the rotation: %d, want 200", code)
		}
		rewrite(next + "\n")
		eventually.Until(t, 30*time.Second, "the old secret to be refused", func() bool { return status(webhookSecret) == http.StatusNotFound })
		if code := status(next); code != http.StatusOK {
			t.Errorf("the new secret after the rotation: %d, want 200", code)
		}
	})

	for _, p := range replicas {
		if strings.Contains(p.Logs.String(), webhookSecret) {
			t.Error("the secret is in the log")
		}
	}
}

// TestCheckoutVisibleWithinAMinute is the freshness target of the
// webhook, end to end: the Snipe-IT simulator sends its webhook to a real
// usersapi, which launches an incremental Job on a real API server; the
// kubelet stand-in runs usersync, which writes PostgreSQL; the checkout is
// in GET /users/{id}/assets within 60 s of being made.
func TestCheckoutVisibleWithinAMinute(t *testing.T) {
	sim := snipeittest.Start(t, snipeittest.Config{Data: snipeittest.Generate(snipeittest.GenerateConfig{Users: 60, Assets: 40, Seed: 11})})
	dbURL := pgtest.NewDatabase(t)
	c := newSyncCluster(t)
	ctx := context.Background()
	admin := c.cp.Clientset()
	for name, data := range map[string]map[string]string{
		"usersync-snipeit":  {"token": sim.Token()},
		"usersync-database": {"postgres-password": ""},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns}, StringData: data}
		if _, err := admin.CoreV1().Secrets(c.ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The chart's CronJob as an operator who raised Snipe-IT's rate limit
	// would have it.
	cj, err := admin.BatchV1().CronJobs(c.ns).Get(ctx, "usersync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	container := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	for i := range container.Env {
		if container.Env[i].Name == "SNIPEIT_RATE_LIMIT" {
			container.Env[i].Value = "0"
		}
	}
	if _, err := admin.BatchV1().CronJobs(c.ns).Update(ctx, cj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubelettest.Start(t, kubelettest.Config{Client: admin, Namespace: c.ns,
		Binaries: map[string]string{"/usersync": binarytest.Build(t, "../usersync")},
		BaseEnv:  []string{"PATH=" + os.Getenv("PATH")},
		Rewrite: map[string]string{"https://snipe.example.com": sim.URL(),
			"postgres://usersync@usersync-postgresql.usersync.svc:5432/usersync?sslmode=disable": dbURL},
		Logf: t.Logf})
	p := startAPI(t, "DATABASE_URL="+dbURL, "API_TOKENS_FILE="+writeTokenFile(t), "SYNC_CRONJOB=usersync",
		"SYNC_NAMESPACE="+c.ns, "KUBECONFIG="+c.kubeconfig, "WEBHOOK_SECRET_FILE="+writeSecretFile(t, webhookSecret))

	// A full sync first, as the CronJob's schedule makes it.
	resp, body := post(t, p.Base+"/sync/all", syncToken)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /sync/all = %d %s", resp.StatusCode, body)
	}
	var full started
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, full.Job, 2*time.Minute)

	var asset, user int64
	for _, a := range sim.Assets() {
		if a.AssignedType == "" && a.StatusType == "deployable" {
			asset = a.ID
			break
		}
	}
	user = sim.Users()[0].ID
	if asset == 0 {
		t.Fatal("the simulator has no asset to check out")
	}
	if err := sim.SetWebhook(snipeittest.WebhookSettings{Endpoint: p.Base + "/webhooks/snipeit/" + webhookSecret}); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	if err := sim.CheckoutAsset(asset, user); err != nil {
		t.Fatal(err)
	}
	if sent, failed := sim.Webhooks(); sent != 1 || failed != 0 {
		t.Fatalf("the simulator's webhook: %d sent, %d failed", sent, failed)
	}
	want := fmt.Sprintf(`"id":%d,`, asset)
	deadline := began.Add(90 * time.Second)
	for {
		_, body := get(t, fmt.Sprintf("%s/users/%d/assets", p.Base, user), readToken)
		if bytes.Contains(body, []byte(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("asset %d not among user %d's assets after 90 s:\n%s", asset, user, p.Logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(began)
	t.Logf("checkout visible in GET /users/%d/assets after %.1f s", user, took.Seconds())
	if took > 60*time.Second {
		t.Errorf("the checkout took %.1f s to show, want 60 s at most", took.Seconds())
	}
	jobs := c.webhookJobs(t)
	if len(jobs) != 1 {
		t.Fatalf("%d webhook Jobs, want 1", len(jobs))
	}
	waitJob(t, c, jobs[0].Name, time.Minute)
	_, body = get(t, p.Base+"/sync/runs?limit=2", readToken)
	var runs []struct{ Scope, Trigger, Mode, Status string }
	if err := json.Unmarshal(body, &runs); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Trigger != "webhook" || r.Mode != "incremental" || r.Status != "succeeded" {
			t.Errorf("GET /sync/runs: %+v, want the webhook's successful incremental runs", runs)
		}
	}
}

// waitJob waits until the Job has succeeded, and fails the test when it
// failed.
func waitJob(t *testing.T, c *syncCluster, name string, within time.Duration) {
	t.Helper()
	eventually.Until(t, within, "Job "+name+" to finish", func() bool {
		j, err := c.cp.Clientset().BatchV1().Jobs(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range j.Status.Conditions {
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobFailed {
				t.Fatalf("Job %s failed: %s", name, cond.Message)
			}
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobComplete {
				return true
			}
		}
		return false
	})
}
