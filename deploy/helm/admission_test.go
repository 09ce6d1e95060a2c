package helm

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/usersync/usersync/pkg/eventually"
	"github.com/usersync/usersync/pkg/kube"
	"github.com/usersync/usersync/pkg/kube/kubetest"
	"github.com/usersync/usersync/pkg/model"
)

// policyRelease is the chart installed by Helm on the real API server, in
// a namespace of its own, with what sync on demand needs; no hook runs and
// no pod starts (nothing here needs a database).
type policyRelease struct {
	cp      *kubetest.ControlPlane
	release string // its name; the objects' are release-usersync...
	ns      string
	admin   kubernetes.Interface
	api     kubernetes.Interface // as the API's ServiceAccount
	policy  string               // the ValidatingAdmissionPolicy comparing Jobs with the CronJob
	// labelPolicy is the parameterless policy requiring usersync.io/trigger.
	labelPolicy string
	token       string
}

func installForPolicy(t *testing.T, h helmBinary, cp *kubetest.ControlPlane, args ...string) *policyRelease {
	t.Helper()
	return installRelease(t, h, cp, "r", cp.CreateNamespace(t, "policy"), args...)
}

// installRelease installs the chart as release in ns, as installForPolicy.
func installRelease(t *testing.T, h helmBinary, cp *kubetest.ControlPlane, release, ns string, args ...string) *policyRelease {
	t.Helper()
	h.kubeconfig = cp.KubeconfigPath()
	base := []string{"install", release, chartDir, "--namespace", ns, "--no-hooks",
		"--set", "snipeit.url=https://snipe.example.com", "--set", "snipeit.token=t",
		"--set", "externalDatabase.url=postgres://u:p@db.example.com/usersync"}
	if _, err := h.run(t, append(base, args...)...); err != nil {
		t.Fatal(err)
	}
	return installedForPolicy(t, cp, release, ns)
}

// releasePolicies is a release of namespace ns, seen by an admin: its
// policies' names.
func releasePolicies(cp *kubetest.ControlPlane, release, ns string) *policyRelease {
	return &policyRelease{cp: cp, release: release, ns: ns, admin: cp.Clientset(),
		policy: release + "-usersync." + ns + ".usersync.io", labelPolicy: release + "-usersync." + ns + ".trigger.usersync.io"}
}

// installedForPolicy is a release installed in ns, seen by an admin and by
// the API's ServiceAccount.
func installedForPolicy(t *testing.T, cp *kubetest.ControlPlane, release, ns string) *policyRelease {
	t.Helper()
	r := releasePolicies(cp, release, ns)
	var err error
	if r.token, err = cp.ServiceAccountToken(context.Background(), r.ns, release+"-usersync-api"); err != nil {
		t.Fatal(err)
	}
	cfg := cp.TokenConfig(r.token)
	cfg.WarningHandler = rest.NoWarnings{} // the attacks' pods would violate PodSecurity: not what is tested
	r.api = kubernetes.NewForConfigOrDie(cfg)
	return r
}

