package helm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKubeTestdataIsTheChart: pkg/kube's integration test creates the
// CronJob and RBAC from its testdata; they must be what the chart renders
// (release "usersync" in namespace "usersync", ci/default-values.yaml), or
// sync on demand would be proven against objects nobody installs.
func TestKubeTestdataIsTheChart(t *testing.T) {
	h := helms(t)[0]
	out, err := h.run(t, "template", "usersync", chartDir, "--namespace", "usersync", "--kube-version", kubeVersion,
		"-f", filepath.Join(chartDir, "ci", "default-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chart, err := parseManifests(out)
	if err != nil {
		t.Fatal(err)
	}
	var testdata manifests
	for _, f := range []string{"cronjob.yaml", "rbac.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "pkg", "kube", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		ms, err := parseManifests(string(raw))
		if err != nil {
			t.Fatal(err)
		}
		testdata = append(testdata, ms...)
	}
	if len(testdata) < 5 {
		t.Fatalf("pkg/kube/testdata holds %v; want the CronJob, ServiceAccount, Role, RoleBinding and Lease", testdata.kinds())
	}
	for _, want := range testdata {
		got := chart.find(want.kind(), want.name())
		if got == nil {
			t.Errorf("the chart renders no %s/%s", want.kind(), want.name())
			continue
		}
		if want.kind() == "CronJob" {
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("pkg/kube/testdata's CronJob differs from the chart's (-testdata +chart):\n%s", d)
			}
			continue
		}
		// RBAC objects: identical but for the chart's extra labels.
		wantLabels, _ := get(want, "metadata", "labels").(object)
		gotLabels, _ := get(got, "metadata", "labels").(object)
		for k, v := range wantLabels {
			if gotLabels[k] != v {
				t.Errorf("%s/%s: label %s = %v in the chart, %v in testdata", want.kind(), want.name(), k, gotLabels[k], v)
			}
		}
		strip := func(o object) object {
			c := object{}
			for k, v := range o {
				c[k] = v
			}
			md := object{}
			for k, v := range o["metadata"].(object) {
				if k != "labels" {
					md[k] = v
				}
			}
			c["metadata"] = md
			return c
		}
		if d := cmp.Diff(strip(want), strip(got)); d != "" {
			t.Errorf("pkg/kube/testdata's %s/%s differs from the chart's (-testdata +chart):\n%s", want.kind(), want.name(), d)
		}
	}
}
