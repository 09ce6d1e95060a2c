// Package kubelettest plays the kubelet for Jobs and Pods in tests, where
// no kubelet or container runtime runs: it watches a namespace of a real
// API server, runs each new Job's (or Pod's) container as a local process
// of a binary the test built, with the environment resolved from the pod
// spec as Kubernetes resolves it, and writes the outcome back through the
// status subresource as the Job controller (or the kubelet) would.
//
// What it resolves, as the kubelet does:
//   - env: value (with $(VAR) expansion), secretKeyRef, configMapKeyRef,
//     fieldRef (metadata.name, .namespace, .uid, .labels['…'],
//     .annotations['…'], spec.serviceAccountName, spec.nodeName), and envFrom
//     secretRef/configMapRef (with prefix); env wins over envFrom; a
//     missing Secret, ConfigMap or key that is not optional fails the pod
//     as CreateContainerConfigError does;
//   - the pod's labels as the Job controller sets them, so a fieldRef to
//     metadata.labels['batch.kubernetes.io/job-name'] is the Job's name;
//   - secret, configMap and emptyDir volumes, written to a temporary
//     directory per mount; every env value and argument that starts with a
//     mount path is rewritten to that directory (a process here cannot see
//     /etc/…), and Config.Rewrite maps other strings (a Service's DNS name to
//     a loopback address);
//   - command and args, command[0] mapped to a local binary by
//     Config.Binaries; HOSTNAME is the pod's name; nothing else of the test's
//     environment leaks in but Config.BaseEnv.
//
// What it writes: a Job's status through kubetest.WriteJobStatus, which
// holds the transitions Kubernetes 1.34 validates — running when its pod
// starts; succeeded on exit 0; a failed pod counted and another started
// while backoffLimit allows; then failed, or deadline-exceeded once
// activeDeadlineSeconds passes. A Pod gets phase Succeeded or Failed.
package kubelettest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/usersync/usersync/pkg/kube/kubetest"
)

// Config configures a Kubelet.
type Config struct {
	// Client reads Jobs, Pods, Secrets and ConfigMaps and writes statuses.
	Client kubernetes.Interface
	// Namespace is watched for Jobs and Pods.
	Namespace string
	// Binaries maps a container's command[0] (e.g. /usersync) to a local
	// executable.
	Binaries map[string]string
	// BaseEnv is added to every process's environment (e.g. PATH).
	BaseEnv []string
	// Rewrite maps strings in env values and arguments (after mount paths),
	// e.g. a Service's host:port to a loopback address.
	Rewrite map[string]string
	// Logf receives what happens; nil discards it.
	Logf func(format string, args ...any)
}

// Run is the outcome of one container run.
type Run struct {
	// Pod is the name the pod would have had.
	Pod string
	// Args is the command line as run (after rewriting).
	Args []string
	// Env is the process environment as resolved.
	Env []string
	// Output is the process's stdout and stderr.
	Output string
	// Err is why the run failed: a non-zero exit, a deadline, or a
	// configuration error (missing Secret or key, unknown binary).
	Err error
}

// Kubelet runs the Jobs and Pods of one namespace until its test ends.
type Kubelet struct {
	cfg Config

	mu      sync.Mutex
	runs    map[string][]Run // by Job or Pod name
	seen    map[string]bool  // by uid
	rewrite map[string]string
	wg      sync.WaitGroup
}

// Start watches cfg.Namespace and runs each Job and Pod created in it,
// until tb ends (which waits for runs in progress).
func Start(tb testing.TB, cfg Config) *Kubelet {
	tb.Helper()
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	k := &Kubelet{cfg: cfg, runs: map[string][]Run{}, seen: map[string]bool{}, rewrite: map[string]string{}}
	for from, to := range cfg.Rewrite {
		k.rewrite[from] = to
	}
	ctx, cancel := context.WithCancel(context.Background())
	jobs, err := cfg.Client.BatchV1().Jobs(cfg.Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		tb.Fatalf("kubelettest: watch jobs: %v", err)
	}
	pods, err := cfg.Client.CoreV1().Pods(cfg.Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		tb.Fatalf("kubelettest: watch pods: %v", err)
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-jobs.ResultChan():
				if !ok {
					return
				}
				if j, isJob := ev.Object.(*batchv1.Job); isJob && ev.Type == watch.Added && k.first(string(j.UID)) {
					k.wg.Add(1)
					go func() { defer k.wg.Done(); k.runJob(ctx, j) }()
				}
			case ev, ok := <-pods.ResultChan():
				if !ok {
					return
				}
				if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Added && k.first(string(p.UID)) {
					k.wg.Add(1)
					go func() { defer k.wg.Done(); k.runPod(ctx, p) }()
				}
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		jobs.Stop()
		pods.Stop()
		k.wg.Wait()
	})
	return k
}