// launcher is pkg/kube's launcher acting as the API's ServiceAccount, as
// usersapi runs it.
func (r *policyRelease) launcher(t *testing.T) *kube.Launcher {
	t.Helper()
	client, err := kube.NewClient(r.cp.TokenConfig(r.token), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := kube.NewLauncher(kube.Config{Client: client, Namespace: r.ns, CronJob: r.release + "-usersync"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// createAsAPI creates job as the API's ServiceAccount, as a dry run: the
// API server runs admission in full and stores nothing.
func (r *policyRelease) createAsAPI(job *batchv1.Job) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.api.BatchV1().Jobs(r.ns).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// createAsAdmin creates job as the cluster's admin, as a dry run.
func (r *policyRelease) createAsAdmin(job *batchv1.Job) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.admin.BatchV1().Jobs(r.ns).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// deniedByPolicy reports whether err is this release's policy comparing
// Jobs with the CronJob denying.
func (r *policyRelease) deniedByPolicy(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+r.policy+"'")
}

// deniedByLabelPolicy reports whether err is this release's policy
// requiring the usersync.io/trigger and instance labels denying.
func (r *policyRelease) deniedByLabelPolicy(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+r.labelPolicy+"'") &&
		strings.Contains(err.Error(), "is labelled usersync.io/trigger (api or webhook) and app.kubernetes.io/instance: "+r.release)
}

// plainJob is a Job of nobody's making, labelled as given.
func plainJob(labels map[string]string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "plain", Labels: labels}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
}

// waitEnforced waits until the API server enforces both policies: it
// compiles and caches a new policy within moments of its creation.
func (r *policyRelease) waitEnforced(t *testing.T) {
	t.Helper()
	eventually.Until(t, 2*time.Minute, "the Job policies to be enforced", func() bool {
		labelled := plainJob(map[string]string{"usersync.io/trigger": "api", "app.kubernetes.io/instance": r.release})
		return r.deniedByPolicy(r.createAsAPI(labelled)) &&
			r.deniedByLabelPolicy(r.createAsAPI(plainJob(nil)))
	})
}

// launchedJob launches a sync through the real launcher and returns the
// Job as the launcher sent it: what the API server stored, without what
// it added on create.
func (r *policyRelease) launchedJob(t *testing.T, l *kube.Launcher, opts kube.LaunchOptions) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	launched, created, err := l.Launch(ctx, opts)
	if err != nil || !created {
		t.Fatalf("Launch(%+v): %v, %v", opts, created, err)
	}
	job, err := r.admin.BatchV1().Jobs(r.ns).Get(ctx, launched.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cp.SetJobStatus(ctx, r.ns, launched.Name, kubetest.JobSucceeded); err != nil {
		t.Fatal(err)
	}
	return asSent(job)
}

// asSent is a copy of job as its creator sent it, under another name:
// without what the API server added on create.
func asSent(stored *batchv1.Job) *batchv1.Job {
	job := stored.DeepCopy()
	job.ObjectMeta = metav1.ObjectMeta{Name: job.Name + "-again", Labels: job.Labels, Annotations: job.Annotations,
		OwnerReferences: job.OwnerReferences}
	for _, k := range []string{"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"} {
		delete(job.Spec.Template.Labels, k)
	}
	job.Spec.Selector = nil
	job.Status = batchv1.JobStatus{}
	return job
}

func syncContainer(t *testing.T, j *batchv1.Job) *corev1.Container {
	t.Helper()
	for i := range j.Spec.Template.Spec.Containers {
		if j.Spec.Template.Spec.Containers[i].Name == "usersync" {
			return &j.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("no usersync container")
	return nil
}

// TestJobPolicyConfinesTheAPIsServiceAccount installs the chart with Helm
// on a real kube-apiserver (which evaluates the ValidatingAdmissionPolicy
// itself) and acts as the API's ServiceAccount: every Job a compromised
// usersapi could try beyond what the launcher makes is denied with the
// policy's message; every launch the launcher makes — each scope, full and
// incremental, from the API and from a webhook — is accepted; Jobs from the
// incremental CronJob are not the API's to create; an admin's kubectl
// create job --from either CronJob, another account's Jobs and a second
// installation are unaffected; and while the CronJob, the policy's
// parameter, is missing, only the API's Jobs are refused.
func TestJobPolicyConfinesTheAPIsServiceAccount(t *testing.T) {
	cp := kubetest.Get(t)
	h := helms(t)[0]
	r := installForPolicy(t, h, cp, "--set", "sync.incremental.enabled=true")
	if _, err := r.admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(context.Background(), r.policy, metav1.GetOptions{}); err != nil {
		t.Fatalf("helm install on a cluster that serves ValidatingAdmissionPolicy made none (api.jobPolicy=auto): %v", err)
	}
	r.waitEnforced(t)
	l := r.launcher(t)

	t.Run("every launch the launcher makes is accepted", func(t *testing.T) {
		for _, scope := range []model.Scope{model.ScopeUsers, model.ScopeAssets, model.ScopeAll} {
			for _, incremental := range []bool{false, true} {
				for _, trigger := range []string{model.TriggerAPI, model.TriggerWebhook} {
					opts := kube.LaunchOptions{Scope: scope, Incremental: incremental, Trigger: trigger, IdempotencyKey: fmt.Sprint(scope, incremental, trigger)}
					r.launchedJob(t, l, opts) // fails the test when denied
				}
			}
		}
	})

	base := r.launchedJob(t, l, kube.LaunchOptions{Scope: model.ScopeUsers, Incremental: true, Trigger: model.TriggerWebhook})
	if err := r.createAsAPI(base); err != nil {
		t.Fatalf("the launcher's own Job, created again as the API: %v", err)
	}

	r.deniesAttacks(t, base)

	t.Run("Jobs of the incremental CronJob are not the API's to create", func(t *testing.T) {
		ctx := context.Background()
		inc, err := r.admin.BatchV1().CronJobs(r.ns).Get(ctx, "r-usersync-incremental", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The API may read it (to queue behind its Jobs), by name.
		if _, err := r.api.BatchV1().CronJobs(r.ns).Get(ctx, inc.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("the API's ServiceAccount cannot get the incremental CronJob: %v", err)
		}
		owner := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: inc.Name, UID: inc.UID, Controller: ptr(true)}
		// As the CronJob controller makes them.
		asScheduled := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: inc.Name + "-29000000", Labels: inc.Spec.JobTemplate.Labels,
			Annotations: inc.Spec.JobTemplate.Annotations, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: *inc.Spec.JobTemplate.Spec.DeepCopy()}
		// As the launcher would make them, from the wrong CronJob.
		launched := base.DeepCopy()
		launched.OwnerReferences = []metav1.OwnerReference{owner}
		// The launcher's Job given the incremental template's environment.
		env := base.DeepCopy()
		c := syncContainer(t, env)
		c.Env = append(c.Env, corev1.EnvVar{Name: "SYNC_INCREMENTAL", Value: "true"})
		for _, c := range []struct {
			name string
			job  *batchv1.Job
			want string
		}{
			// Without the launcher's label, for the policy requiring it.
			{"a Job as the CronJob controller makes them", asScheduled, "is labelled usersync.io/trigger"},
			{"a launcher's Job owned by the incremental CronJob", launched, "controlled by CronJob"},
			{"a launcher's Job with the incremental CronJob's environment", env, "environment"},
		} {
			if err := r.createAsAPI(c.job); !(r.deniedByPolicy(err) || r.deniedByLabelPolicy(err)) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, created as the API: %v\nwant a denial by %s or %s saying %q", c.name, err, r.policy, r.labelPolicy, c.want)
			}
		}
		// With it, for the policy comparing it with the CronJob.
		asScheduled.Labels = maps.Clone(asScheduled.Labels)
		asScheduled.Labels["usersync.io/trigger"] = "api"
		if err := r.createAsAPI(asScheduled); !r.deniedByPolicy(err) || !strings.Contains(err.Error(), "controlled by CronJob") {
			t.Errorf("a Job as the CronJob controller makes them, labelled as the launcher's, created as the API: %v\nwant a denial by %s", err, r.policy)
		}
		delete(asScheduled.Labels, "usersync.io/trigger")
		// An admin may create the same Job.
		if _, err := r.admin.BatchV1().Jobs(r.ns).Create(ctx, asScheduled, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("an admin's Job from the incremental CronJob: %v", err)
		}
	})

	t.Run("an admin's kubectl create job --from is accepted", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		for _, cronJob := range []string{"r-usersync", "r-usersync-incremental"} {
			out, err := exec.Command(kubectl, "--kubeconfig", cp.KubeconfigPath(), "-n", r.ns,
				"create", "job", "--from=cronjob/"+cronJob, "by-hand-"+strings.TrimPrefix(cronJob, "r-")).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl create job --from=cronjob/%s as admin: %v\n%s", cronJob, err, out)
			}
		}
	})

	t.Run("another account's Jobs are not its business", func(t *testing.T) {
		ctx := context.Background()
		other := base.DeepCopy()
		other.Name, other.OwnerReferences = "admins-own", nil
		syncContainer(t, other).Image = "registry.example.com/anything"
		if _, err := r.admin.BatchV1().Jobs(r.ns).Create(ctx, other, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("an admin's unrelated Job: %v", err)
		}
	})

	t.Run("a second installation has its own policy and is confined by it alone", func(t *testing.T) {
		r2 := installForPolicy(t, h, cp)
		r2.waitEnforced(t)
		r2.launchedJob(t, r2.launcher(t), kube.LaunchOptions{Scope: model.ScopeAll})
		// The first installation's Job, created by the second's account in
		// the second's namespace, is the second policy's to deny.
		j := base.DeepCopy()
		j.Namespace = r2.ns
		err := r2.createAsAPI(j)
		if !r2.deniedByPolicy(err) {
			t.Errorf("another installation's Job as r2's account: %v, want r2's policy to deny it", err)
		}
	})

	t.Run("without its CronJob the API's Jobs alone are refused", func(t *testing.T) {
		ctx := context.Background()
		// Another installation in the same namespace.
		s := installRelease(t, h, cp, "s", r.ns)
		s.waitEnforced(t)
		sl := s.launcher(t)
		// Its account cannot pass a Job off as r's, which r's policy, whose
		// match condition is r's account, would not check.
		if err := s.createAsAPI(base); !s.deniedByLabelPolicy(err) {
			t.Errorf("r's Job created by s's account: %v, want %s to deny it", err, s.labelPolicy)
		}
		if err := r.admin.BatchV1().CronJobs(r.ns).Delete(ctx, "r-usersync", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Once the API server misses the parameter, the launcher's Job is
		// refused for want of it: a configuration error, which the API
		// server answers with 422 Invalid (403 beside another denial).
		eventually.Until(t, 2*time.Minute, "the policy to miss its CronJob", func() bool {
			err := r.createAsAPI(base)
			return (apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+r.policy+"'") &&
				strings.Contains(err.Error(), "no params found")
		})
		unlabelled := base.DeepCopy()
		delete(unlabelled.Labels, "usersync.io/trigger")
		if err := r.createAsAPI(unlabelled); !r.deniedByLabelPolicy(err) {
			t.Errorf("the API's Job without usersync.io/trigger while the CronJob is missing: %v, want %s to deny it", err, r.labelPolicy)
		}
		// Nobody else's Jobs meet the missing parameter: an admin's,
		// labelled as the template labels its Jobs or not at all, and
		// kubectl create job --from the CronJob that is left.
		unlabelled.OwnerReferences = nil
		for name, j := range map[string]*batchv1.Job{"an admin's plain Job": plainJob(nil), "an admin's Job with the template's labels": unlabelled} {
			if err := r.createAsAdmin(j); err != nil {
				t.Errorf("%s while the CronJob is missing: %v", name, err)
			}
		}
		// Nor the other installation's launches, which its own policies
		// confine as before.
		s.launchedJob(t, sl, kube.LaunchOptions{Scope: model.ScopeUsers, Trigger: model.TriggerAPI})
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		if out, err := exec.Command(kubectl, "--kubeconfig", cp.KubeconfigPath(), "-n", r.ns,
			"create", "job", "--from=cronjob/r-usersync-incremental", "while-missing").CombinedOutput(); err != nil {
			t.Errorf("kubectl create job --from=cronjob/r-usersync-incremental while r-usersync is missing: %v\n%s", err, out)
		}
		elsewhere := cp.CreateNamespace(t, "elsewhere")
		labelled := base.DeepCopy()
		labelled.OwnerReferences = nil
		if _, err := r.admin.BatchV1().Jobs(elsewhere).Create(ctx, labelled, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("a labelled Job in another namespace while the policy's CronJob is missing: %v", err)
		}
	})
}

