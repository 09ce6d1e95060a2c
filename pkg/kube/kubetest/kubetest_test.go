package kubetest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/usersync/usersync/pkg/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// rbacManifest grants the service account "app" the right to list pods
// and create jobs, and nothing else.
const rbacManifest = `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- {kind: ServiceAccount, name: app}
`

func TestServiceAccountTokensAreAuthorizedByRBAC(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "rbac")
	objs, err := cp.CreateObjects(ctx(t), ns, []byte(rbacManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || objs[1].GetNamespace() != ns {
		t.Fatalf("created %d objects (first in %q), want 3 in %s", len(objs), objs[0].GetNamespace(), ns)
	}
	token, err := cp.ServiceAccountToken(ctx(t), ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	app := kubernetes.NewForConfigOrDie(cp.TokenConfig(token))

	if _, err := app.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{}); err != nil {
		t.Errorf("list pods as the service account: %v, want allowed by its Role", err)
	}
	_, err = app.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list secrets as the service account: %v, want forbidden (RBAC is off?)", err)
	}
	_, err = app.CoreV1().Pods("default").List(ctx(t), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list pods in another namespace: %v, want forbidden", err)
	}
	_, err = kubernetes.NewForConfigOrDie(cp.TokenConfig("not-a-token")).CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("list with a bogus token: %v, want unauthorized", err)
	}

	t.Run("OwnerReferencesPermissionEnforcement is on", func(t *testing.T) {
		owner := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: "x", UID: "0a1b2c3d",
			Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "blocking", OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}}},
		}
		_, err := app.BatchV1().Jobs(ns).Create(ctx(t), job, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "blockOwnerDeletion") {
			t.Errorf("create a Job blocking its owner's deletion without cronjobs/finalizers: %v, want forbidden", err)
		}
		job.Name, owner.BlockOwnerDeletion = "plain", nil
		job.OwnerReferences = []metav1.OwnerReference{owner}
		if _, err := app.BatchV1().Jobs(ns).Create(ctx(t), job, metav1.CreateOptions{}); err != nil {
			t.Errorf("create a Job with a plain owner reference: %v", err)
		}
	})
}

func TestPodSecurityIsEnforced(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "podsecurity")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unhardened"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	_, err := cp.Clientset().CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("create a pod that may run as root: %v, want forbidden by PodSecurity", err)
	}
}

func TestKubectlUsesTheKubeconfigs(t *testing.T) {
	cp := kubetest.Get(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ns := cp.CreateNamespace(t, "kubectl")
	out, err := exec.Command(kubectl, "--kubeconfig", cp.KubeconfigPath(), "get", "namespace", ns, "-o", "name").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "namespace/"+ns {
		t.Errorf("kubectl get namespace as admin: %v %s", err, out)
	}

	if _, err := cp.CreateObjects(ctx(t), ns, []byte(rbacManifest)); err != nil {
		t.Fatal(err)
	}
	token, err := cp.ServiceAccountToken(ctx(t), ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(path, token, ns); err != nil {
		t.Fatal(err)
	}
	for verb, want := range map[string]string{"list pods": "yes", "get secrets": "no", "create jobs": "yes", "delete jobs": "no"} {
		args := append([]string{"--kubeconfig", path, "auth", "can-i"}, strings.Fields(verb)...)
		out, _ := exec.Command(kubectl, args...).CombinedOutput()
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("kubectl auth can-i %s (namespace from the kubeconfig) = %q, want %q", verb, got, want)
		}
	}
}

// TestStopPauseAndRestart must not run in parallel with the tests above:
// it takes the shared API server away for a while.
func TestStopPauseAndRestart(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "restart")
	if _, err := cp.CreateObjects(ctx(t), ns, []byte(rbacManifest)); err != nil {
		t.Fatal(err)
	}
	token, err := cp.ServiceAccountToken(ctx(t), ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	app := kubernetes.NewForConfigOrDie(cp.TokenConfig(token))
	list := func(timeout time.Duration) error {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := app.CoreV1().Pods(ns).List(c, metav1.ListOptions{})
		return err
	}

	if err := cp.PauseAPIServer(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = list(time.Second)
	if err == nil {
		t.Error("a paused API server answered")
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("a paused API server refused at once (%v, %v), want it to hang", d, err)
	}
	if err := cp.ResumeAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := list(30 * time.Second); err != nil {
		t.Errorf("after resume: %v", err)
	}

	cp.StopAPIServer()
	if err := list(5 * time.Second); err == nil {
		t.Error("a stopped API server answered")
	}
	if err := cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	// Same address, same keys: the token minted before still works.
	if err := list(30 * time.Second); err != nil {
		t.Errorf("the token minted before the restart, after it: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSetJobStatus(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "jobstatus")
	jobs := cp.Clientset().BatchV1().Jobs(ns)
	for _, phase := range []kubetest.JobPhase{kubetest.JobSucceeded, kubetest.JobFailed} {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: string(phase)},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}}},
		}
		if _, err := jobs.Create(ctx(t), job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cp.SetJobStatus(ctx(t), ns, job.Name, kubetest.JobRunning); err != nil {
			t.Fatal(err)
		}
		if err := cp.SetJobStatus(ctx(t), ns, job.Name, phase); err != nil {
			t.Fatal(err)
		}
		got, err := jobs.Get(ctx(t), job.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[kubetest.JobPhase]batchv1.JobConditionType{kubetest.JobSucceeded: batchv1.JobComplete, kubetest.JobFailed: batchv1.JobFailed}[phase]
		last := got.Status.Conditions[len(got.Status.Conditions)-1]
		if last.Type != want || last.Status != corev1.ConditionTrue {
			t.Errorf("%s: last condition %s=%s, want %s=True", phase, last.Type, last.Status, want)
		}
	}
}
