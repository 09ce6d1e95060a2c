package kubelettest_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube/kubelettest"
	"github.com/usersync/usersync/pkg/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const objects = `
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cr3t, file: from-a-volume}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {level: debug, color: blue}
`

// job runs /check (the machine's sh) with a script, the env and volume
// the tests resolve.
func job(name, script string, env []corev1.EnvVar) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr(int32(1)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "check"}},
				Spec: corev1.PodSpec{
					RestartPolicy:   corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: "check", Image: "example", Command: []string{"/check", "-c"}, Args: []string{script},
						Env: env,
						EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
						VolumeMounts: []corev1.VolumeMount{{Name: "creds", MountPath: "/etc/creds", ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
						SecretName: "creds", Items: []corev1.KeyToPath{{Key: "file", Path: "f"}}}}}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// waitFinished polls until the Job has a Complete or Failed condition.
func waitFinished(t *testing.T, cp *kubetest.ControlPlane, ns, name string) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	eventually.Until(t, 60*time.Second, "job "+name+" to finish", func() bool {
		var err error
		j, err = cp.Clientset().BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(j.Status.Conditions, func(c batchv1.JobCondition) bool {
			return (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue
		})
	})
	return j
}

func hasCondition(j *batchv1.Job, ct batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == ct && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestJobsRunWithTheEnvironmentKubernetesResolves(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "kubelet")
	ctx := context.Background()
	if _, err := cp.CreateObjects(ctx, ns, []byte(objects)); err != nil {
		t.Fatal(err)
	}
	k := kubelettest.Start(t, kubelettest.Config{
		Client: cp.Clientset(), Namespace: ns, Binaries: map[string]string{"/check": "/bin/sh"},
		BaseEnv: []string{"PATH=" + os.Getenv("PATH")}, Logf: t.Logf,
	})
	env := []corev1.EnvVar{
		{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "level"}}},
		{Name: "JOB", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
		{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "GREETING", Value: "job $(JOB) at $$(home)"},
		{Name: "FILE", Value: "/etc/creds/f"},
	}
	script := `test "$TOKEN" = s3cr3t && test "$LEVEL" = debug && test "$CM_color" = blue && test "$JOB" = ok-job &&
test "$NS" = "` + ns + `" && test "$GREETING" = 'job ok-job at $(home)' && test "$(cat "$FILE")" = from-a-volume &&
test -z "$HOME_OF_THE_TEST" && echo resolved`
	t.Setenv("HOME_OF_THE_TEST", "leaks")

	if _, err := cp.Clientset().BatchV1().Jobs(ns).Create(ctx, job("ok-job", script, env), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j := waitFinished(t, cp, ns, "ok-job")
	runs := k.Runs("ok-job")
	if !hasCondition(j, batchv1.JobComplete) || !hasCondition(j, batchv1.JobSuccessCriteriaMet) || j.Status.Succeeded != 1 ||
		j.Status.CompletionTime == nil || j.Status.StartTime == nil || len(runs) != 1 || !strings.Contains(runs[0].Output, "resolved") {
		t.Fatalf("job status %+v, runs %+v", j.Status, runs)
	}

	// A failing container is retried backoffLimit times, then the Job fails.
	if _, err := cp.Clientset().BatchV1().Jobs(ns).Create(ctx, job("failing-job", "exit 3", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j = waitFinished(t, cp, ns, "failing-job")
	if !hasCondition(j, batchv1.JobFailed) || !hasCondition(j, batchv1.JobFailureTarget) || j.Status.Failed != 2 || j.Status.CompletionTime != nil {
		t.Fatalf("failing job status %+v", j.Status)
	}
	if n := len(k.Runs("failing-job")); n != 2 {
		t.Errorf("failing job ran %d times, want 2 (backoffLimit 1)", n)
	}

	// A wrong secret key never starts the container.
	bad := []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "tokn"}}}}
	if _, err := cp.Clientset().BatchV1().Jobs(ns).Create(ctx, job("bad-key", "true", bad), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j = waitFinished(t, cp, ns, "bad-key")
	runs = k.Runs("bad-key")
	if !hasCondition(j, batchv1.JobFailed) || len(runs) == 0 || !strings.Contains(runs[0].Err.Error(), "couldn't find key tokn in Secret") {
		t.Fatalf("bad key: status %+v, runs %+v", j.Status, runs)
	}
}

// TestJobStatusIsSetJobStatus: a Job the kubelet stand-in runs ends with
// the status kubetest.SetJobStatus writes for the same life — pod started,
// then succeeded, or failed until the backoff limit was spent — so tests
// that set statuses by hand and tests that run Jobs see one Job
// controller.
func TestJobStatusIsSetJobStatus(t *testing.T) {
	cp := kubetest.Get(t)
	ns := cp.CreateNamespace(t, "kubelet-status")
	ctx := context.Background()
	jobs := cp.Clientset().BatchV1().Jobs(ns)
	kubelettest.Start(t, kubelettest.Config{
		Client: cp.Clientset(), Namespace: ns, Binaries: map[string]string{"/check": "/bin/sh"},
		BaseEnv: []string{"PATH=" + os.Getenv("PATH")}, Logf: t.Logf,
	})
	// The by-hand twins run in another namespace, where no stand-in runs.
	byHand := cp.CreateNamespace(t, "by-hand")
	if _, err := cp.CreateObjects(ctx, byHand, []byte(objects)); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.CreateObjects(ctx, ns, []byte(objects)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, script string
		life         []kubetest.JobPhase
	}{
		{"succeeds", "true", []kubetest.JobPhase{kubetest.JobRunning, kubetest.JobSucceeded}},
		// backoffLimit 1: a second pod, then the Job fails.
		{"fails", "exit 3", []kubetest.JobPhase{kubetest.JobRunning, kubetest.JobPodFailed, kubetest.JobFailed}},
		// activeDeadlineSeconds 1: the pod is stopped, the Job fails.
		{"times-out", "exec sleep 60", []kubetest.JobPhase{kubetest.JobRunning, kubetest.JobDeadlineExceeded}},
	} {
		j := job(c.name, c.script, nil)
		if c.name == "times-out" {
			j.Spec.ActiveDeadlineSeconds = ptr(int64(1))
		}
		if _, err := jobs.Create(ctx, j.DeepCopy(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ran := waitFinished(t, cp, ns, c.name)
		if _, err := cp.Clientset().BatchV1().Jobs(byHand).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, phase := range c.life {
			if err := cp.SetJobStatus(ctx, byHand, c.name, phase); err != nil {
				t.Fatal(err)
			}
		}
		set, err := cp.Clientset().BatchV1().Jobs(byHand).Get(ctx, c.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ignoreTimes := cmpopts.IgnoreTypes(metav1.Time{}, &metav1.Time{})
		if diff := cmp.Diff(set.Status, ran.Status, ignoreTimes); diff != "" {
			t.Errorf("%s: the stand-in's status differs from SetJobStatus's (-set +ran):\n%s", c.name, diff)
		}
		if (ran.Status.CompletionTime != nil) != (c.name == "succeeds") || ran.Status.StartTime == nil {
			t.Errorf("%s: startTime %v, completionTime %v", c.name, ran.Status.StartTime, ran.Status.CompletionTime)
		}
	}
}
