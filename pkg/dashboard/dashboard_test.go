package dashboard_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

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

// TestPanelsFollowTheInstanceVariable: installations that share a
// Pushgateway push under their own instance label. The dashboard offers
// them in an "instance" variable (All by default, which also matches pushes
// without an instance), and every query of usersync's metrics filters by
// it, keeps it through every aggregation and match, and names it in the
// legend, so two installations never add up or hide each other. usersapi's
// series carry the same value as usersync_instance (the chart's
// ServiceMonitor relabels it in), and the API panels follow it the same way.
func TestPanelsFollowTheInstanceVariable(t *testing.T) {
	raw, err := dashboard.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Type, Name, Query, AllValue string
				IncludeAll, Multi           bool
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr         string `json:"expr"`
				LegendFormat string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range d.Templating.List {
		if v.Name != "instance" {
			continue
		}
		found = true
		if v.Type != "query" || !strings.Contains(v.Query, `instance)`) || !strings.HasPrefix(v.Query, "label_values(usersync_") ||
			!v.IncludeAll || !v.Multi || v.AllValue != ".*" {
			t.Errorf("variable instance = %+v; want label_values(usersync_…, instance), multi, with All matching any (or no) instance", v)
		}
	}
	if !found {
		t.Fatal("the dashboard has no instance variable")
	}
	checked := map[string]int{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			label := "instance"
			if strings.Contains(tg.Expr, "usersapi_") {
				label = "usersync_instance"
			}
			checked[label]++
			where := fmt.Sprintf("panel %q: %s", p.Title, tg.Expr)
			for _, problem := range instanceProblems(t, tg.Expr, label) {
				t.Errorf("%s: %s", where, problem)
			}
			if !strings.Contains(tg.LegendFormat, "{{"+label+"}}") {
				t.Errorf("%s: legend %q does not name the %s", where, tg.LegendFormat, label)
			}
		}
	}
	if checked["instance"] < 10 || checked["usersync_instance"] < 6 {
		t.Fatalf("only %v queries of usersync's and usersapi's metrics found", checked)
	}
}

// instanceProblems lists where expr loses or ignores the installation's
// label.
func instanceProblems(t *testing.T, expr, label string) []string {
	t.Helper()
	e, err := parser.ParseExpr(strings.ReplaceAll(expr, "$__rate_interval", "5m"))
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			ok := false
			for _, m := range n.LabelMatchers {
				ok = ok || (m.Name == label && m.Type == labels.MatchRegexp && m.Value == "$instance")
			}
			if !ok {
				out = append(out, n.String()+` does not filter by `+label+`=~"$instance"`)
			}
		case *parser.AggregateExpr:
			if n.Without == slices.Contains(n.Grouping, label) {
				out = append(out, n.Op.String()+" drops the "+label+" label")
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && vm.On && !slices.Contains(vm.MatchingLabels, label) {
				out = append(out, "a match on "+fmt.Sprint(vm.MatchingLabels)+" ignores the "+label)
			}
		}
		return nil
	})
	return out
}
