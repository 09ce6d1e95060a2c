// Package kubetest runs a real Kubernetes control plane for tests: etcd
// and kube-apiserver as local processes on free loopback ports, with what a
// production API server enforces — RBAC authorization (Node,RBAC), the
// default admission plugins (PodSecurity and ServiceAccount included) plus
// OwnerReferencesPermissionEnforcement, and service-account token issuing,
// so TokenRequest works and a test can act as a service account with
// exactly the Role it was granted.
//
// No controller runs (no controller-manager, scheduler or kubelet): a Job
// stays as created until the test writes its status through the status
// subresource, namespaces never finish terminating, and a namespace gets
// its "default" ServiceAccount only from CreateNamespace.
//
// The binaries come from KUBE_ASSETS, by default <module root>/bin/kube,
// where hack/kube-assets.sh links them (make test runs it). Without them a
// test skips — unless CI is set, where it fails.
//
// Starting costs seconds, so a test binary shares one control plane:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		cp := kubetest.Get(t) // starts on first use; skips without the binaries
//		ns := cp.CreateNamespace(t, "something")
//		…
//	}
//
// (NewShared makes a shared control plane with other Options.)
//
// Tests sharing one control plane should each work in their own namespace.
// A test that stops or pauses the API server must not run in parallel with
// others on the same control plane (or use Start for its own).
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrNoAssets means the kube-apiserver or etcd binary is missing.
var ErrNoAssets = errors.New("kubetest: kube-apiserver and etcd binaries not found (run hack/kube-assets.sh, or set KUBE_ASSETS)")

// Options configures a control plane. The zero value is what most tests
// want.
type Options struct {
	// AssetsDir holds kube-apiserver and etcd. Empty means $KUBE_ASSETS,
	// else <module root>/bin/kube.
	AssetsDir string
	// APIServerFlags are extra kube-apiserver flags, each "--name=value";
	// one named like a default flag replaces it.
	APIServerFlags []string
	// StartTimeout bounds each process's start; 0 means 2 minutes (a
	// first start on a loaded 2-core machine takes tens of seconds).
	StartTimeout time.Duration
}

// ControlPlane is a running etcd and kube-apiserver. Its methods are safe
// for concurrent use, except that StopAPIServer, StartAPIServer,
// PauseAPIServer and ResumeAPIServer must not race each other.
type ControlPlane struct {
	opts       Options
	dir        string
	assets     string
	pki        *pki
	etcdURL    string
	apiPort    int
	host       string // https://127.0.0.1:port
	kubeconfig string

	mu        sync.Mutex
	etcd      *process
	apiserver *process
}

// Start starts etcd and kube-apiserver and waits until the API server is
// ready (RBAC's bootstrap roles included). The caller must Stop it. It
// returns an error wrapping ErrNoAssets when a binary is missing.
func Start(opts Options) (*ControlPlane, error) {
	assets, err := assetsDir(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{opts: opts, dir: dir, assets: assets}
	if cp.pki, err = newPKI(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A port taken by someone else between freePorts and the bind makes a
	// process exit at once; new ports then usually do.
	for attempt := 1; ; attempt++ {
		err = cp.startAll()
		if err == nil || attempt == 3 {
			break
		}
		cp.stopAll()
	}
	if err != nil {
		cp.stopAll()
		return nil, fmt.Errorf("kubetest: %w (logs in %s)", err, dir)
	}
	cp.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := cp.writeKubeconfig(cp.kubeconfig, cp.adminAuth(), "default"); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}

// assetsDir finds the directory holding both binaries.
func assetsDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBE_ASSETS")
	}
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoAssets, err)
		}
		dir = filepath.Join(root, "bin", "kube")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoAssets, err)
		}
	}
	return dir, nil
}

// moduleRoot is the directory of the go.mod above the working directory
// (a test runs in its package's directory).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

func (cp *ControlPlane) startAll() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	// A failed attempt may have left a data directory bootstrapped for
	// other ports.
	if err := os.RemoveAll(filepath.Join(cp.dir, "etcd")); err != nil {
		return err
	}
	cp.etcdURL = "http://" + loopback(ports[0])
	cp.apiPort = ports[2]
	cp.host = "https://" + loopback(ports[2])
	if err := cp.startEtcd(loopback(ports[1])); err != nil {
		return err
	}
	return cp.StartAPIServer()
}

func (cp *ControlPlane) startEtcd(peer string) error {
	logPath := filepath.Join(cp.dir, "etcd.log")
	p, err := startProcess("etcd", filepath.Join(cp.assets, "etcd"), logPath, []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls=" + cp.etcdURL,
		"--advertise-client-urls=" + cp.etcdURL,
		"--listen-peer-urls=http://" + peer,
		"--initial-advertise-peer-urls=http://" + peer,
		"--initial-cluster=kubetest=http://" + peer,
		// Durability is worth nothing in a throwaway store; fsyncs on a
		// shared disk cost seconds.
		"--unsafe-no-fsync",
		"--log-level=warn",
	})
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.etcd = p
	cp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cp.opts.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	return p.waitReady(ctx, logPath, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.etcdURL+"/health", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})
}

