package dashboard_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/usersync/usersync/pkg/dashboard"
)

var update = flag.Bool("update", false, "rewrite the chart's dashboard.json")

// shipped is the dashboard the chart's ConfigMap carries.
const shipped = "../../deploy/helm/usersync/files/dashboard.json"

// TestShippedDashboardIsCurrent: the chart ships exactly what the code
// builds; go test ./pkg/dashboard -update rewrites it.
func TestShippedDashboardIsCurrent(t *testing.T) {
	want, err := dashboard.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(shipped, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not what dashboard.JSON builds: run go test ./pkg/dashboard -update", shipped)
}