// deniesAttacks: each Job a compromised usersapi could try beyond what the
// launcher makes — base, the launcher's own Job, edited — is denied, as the
// API's ServiceAccount, by one of the release's policies saying why.
func (r *policyRelease) deniesAttacks(t *testing.T, base *batchv1.Job) {
	t.Helper()
	secretVolume := func(name string) corev1.Volume {
		return corev1.Volume{Name: "stolen", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	}
	attacks := []struct {
		name string
		edit func(*batchv1.Job, *corev1.Container)
		want string // in the policy's message
	}{
		{"(a) mounts the Snipe-IT Secret in another container", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, corev1.Container{Name: "x", Image: c.Image,
				Command: []string{"/bin/cat", "/s/token"}, VolumeMounts: []corev1.VolumeMount{{Name: "snipeit-token", MountPath: "/s"}}})
		}, "differs in: containers"},
		{"(a) mounts the database Secret into the sync container", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Template.Spec.Volumes = append(j.Spec.Template.Spec.Volumes, secretVolume("r-usersync-database"))
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "stolen", MountPath: "/stolen"})
		}, "differs in: volumes"},
		{"(a) reads a Secret through the environment", func(j *batchv1.Job, c *corev1.Container) {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "r-usersync-api-tokens"}}})
		}, "runs the usersync container"},
		{"(b) runs another image", func(j *batchv1.Job, c *corev1.Container) { c.Image = "attacker/tools:latest" }, "runs the usersync container"},
		{"(b) adds an init container", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "attacker/tools"}}
		}, "differs in: initContainers"},
		{"(c) runs as another ServiceAccount", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Template.Spec.ServiceAccountName = "r-usersync-api"
			j.Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
		}, "serviceAccountName"},
		{"(d) changes the command", func(j *batchv1.Job, c *corev1.Container) { c.Command = []string{"/usersync", "migrate"} }, "runs the usersync container"},
		{"(d) adds an argument", func(j *batchv1.Job, c *corev1.Container) { c.Args = append(c.Args, "--allow-mass-delete") }, "runs the usersync container"},
		{"(d) scope arguments that disagree with the scope label", func(j *batchv1.Job, c *corev1.Container) {
			c.Args = []string{"--scope", "all", "--incremental"}
		}, "runs the usersync container"},
		{"(e) has no owner reference", func(j *batchv1.Job, c *corev1.Container) { j.OwnerReferences = nil }, "controlled by CronJob"},
		{"(e) names the CronJob with another uid", func(j *batchv1.Job, c *corev1.Container) { j.OwnerReferences[0].UID = "0000" }, "controlled by CronJob"},
		{"(f) adds an environment variable", func(j *batchv1.Job, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "SNIPEIT_URL_OVERRIDE", Value: "https://evil"})
		}, "environment"},
		{"(f) changes an environment variable", func(j *batchv1.Job, c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == "SNIPEIT_URL" {
					c.Env[i].Value = "https://evil.example.com"
				}
			}
		}, "environment"},
		{"(f) sets SYNC_TRIGGER to another value", func(j *batchv1.Job, c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == "SYNC_TRIGGER" {
					c.Env[i].Value = "schedule"
				}
			}
		}, "environment"},
		{"(f) takes SYNC_TRIGGER from a Secret", func(j *batchv1.Job, c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == "SYNC_TRIGGER" {
					c.Env[i] = corev1.EnvVar{Name: "SYNC_TRIGGER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "r-usersync-database"}, Key: "url"}}}
				}
			}
		}, "environment"},
		{"(g) a manual selector", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "sync"}}
		}, "without manualSelector"},
		{"(g) a manual selector adopting another Job's pods", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "batch.kubernetes.io/job-name", Operator: metav1.LabelSelectorOpExists}}}
			j.Spec.Template.Labels["batch.kubernetes.io/job-name"] = "r-usersync-29000000"
		}, "without manualSelector"},
		{"more pods in parallel", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Parallelism, j.Spec.Completions = ptr(int32(5)), ptr(int32(5))
		}, "parallelism"},
		{"more retries", func(j *batchv1.Job, c *corev1.Container) { j.Spec.BackoffLimit = ptr(int32(100)) }, "backoff"},
		{"no deadline", func(j *batchv1.Job, c *corev1.Container) { j.Spec.ActiveDeadlineSeconds = nil }, "deadlines"},
		{"another TTL than the template's", func(j *batchv1.Job, c *corev1.Container) { j.Spec.TTLSecondsAfterFinished = ptr(int32(1)) }, "ttlSecondsAfterFinished"},
		{"managed by another controller", func(j *batchv1.Job, c *corev1.Container) { j.Spec.ManagedBy = ptr("example.com/runner") }, "spec of CronJob"},
		{"the host's network", func(j *batchv1.Job, c *corev1.Container) { j.Spec.Template.Spec.HostNetwork = true }, "differs in: hostNetwork"},
		{"a privileged security context", func(j *batchv1.Job, c *corev1.Container) {
			c.SecurityContext.AllowPrivilegeEscalation = ptr(true)
		}, "runs the usersync container"},
		{"a pod label another NetworkPolicy admits", func(j *batchv1.Job, c *corev1.Container) {
			j.Spec.Template.Labels["app.kubernetes.io/component"] = "api"
		}, "pod labels"},
		{"a scope label outside the three scopes", func(j *batchv1.Job, c *corev1.Container) { j.Labels["usersync.io/scope"] = "everything" }, "labels and annotations"},
		{"a trigger label outside api and webhook", func(j *batchv1.Job, c *corev1.Container) { j.Labels["usersync.io/trigger"] = "schedule" }, "labels and annotations"},
		{"an annotation of its own", func(j *batchv1.Job, c *corev1.Container) { j.Annotations["example.com/x"] = "y" }, "labels and annotations"},
		// Out of the reach of the policy above, whose binding selects the label.
		{"no usersync.io/trigger label", func(j *batchv1.Job, c *corev1.Container) { delete(j.Labels, "usersync.io/trigger") }, "is labelled usersync.io/trigger"},
		{"another installation's instance label", func(j *batchv1.Job, c *corev1.Container) {
			j.Labels["app.kubernetes.io/instance"] = "another"
		}, "is labelled usersync.io/trigger"},
		{"no label at all, an image of its own", func(j *batchv1.Job, c *corev1.Container) {
			j.Labels, j.OwnerReferences, c.Image = nil, nil, "attacker/tools:latest"
		}, "is labelled usersync.io/trigger"},
	}
	for _, a := range attacks {
		t.Run("denied: "+a.name, func(t *testing.T) {
			j := base.DeepCopy()
			a.edit(j, syncContainer(t, j))
			err := r.createAsAPI(j)
			if !(r.deniedByPolicy(err) || r.deniedByLabelPolicy(err)) || !strings.Contains(err.Error(), a.want) {
				t.Errorf("created as the API: %v\nwant a denial by %s or %s saying %q", err, r.policy, r.labelPolicy, a.want)
			}
		})
	}
}

// TestJobPolicyComparesEveryField: the policy names every field of a Job's
// spec, a pod spec and a container, so a field Kubernetes adds (bumping
// k8s.io/api) fails this test instead of passing through the policy
// unchecked.
func TestJobPolicyComparesEveryField(t *testing.T) {
	h := helms(t)[0]
	out, err := h.run(t, "template", "r", chartDir, "--namespace", "ns", "--kube-version", kubeVersion,
		"-f", chartDir+"/ci/default-values.yaml", "--set", "api.jobPolicy=always", "--show-only", "templates/api-job-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[batchv1.JobSpec](), reflect.TypeFor[corev1.PodSpec](), reflect.TypeFor[corev1.Container]()} {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "template" {
				continue // compared by its parts
			}
			if !strings.Contains(out, "."+name+" ") && !strings.Contains(out, "."+name+")") && !strings.Contains(out, "'"+name+"'") &&
				!strings.Contains(out, "."+name+".") && !strings.Contains(out, "?"+name+".") {
				t.Errorf("the Job policy does not compare %s.%s", typ.Name(), name)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
