package kube

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/usersync/usersync/pkg/model"
)

// serviceAccountNamespaceFile is where a pod finds its namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ClientConfig is where the Kubernetes API is and who usersapi is there.
type ClientConfig struct {
	// REST is client-go's configuration.
	REST *rest.Config
	// Namespace is the kubeconfig context's namespace outside a cluster,
	// the pod's inside one; "" when neither says.
	Namespace string
}

// LoadClientConfig finds the API: the kubeconfig files in kubeconfig
// (KUBECONFIG: paths separated as in PATH) when set, else the pod's
// in-cluster configuration. It reads files only; nothing is contacted.
func LoadClientConfig(kubeconfig string) (ClientConfig, error) {
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(kubeconfig)}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
		cfg, err := cc.ClientConfig()
		if err != nil {
			return ClientConfig{}, fmt.Errorf("%w: KUBECONFIG: %w", model.ErrInvalid, err)
		}
		ns, _, err := cc.Namespace()
		if err != nil {
			return ClientConfig{}, fmt.Errorf("%w: KUBECONFIG: %w", model.ErrInvalid, err)
		}
		return ClientConfig{REST: cfg, Namespace: ns}, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return ClientConfig{}, fmt.Errorf("%w: not in a cluster and KUBECONFIG is unset: %w", model.ErrInvalid, err)
	}
	ns, err := os.ReadFile(serviceAccountNamespaceFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return ClientConfig{}, fmt.Errorf("%w: read the pod's namespace: %w", model.ErrInvalid, err)
	}
	return ClientConfig{REST: cfg, Namespace: strings.TrimSpace(string(ns))}, nil
}

// NewClient returns a clientset for cfg whose requests are observed in
// usersapi_kubernetes_request_duration_seconds{verb,code} on reg (code "0"
// when no answer came), and whose warnings from the API server (a Job
// template PodSecurity would refuse to run, a deprecated API) go to log.
// cfg is copied, not changed. client-go's own global metrics are not
// registered.
func NewClient(cfg *rest.Config, reg prometheus.Registerer, log *slog.Logger) (kubernetes.Interface, error) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "usersapi_kubernetes_request_duration_seconds",
		Help: "Time of a request to the Kubernetes API, by HTTP verb and status code (0: no answer).",
		// From a cached read (milliseconds) to the launch timeout.
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"verb", "code"})
	if err := reg.Register(hist); err != nil {
		return nil, fmt.Errorf("register Kubernetes client metrics: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return observedTransport{next: rt, hist: hist} })
	// Launches come in bursts (a launch is about four requests); client-go's
	// default of 5 requests/s would queue them behind its own limiter.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	if cfg.WarningHandler == nil && log != nil {
		cfg.WarningHandler = warningLogger{log}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "usersapi"
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: Kubernetes client: %w", model.ErrInvalid, err)
	}
	return client, nil
}

// observedTransport times every request.
type observedTransport struct {
	next http.RoundTripper
	hist *prometheus.HistogramVec
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	code := "0"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.hist.WithLabelValues(req.Method, code).Observe(time.Since(start).Seconds())
	return resp, err
}

// warningLogger logs the API server's warnings instead of letting klog
// print them as unstructured lines.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeader(_ int, _ string, text string) {
	w.log.Warn("Kubernetes API warning", "warning", text)
}