func (k *Kubelet) first(uid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen[uid] {
		return false
	}
	k.seen[uid] = true
	return true
}

// SetRewrite adds a rewrite (see Config.Rewrite) for the runs that start
// from now on, e.g. a Service's address once the test serves it.
func (k *Kubelet) SetRewrite(from, to string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rewrite[from] = to
}

// Runs returns the runs of the Job or Pod so far.
func (k *Kubelet) Runs(name string) []Run {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Run(nil), k.runs[name]...)
}

func (k *Kubelet) record(name string, r Run) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.runs[name] = append(k.runs[name], r)
}

// runJob runs a Job's pod until it succeeds or its backoff limit or
// deadline is spent, writing the Job's status as the Job controller would
// (kubetest.WriteJobStatus).
func (k *Kubelet) runJob(ctx context.Context, job *batchv1.Job) {
	setStatus := func(phase kubetest.JobPhase) bool {
		err := kubetest.WriteJobStatus(ctx, k.cfg.Client, k.cfg.Namespace, job.Name, phase)
		if err != nil {
			k.cfg.Logf("kubelettest: job %s: %s: %v", job.Name, phase, err)
		}
		return err == nil
	}
	start := time.Now()
	if !setStatus(kubetest.JobRunning) {
		return
	}
	runCtx := ctx
	if d := job.Spec.ActiveDeadlineSeconds; d != nil {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, start.Add(time.Duration(*d)*time.Second))
		defer cancel()
	}
	limit := int32(6)
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	for failed := int32(0); ; {
		meta := podMetaForJob(job)
		r := k.run(runCtx, meta, &job.Spec.Template.Spec)
		k.record(job.Name, r)
		k.cfg.Logf("kubelettest: job %s pod %s: %s (env %s): err=%v\n%s", job.Name, r.Pod, strings.Join(r.Args, " "), envNames(r.Env), r.Err, r.Output)
		if ctx.Err() != nil {
			return // the test is over
		}
		if r.Err == nil {
			setStatus(kubetest.JobSucceeded)
			return
		}
		failed++
		switch {
		case runCtx.Err() != nil:
			setStatus(kubetest.JobDeadlineExceeded)
			return
		case failed > limit:
			setStatus(kubetest.JobFailed)
			return
		case !setStatus(kubetest.JobPodFailed):
			return
		}
	}
}

// runPod runs a bare Pod (a helm test hook) and sets its phase.
func (k *Kubelet) runPod(ctx context.Context, pod *corev1.Pod) {
	if len(pod.OwnerReferences) > 0 {
		return // a controller's pod: not ours to run
	}
	r := k.run(ctx, podMeta{name: pod.Name, namespace: pod.Namespace, uid: string(pod.UID), labels: pod.Labels, annotations: pod.Annotations}, &pod.Spec)
	k.record(pod.Name, r)
	k.cfg.Logf("kubelettest: pod %s: %s: err=%v\n%s", pod.Name, strings.Join(r.Args, " "), r.Err, r.Output)
	if ctx.Err() != nil {
		return
	}
	pods := k.cfg.Client.CoreV1().Pods(pod.Namespace)
	for {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			k.cfg.Logf("kubelettest: pod %s: %v", pod.Name, err)
			return
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodSucceeded
		exit := int32(0)
		if r.Err != nil {
			p.Status.Phase, exit = corev1.PodFailed, 1
		}
		p.Status.StartTime = &now
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, StartedAt: now, FinishedAt: now}},
			})
		}
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			if err != nil {
				k.cfg.Logf("kubelettest: pod %s: status: %v", pod.Name, err)
			}
			return
		}
	}
}

// podMeta is what the downward API can show of a pod.
type podMeta struct {
	name, namespace, uid string
	labels, annotations  map[string]string
}

// podMetaForJob names and labels the pod as the Job controller does.
func podMetaForJob(job *batchv1.Job) podMeta {
	labels := map[string]string{}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	labels["batch.kubernetes.io/job-name"] = job.Name
	labels["job-name"] = job.Name
	labels["batch.kubernetes.io/controller-uid"] = string(job.UID)
	labels["controller-uid"] = string(job.UID)
	var b [3]byte
	_, _ = rand.Read(b[:])
	return podMeta{
		name:        job.Name + "-" + hex.EncodeToString(b[:])[:5],
		namespace:   job.Namespace,
		uid:         hex.EncodeToString(b[:]),
		labels:      labels,
		annotations: job.Spec.Template.Annotations,
	}
}

