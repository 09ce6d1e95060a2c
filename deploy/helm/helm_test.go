package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// chartDir is the chart, relative to this package.
const chartDir = "usersync"

// kubeVersion is the Kubernetes version charts are rendered for: the
// kube-apiserver the cluster tests run (hack/kube-assets.sh).
const kubeVersion = "1.34.4"

// helmBinary is one Helm major version's executable.
type helmBinary struct {
	name string // "helm3" or "helm4", for subtest names
	path string
	// kubeconfig is the cluster it talks to; empty: none.
	kubeconfig string
}

// helms returns Helm 3 and Helm 4, as hack/kube-assets.sh links them into
// bin/, or from HELM3/HELM4. A missing one skips, and fails under CI.
func helms(t *testing.T) []helmBinary {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var out []helmBinary
	for _, h := range []struct{ name, env, file string }{
		{"helm3", "HELM3", "helm"},
		{"helm4", "HELM4", "helm4"},
	} {
		p := os.Getenv(h.env)
		if p == "" {
			p = filepath.Join(root, "bin", h.file)
		}
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (%v): make test builds it with hack/kube-assets.sh", p, err)
			}
			t.Skipf("%s is missing: run hack/kube-assets.sh", p)
		}
		out = append(out, helmBinary{name: h.name, path: p})
	}
	return out
}

// run runs helm with args and returns its stdout, and stderr folded into
// the error when it fails.
func (h helmBinary) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(h.path, args...)
	// Keep Helm away from the user's repositories, plugins and kubeconfig.
	home := t.TempDir()
	kubeconfig := h.kubeconfig
	if kubeconfig == "" {
		kubeconfig = home + "/kubeconfig"
	}
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data", "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s (%s)", h.name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", h.name, strings.Join(args, " "), err, stderr.String())
	}
	// Helm prints the API server's warnings (a PodSecurity violation, a
	// deprecated API) on stderr and carries on: here they fail the test.
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(strings.ToLower(l), "warning") || strings.Contains(l, "PodSecurity") {
			return stdout.String(), fmt.Errorf("%s %s: the API server warned: %s", h.name, strings.Join(args, " "), l)
		}
	}
	return stdout.String(), nil
}

// monitoringAPIs are the Prometheus Operator's kinds, as --api-versions.
var monitoringAPIs = []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// template renders the chart as release "r" in namespace "ns".
func (h helmBinary) template(t *testing.T, apiVersions []string, args ...string) ([]object, error) {
	t.Helper()
	a := []string{"template", "r", chartDir, "--namespace", "ns", "--kube-version", kubeVersion}
	for _, v := range apiVersions {
		a = append(a, "--api-versions", v)
	}
	out, err := h.run(t, append(a, args...)...)
	if err != nil {
		return nil, err
	}
	return parseManifests(out)
}

// mustTemplate is template that fails the test on an error.
func (h helmBinary) mustTemplate(t *testing.T, apiVersions []string, args ...string) manifests {
	t.Helper()
	objs, err := h.template(t, apiVersions, args...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// object is one rendered Kubernetes object.
type object map[string]any

// manifests are the objects of one render.
type manifests []object

func parseManifests(s string) (manifests, error) {
	var out manifests
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var o object
		err := dec.Decode(&o)
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, fmt.Errorf("parse rendered manifests: %w", err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

func (o object) kind() string { s, _ := o["kind"].(string); return s }
func (o object) name() string { s, _ := get(o, "metadata", "name").(string); return s }

// get walks maps by key and lists by index (an int).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(object)
			if !ok {
				mm, ok2 := v.(map[string]any)
				if !ok2 {
					return nil
				}
				m = mm
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// find returns the object of that kind and name, or nil.
func (ms manifests) find(kind, name string) object {
	for _, o := range ms {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	return nil
}

// kinds lists "Kind/name" of every object, for messages.
func (ms manifests) kinds() []string {
	var out []string
	for _, o := range ms {
		out = append(out, o.kind()+"/"+o.name())
	}
	return out
}

// ciValues are the chart's ci/*-values.yaml files.
func ciValues(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files: %v", err)
	}
	return files
}