// apiServerFlags are kube-apiserver's flags: the defaults, then
// Options.APIServerFlags replacing any of the same name.
func (cp *ControlPlane) apiServerFlags() []string {
	flags := []string{
		"--etcd-servers=" + cp.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", cp.apiPort),
		"--cert-dir=" + cp.dir,
		"--tls-cert-file=" + cp.pki.servingCertFile,
		"--tls-private-key-file=" + cp.pki.servingKeyFile,
		"--client-ca-file=" + cp.pki.caFile,
		"--authorization-mode=Node,RBAC",
		// The defaults (NamespaceLifecycle, ServiceAccount, PodSecurity, …)
		// stay on; this one is what some distributions (OpenShift) add and
		// what rejects an owner reference with blockOwnerDeletion from a
		// user who may not update the owner's finalizers.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + cp.pki.saPubFile,
		"--service-account-signing-key-file=" + cp.pki.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--profiling=false",
	}
	for _, extra := range cp.opts.APIServerFlags {
		name, _, _ := strings.Cut(extra, "=")
		replaced := false
		for i, f := range flags {
			if n, _, _ := strings.Cut(f, "="); n == name {
				flags[i], replaced = extra, true
			}
		}
		if !replaced {
			flags = append(flags, extra)
		}
	}
	return flags
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same address with the same keys, and waits until it is ready: clients,
// kubeconfigs and service-account tokens made before keep working.
func (cp *ControlPlane) StartAPIServer() error {
	cp.mu.Lock()
	if cp.apiserver != nil && !cp.apiserver.exited() {
		cp.mu.Unlock()
		return errors.New("kube-apiserver is already running")
	}
	cp.mu.Unlock()
	logPath := filepath.Join(cp.dir, "kube-apiserver.log")
	p, err := startProcess("kube-apiserver", filepath.Join(cp.assets, "kube-apiserver"), logPath, cp.apiServerFlags())
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.apiserver = p
	cp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cp.opts.StartTimeout)
	defer cancel()
	client, err := kubernetes.NewForConfig(cp.Config())
	if err != nil {
		return err
	}
	return p.waitReady(ctx, logPath, func(ctx context.Context) error {
		// /readyz includes the post-start hooks: RBAC's bootstrap roles
		// and the "default" namespace exist once it answers ok.
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("/readyz: %w %s", err, body)
		}
		return nil
	})
}

// StopAPIServer stops kube-apiserver (etcd keeps running): requests are
// refused until StartAPIServer.
func (cp *ControlPlane) StopAPIServer() {
	cp.mu.Lock()
	p := cp.apiserver
	cp.mu.Unlock()
	if p != nil {
		p.stop(30 * time.Second)
	}
}

// PauseAPIServer freezes kube-apiserver (SIGSTOP) and returns once every
// thread of it has stopped: connections are accepted by the kernel but
// never answered — an API server that hangs, which only client timeouts
// end. ResumeAPIServer thaws it.
func (cp *ControlPlane) PauseAPIServer() error {
	if err := cp.signalAPIServer(syscall.SIGSTOP); err != nil {
		return err
	}
	cp.mu.Lock()
	p := cp.apiserver
	cp.mu.Unlock()
	return waitStopped(p.cmd.Process.Pid, 10*time.Second)
}

// ResumeAPIServer undoes PauseAPIServer.
func (cp *ControlPlane) ResumeAPIServer() error { return cp.signalAPIServer(syscall.SIGCONT) }

func (cp *ControlPlane) signalAPIServer(sig syscall.Signal) error {
	cp.mu.Lock()
	p := cp.apiserver
	cp.mu.Unlock()
	if p == nil || p.exited() {
		return errNotRunning
	}
	return p.cmd.Process.Signal(sig)
}

// Stop stops both processes and removes the work directory.
func (cp *ControlPlane) Stop() {
	cp.stopAll()
	os.RemoveAll(cp.dir)
}

func (cp *ControlPlane) stopAll() {
	cp.mu.Lock()
	api, etcd := cp.apiserver, cp.etcd
	cp.mu.Unlock()
	if api != nil {
		api.stop(30 * time.Second)
	}
	if etcd != nil {
		etcd.stop(30 * time.Second)
	}
}

// Host is the API server's URL, https://127.0.0.1:<port>.
func (cp *ControlPlane) Host() string { return cp.host }

// CACert is the PEM certificate of the CA that signed the API server's
// serving certificate.
func (cp *ControlPlane) CACert() []byte { return cp.pki.caCert }

// KubeconfigPath is a kubeconfig file for the admin user (group
// system:masters), for kubectl and helm.
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfig }

// Config returns a new admin (system:masters) client configuration.
func (cp *ControlPlane) Config() *rest.Config {
	cfg := cp.TokenConfig("")
	cfg.BearerToken = ""
	cfg.CertData, cfg.KeyData = cp.pki.adminCert, cp.pki.adminKey
	return cfg
}

// Clientset returns an admin clientset.
func (cp *ControlPlane) Clientset() *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(cp.Config())
}

// TokenConfig returns a client configuration that authenticates with a
// bearer token (a service account's, from ServiceAccountToken).
func (cp *ControlPlane) TokenConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            cp.host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.pki.caCert},
		// Tests burst; client-go's default of 5 requests/s would make them
		// wait on their own client.
		QPS:   200,
		Burst: 400,
	}
}

type authInfo struct {
	token            string
	certData, keyPEM []byte
}

func (cp *ControlPlane) adminAuth() authInfo {
	return authInfo{certData: cp.pki.adminCert, keyPEM: cp.pki.adminKey}
}

// WriteKubeconfig writes a kubeconfig file that authenticates with token
// and defaults to namespace, for kubectl, helm, or a process under test
// (KUBECONFIG).
func (cp *ControlPlane) WriteKubeconfig(path, token, namespace string) error {
	return cp.writeKubeconfig(path, authInfo{token: token}, namespace)
}

func (cp *ControlPlane) writeKubeconfig(path string, auth authInfo, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cp.host, CertificateAuthorityData: cp.pki.caCert}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		Token: auth.token, ClientCertificateData: auth.certData, ClientKeyData: auth.keyPEM,
	}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "user", Namespace: namespace}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
