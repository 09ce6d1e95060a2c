package helm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readAlerts(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

// expression is one PromQL expression the chart ships, and where.
type expression struct {
	where, expr string
}

// shippedExpressions are every alert's and every dashboard panel's PromQL.
func shippedExpressions(t *testing.T) []expression {
	t.Helper()
	var out []expression
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			out = append(out, expression{"alert " + r.Alert, r.Expr})
		}
	}
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, expression{"dashboard panel " + p.Title, tg.Expr})
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d expressions found in the alerts and the dashboard", len(out))
	}
	return out
}

// grafanaVariables stand for Grafana's interval variables, so that a
// panel's query parses as the PromQL Grafana sends.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1d")

// selectorsOf parses expr and returns the selectors it reads.
func selectorsOf(expr string) ([]*parser.VectorSelector, error) {
	e, err := parser.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// TestExpressionsParse: every alert's and dashboard panel's PromQL parses,
// and selects by metric name (a typo'd name is caught by the exposure test).
func TestExpressionsParse(t *testing.T) {
	for _, e := range shippedExpressions(t) {
		sels, err := selectorsOf(e.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", e.where, e.expr, err)
			continue
		}
		for _, s := range sels {
			if s.Name == "" {
				t.Errorf("%s: a selector without a metric name in %q", e.where, e.expr)
			}
		}
	}
}

// promtool returns the promtool binary; missing, it skips, or fails under
// CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (make test installs Debian's prometheus package)")
		}
		t.Skip("promtool is not installed: apt-get install prometheus")
	}
	return p
}

// TestAlertRules: promtool accepts the rule file, its unit tests pass, the
// PrometheusRule the chart renders (threshold moved, an alert disabled)
// holds rules promtool accepts too, and every alert has its runbook.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(chartDir, "files", "alerts.yaml")},
		{"test", "rules", filepath.Join("testdata", "alerts_test.yaml")},
	} {
		if out, err := exec.Command(pt, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	h := helms(t)[0]
	rendered := renderedRules(t, h, "-f", filepath.Join(chartDir, "ci", "monitoring-values.yaml"))
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the rendered PrometheusRule: %v\n%s\n%s", err, out, rendered)
	}

	checkRenderedRules(t, pt, h)

	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if !strings.Contains(string(readme), "\n### "+r.Alert+"\n") {
				t.Errorf("alert %s has no runbook section (### %s) in the chart README", r.Alert, r.Alert)
			}
			if want := "README.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("alert %s: runbook_url %q does not end in %s", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	// The schema's list of alerts that can be disabled is the rule file's.
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Metrics struct {
				Properties struct {
					PrometheusRule struct {
						Properties struct {
							Disabled struct {
								Items struct {
									Enum []string `json:"enum"`
								} `json:"items"`
							} `json:"disabled"`
						} `json:"properties"`
					} `json:"prometheusRule"`
				} `json:"properties"`
			} `json:"metrics"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	enum := schema.Properties.Metrics.Properties.PrometheusRule.Properties.Disabled.Items.Enum
	slices.Sort(enum)
	slices.Sort(alerts)
	if !slices.Equal(enum, alerts) {
		t.Errorf("values.schema.json lets disable %v, the rule file has %v", enum, alerts)
	}
}

// checkRenderedRules runs testdata/rendered_alerts_test.yaml on the
// PrometheusRule of release "r" in namespace "ns" with the default values:
// its usersync alerts are that installation's (instance "ns/r") alone.
func checkRenderedRules(t *testing.T, promtool string, h helmBinary) {
	t.Helper()
	rendered := renderedRules(t, h, "-f", filepath.Join(chartDir, "ci", "default-values.yaml"),
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.pushgatewayURL=http://pushgateway:9091")
	tests, err := os.ReadFile(filepath.Join("testdata", "rendered_alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"rendered.yaml": rendered, "rendered_alerts_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(promtool, "test", "rules", filepath.Join(dir, "rendered_alerts_test.yaml")).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules on the rendered PrometheusRule: %v\n%s\n%s", err, out, rendered)
	}
}

// renderedRules renders the chart with args and returns its
// PrometheusRule's groups as a Prometheus rule file.
func renderedRules(t *testing.T, h helmBinary, args ...string) []byte {
	t.Helper()
	rule := h.mustTemplate(t, monitoringAPIs, args...).find("PrometheusRule", "r-usersync")
	if rule == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	rendered, err := yaml.Marshal(map[string]any{"groups": get(rule, "spec", "groups")})
	if err != nil {
		t.Fatal(err)
	}
	return rendered
}