// run runs the pod's single container (init containers and sidecars are
// not supported) and returns what happened.
func (k *Kubelet) run(ctx context.Context, meta podMeta, spec *corev1.PodSpec) Run {
	r := Run{Pod: meta.name}
	if len(spec.Containers) != 1 || len(spec.InitContainers) > 0 {
		r.Err = fmt.Errorf("kubelettest runs pods of exactly one container, got %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
		return r
	}
	cmd, cleanup, err := k.Command(ctx, meta.name, meta.namespace, meta.uid, meta.labels, meta.annotations, spec, spec.Containers[0].Name)
	if err != nil {
		r.Err = err
		return r
	}
	defer cleanup()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	r.Args, r.Env = cmd.Args, cmd.Env
	r.Err = cmd.Run()
	r.Output = out.String()
	if r.Err != nil && ctx.Err() != nil {
		r.Err = fmt.Errorf("%w (%v)", ctx.Err(), r.Err)
	}
	return r
}

// Command builds the process for one container of a pod spec exactly as
// the kubelet would start it: command, args and environment resolved,
// volumes written to temporary directories. Tests use it directly for a
// Deployment's pod template, to run a server as the chart configures it.
// cleanup removes the volumes' directories.
func (k *Kubelet) Command(ctx context.Context, podName, namespace, uid string, labels, annotations map[string]string,
	spec *corev1.PodSpec, container string) (cmd *exec.Cmd, cleanup func(), err error) {
	var c *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == container {
			c = &spec.Containers[i]
		}
	}
	if c == nil {
		return nil, nil, fmt.Errorf("no container %q", container)
	}
	dir, err := os.MkdirTemp("", "kubelettest-"+podName+"-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	mounts, err := k.writeVolumes(ctx, namespace, dir, spec, c)
	if err != nil {
		return nil, nil, fmt.Errorf("CreateContainerConfigError: %w", err)
	}
	meta := podMeta{name: podName, namespace: namespace, uid: uid, labels: labels, annotations: annotations}
	env, err := k.resolveEnv(ctx, meta, spec, c)
	if err != nil {
		return nil, nil, fmt.Errorf("CreateContainerConfigError: %w", err)
	}
	k.mu.Lock()
	rewrites := make(map[string]string, len(k.rewrite))
	for from, to := range k.rewrite {
		rewrites[from] = to
	}
	k.mu.Unlock()
	rewrite := func(s string) string {
		// Longest mount path first, so nested mounts map right.
		paths := make([]string, 0, len(mounts))
		for p := range mounts {
			paths = append(paths, p)
		}
		sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
		for _, p := range paths {
			if s == p || strings.HasPrefix(s, p+"/") {
				s = mounts[p] + strings.TrimPrefix(s, p)
				break
			}
		}
		for from, to := range rewrites {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	vars := map[string]string{}
	var environ []string
	for _, e := range env {
		v := rewrite(e.value)
		vars[e.name] = v
		environ = append(environ, e.name+"="+v)
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		return nil, nil, errors.New("the container has no command: kubelettest does not know images' entrypoints")
	}
	for i := range argv {
		argv[i] = rewrite(expand(argv[i], vars))
	}
	bin, ok := k.cfg.Binaries[argv[0]]
	if !ok {
		return nil, nil, fmt.Errorf("no local binary for the command %q", argv[0])
	}
	cmd = exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = append(append(append([]string{}, k.cfg.BaseEnv...), "HOSTNAME="+podName), environ...)
	cmd.Dir = dir
	// A deadline ends the process as the kubelet does: SIGTERM, then a kill
	// after the grace period.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, remove, nil
}

// envVar is one resolved variable, in the order Kubernetes defines them.
type envVar struct{ name, value string }

// resolveEnv resolves envFrom, then env (which wins), as the kubelet does.
func (k *Kubelet) resolveEnv(ctx context.Context, meta podMeta, spec *corev1.PodSpec, c *corev1.Container) ([]envVar, error) {
	var out []envVar
	set := func(name, value string) {
		for i := range out {
			if out[i].name == name {
				out[i].value = value
				return
			}
		}
		out = append(out, envVar{name, value})
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var optional *bool
		switch {
		case from.SecretRef != nil:
			optional = from.SecretRef.Optional
			s, err := k.cfg.Client.CoreV1().Secrets(meta.namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && deref(optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %q: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for key, v := range s.Data {
				data[key] = string(v)
			}
		case from.ConfigMapRef != nil:
			optional = from.ConfigMapRef.Optional
			cm, err := k.cfg.Client.CoreV1().ConfigMaps(meta.namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && deref(optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom configMap %q: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		}
		keys := make([]string, 0, len(data))
		for key := range data {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			set(from.Prefix+key, data[key])
		}
	}
	vars := map[string]string{}
	for _, e := range c.Env {
		var value string
		switch {
		case e.ValueFrom == nil:
			value = expand(e.Value, vars)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := k.cfg.Client.CoreV1().Secrets(meta.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && deref(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("env %s: secret %q: %w", e.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if deref(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("env %s: couldn't find key %s in Secret %s/%s", e.Name, ref.Key, meta.namespace, ref.Name)
			}
			value = string(v)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := k.cfg.Client.CoreV1().ConfigMaps(meta.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && deref(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("env %s: configMap %q: %w", e.Name, ref.Name, err)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if deref(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("env %s: couldn't find key %s in ConfigMap %s/%s", e.Name, ref.Key, meta.namespace, ref.Name)
			}
			value = v
		case e.ValueFrom.FieldRef != nil:
			v, err := fieldValue(e.ValueFrom.FieldRef.FieldPath, meta, spec)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			value = v
		default:
			return nil, fmt.Errorf("env %s: kubelettest does not resolve this valueFrom", e.Name)
		}
		vars[e.Name] = value
		set(e.Name, value)
	}
	return out, nil
}

var labelPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// fieldValue is the downward API's value of a fieldRef.
func fieldValue(path string, meta podMeta, spec *corev1.PodSpec) (string, error) {
	switch path {
	case "metadata.name":
		return meta.name, nil
	case "metadata.namespace":
		return meta.namespace, nil
	case "metadata.uid":
		return meta.uid, nil
	case "spec.serviceAccountName":
		if spec.ServiceAccountName == "" {
			return "default", nil
		}
		return spec.ServiceAccountName, nil
	case "spec.nodeName":
		return "kubelettest", nil
	}
	if m := labelPath.FindStringSubmatch(path); m != nil {
		// A missing label or annotation is the empty string, as in Kubernetes.
		if m[1] == "labels" {
			return meta.labels[m[2]], nil
		}
		return meta.annotations[m[2]], nil
	}
	return "", fmt.Errorf("kubelettest does not resolve fieldRef %q", path)
}

// expand replaces $(VAR) with VAR's value when VAR is defined earlier, and
// $$ with $, as Kubernetes does for env values, command and args.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// writeVolumes writes the container's mounted volumes under dir and
// returns mount path → local directory (or file, for a subPath).
func (k *Kubelet) writeVolumes(ctx context.Context, namespace, dir string, spec *corev1.PodSpec, c *corev1.Container) (map[string]string, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	out := map[string]string{}
	for i, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %q: no such volume", m.Name)
		}
		local := filepath.Join(dir, fmt.Sprintf("vol%d-%s", i, m.Name))
		if err := os.MkdirAll(local, 0o700); err != nil {
			return nil, err
		}
		var files map[string][]byte
		var items []corev1.KeyToPath
		var optional *bool
		switch {
		case v.Secret != nil:
			items, optional = v.Secret.Items, v.Secret.Optional
			s, err := k.cfg.Client.CoreV1().Secrets(namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil && !(apierrors.IsNotFound(err) && deref(optional)) {
				return nil, fmt.Errorf("volume %q: secret %q: %w", m.Name, v.Secret.SecretName, err)
			}
			if err == nil {
				files = s.Data
			}
		case v.ConfigMap != nil:
			items, optional = v.ConfigMap.Items, v.ConfigMap.Optional
			cm, err := k.cfg.Client.CoreV1().ConfigMaps(namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil && !(apierrors.IsNotFound(err) && deref(optional)) {
				return nil, fmt.Errorf("volume %q: configMap %q: %w", m.Name, v.ConfigMap.Name, err)
			}
			if err == nil {
				files = map[string][]byte{}
				for key, val := range cm.Data {
					files[key] = []byte(val)
				}
			}
		case v.EmptyDir != nil:
		default:
			return nil, fmt.Errorf("volume %q: kubelettest writes only secret, configMap and emptyDir volumes", m.Name)
		}
		if len(items) > 0 {
			picked := map[string][]byte{}
			for _, it := range items {
				data, ok := files[it.Key]
				if !ok {
					if deref(optional) {
						continue
					}
					return nil, fmt.Errorf("volume %q: key %q is not in the source", m.Name, it.Key)
				}
				picked[it.Path] = data
			}
			files = picked
		}
		for name, data := range files {
			p := filepath.Join(local, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, data, 0o400); err != nil {
				return nil, err
			}
		}
		if m.SubPath != "" {
			local = filepath.Join(local, m.SubPath)
		}
		out[strings.TrimRight(m.MountPath, "/")] = local
	}
	return out, nil
}

// envNames lists the variables' names only: their values may be secrets.
func envNames(env []string) string {
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return strings.Join(names, " ")
}

func deref(b *bool) bool { return b != nil && *b }
